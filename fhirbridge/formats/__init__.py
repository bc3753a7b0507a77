"""FHIR wire formats: JSON (exact, decimal-preserving) and XML (hardened)."""

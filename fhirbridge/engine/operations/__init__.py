"""FHIR operations ($everything, $summary, $document, ...), each callable without HTTP."""

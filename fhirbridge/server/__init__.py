"""The FastAPI layer: translates HTTP to engine calls and results back to HTTP, nothing more."""

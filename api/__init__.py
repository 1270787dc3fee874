"""The HTTP API (FastAPI): decodes, validates and renders; the work is done by models/ and starters/."""

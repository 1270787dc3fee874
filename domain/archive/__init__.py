"""The archival package of conservation: its identity, its index (in the spirit of UNI SInCRO, UNI 11386)
and the offline checker shipped with an export. Pure code, no I/O beyond reading the vendored schema."""

"""KSeF 2.0 (Poland's national e-invoicing system), the pure parts: the KSeF number, the QR code links, the
interactive session's encryption. No I/O; the client and the channel build on these (issue #14).
The contract is the vendored `spec/open-api.json` (API 2.6, see `spec/PROVENANCE.md`)."""

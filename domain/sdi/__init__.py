"""The SDI protocol as pure code: SDICoop SOAP envelopes (`soap`), notification files (`messages`), and the
size limits and vendored schemas both rely on (`documents`). No I/O beyond reading the schemas in `schemas/`."""

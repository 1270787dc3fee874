"""The SDI protocol as pure code: SDICoop SOAP envelopes (`soap`), notification files (`messages`), and the
safe XML parsing both rely on (`xmlsafe`). No I/O beyond reading the vendored schemas in `schemas/`."""

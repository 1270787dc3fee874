"""The local KSeF (`einvoice ksef-sim`): KSeF 2.0's API for development, tests and the demo (see README.md)."""

"""A local SDI (Sistema di Interscambio, Italy's exchange system) that speaks SDICoop, for development, tests
and the demo. It is a separate process: it shares the SDI schemas/builders (`domain.sdi`) and the FatturaPA
schema check with the client, nothing else."""

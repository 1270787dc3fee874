"""The embedded stack for local work, tests and the demo: Temporal dev server, S3 emulator, SMTP sink,
API and worker as child processes of `einvoice dev up`."""

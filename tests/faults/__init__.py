"""The fault harness: a worker that dies on cue, a Temporal dev server that restarts on its SQLite file,
and TCP proxies that cut PostgreSQL, S3 or SMTP away from the application for a while."""

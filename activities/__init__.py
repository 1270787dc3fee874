"""Every side effect lives here: DB, S3, SMTP, exchange channels, signing. Each activity is idempotent."""

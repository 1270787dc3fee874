"""Every side effect lives here: DB, S3, SMTP, exchange channels, signing. Each activity is idempotent."""

# Activities (regular and local) a worker runs at once: the threads of its activity pool (workers/main.py).
# Clients shared by the activities of one worker size their connection pools by it.
ACTIVITY_SLOTS = 32

"""One module per outside system, each over its own library and without Temporal: `s3.py` (the archive
bucket, boto3), `smtp.py` (e-mail, smtplib), `sdi.py` (the SDI's SDICoop channel, httpx). Activities wrap
them for the workflows (retries, heartbeats, idempotency records); the starters and the API use them directly
where a caller's own process does the work (a local verification, an export, a confirmation e-mail), never
through activity code."""

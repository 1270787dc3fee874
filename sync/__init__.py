"""The sync client (#15): keeps a local SQLite or PostgreSQL copy of one customer's data in step with the
portal's change feed. It imports nothing of the server: it speaks HTTP (`GET /customers/{vat}/feed`,
`.../snapshot`, `.../files/{id}`) and writes only its own schema (sync/schema.py)."""

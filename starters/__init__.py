"""Functions and the `einvoice` CLI that start, signal and query workflows (and manage customers)."""

"""Infrastructure shared by every entry point: settings, database engine, Temporal client."""

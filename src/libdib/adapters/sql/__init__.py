"""PostgreSQL and SQLite adapters over SQLAlchemy 2 (async)."""

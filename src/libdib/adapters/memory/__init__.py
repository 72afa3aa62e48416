"""In-memory adapters: the same behaviour as the SQL ones, kept in dicts (for tests and trials)."""

"""Alembic migrations of libdib's schema."""

"""libdib's benchmark suite and soak command: ``uv run python -m bench`` and ``uv run python -m bench.soak``.

Everything it starts (a scratch PostgreSQL database, libdib, the ceiling app) listens on 127.0.0.1 only,
and every load it drives is bounded in time.
"""

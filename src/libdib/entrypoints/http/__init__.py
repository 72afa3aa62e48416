"""The HTTP entry point: a Litestar app whose controllers call the domain services."""

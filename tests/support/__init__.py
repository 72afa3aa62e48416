"""Helpers shared by tests and benchmarks: generated P-8 workbooks, a scratch PostgreSQL cluster."""

"""The throwaway PostgreSQL cluster tests own; it lives in ``bench.pgcluster``, which the benchmark uses too."""

from __future__ import annotations

from bench.pgcluster import PgCluster, find_binaries, unavailable_reason

__all__ = ["PgCluster", "find_binaries", "unavailable_reason"]

"""A dict that holds at most a fixed number of entries, forgetting the oldest first."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class CappedDict(dict[K, V]):
    """A plain ``dict`` (lookups stay as fast), whose ``put`` forgets the oldest entry once ``capacity`` is reached.

    Used by the per-worker memos of verified and honoured tokens, which must not grow without bound.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def put(self, key: K, value: V) -> None:
        """Add or replace ``key``; a new key past the capacity first evicts the oldest one."""
        if key not in self and len(self) >= self.capacity:
            del self[next(iter(self))]
        self[key] = value

"""The memory store's state: named tables of immutable rows, and id sequences (epochs among them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from libdib.adapters.lease import EPOCHS

EPOCH_PREFIX = "epoch:"
"""Epochs are sequences: committed and rolled back with the unit, as the SQL table's rows are."""


@dataclass
class MemoryState:
    """Named tables of immutable rows, and id sequences."""

    tables: dict[str, dict[Any, Any]] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)

    def table(self, name: str) -> dict[Any, Any]:
        """The rows of table ``name``, created empty on first use."""
        return self.tables.setdefault(name, {})

    def next_id(self, name: str) -> int:
        """The next id of sequence ``name``, starting at 1."""
        self.sequences[name] = self.sequences.get(name, 0) + 1
        return self.sequences[name]

    def copy(self) -> MemoryState:
        """A copy whose tables can change without touching this one."""
        return MemoryState({name: dict(rows) for name, rows in self.tables.items()}, dict(self.sequences))

    def epochs(self) -> dict[str, int]:
        """The value of every epoch."""
        return {name: self.sequences.get(EPOCH_PREFIX + name, 0) for name in EPOCHS}

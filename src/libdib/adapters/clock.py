"""The system clock."""

from __future__ import annotations

from datetime import UTC, datetime

from libdib.domain.ports import Clock


class SystemClock(Clock):
    """The machine's time, in UTC."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

"""What can go wrong in the domain, by kind. Entry points map each kind to a response once."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose; ``str(error)`` is meant for the user."""


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Conflict(DomainError):
    """The change would break a uniqueness rule."""


class InvalidInput(DomainError):
    """The input breaks a rule of the domain."""


class Unauthenticated(DomainError):
    """The caller has not proved who they are."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class Throttled(DomainError):
    """Too many attempts; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A resource the domain depends on is busy or down; try again later."""


class StoreUnavailable(Unavailable):
    """The database does not answer (down, restarting or out of connections)."""

    def __init__(self) -> None:
        super().__init__("the database is not reachable; try again shortly")


class TooLarge(InvalidInput):
    """The input is larger than allowed."""


class WorkbookInvalid(InvalidInput):
    """A workbook is not a readable P-8 table; names the workbook and, where known, the row."""

    def __init__(self, workbook: str, reason: str, row: int | None = None) -> None:
        where = f"{workbook}, row {row}" if row is not None else workbook
        super().__init__(f"{where}: {reason}")
        self.workbook = workbook
        self.row = row
        self.reason = reason


class SourceUnavailable(InvalidInput):
    """A workbook source (path or URL) cannot be read."""

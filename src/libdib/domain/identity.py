"""Who may sign in and what their tokens say: the entities and value types of accounts and tokens.

Kept apart from the services that use them, so that the ports, the services and the adapters all import
this module and none of them imports another's service.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{3,50}$")


@dataclass(frozen=True, slots=True)
class User:
    """A person or script that may sign in."""

    id: int
    username: str
    password_hash: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user about to be stored; the repository gives it an id."""

    username: str
    password_hash: str
    is_admin: bool
    created_at: datetime


class TokenKind(enum.StrEnum):
    """What a token may be used for; each is refused where the other is expected."""

    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class Claims:
    """What a token says: whose it is, what for, which session, and when it is valid."""

    sub: str
    typ: TokenKind
    jti: str
    sid: str
    iat: int
    exp: int

    @property
    def user_id(self) -> int:
        """The user id the subject names."""
        return int(self.sub)


@dataclass(frozen=True, slots=True)
class AuthSession:
    """One login: every token issued from it, through any number of refreshes, shares its id."""

    sid: str
    user_id: int
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or refresh hands out."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int

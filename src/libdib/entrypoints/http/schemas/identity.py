"""Bodies of the users and auth routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from libdib.domain.identity import TokenPair, User
from libdib.domain.users import MAX_PASSWORD_LENGTH

# The rules themselves live in the domain (check_username, check_password), whose 422 messages say what to do;
# the schema only documents them and bounds the size of what is accepted at all.
Username = Annotated[
    str,
    msgspec.Meta(
        max_length=256,
        description="3 to 50 letters, digits, '.', '_' or '-'; unique regardless of case",
        examples=["ada.lovelace"],
    ),
]
Password = Annotated[
    str,
    msgspec.Meta(
        max_length=4 * MAX_PASSWORD_LENGTH,
        description="12 to 128 characters, not containing the username, and not easy to guess (zxcvbn score 3+)",
        examples=["quartz-lantern-migrates-slowly"],
    ),
]
LoginName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["ada.lovelace"])]
LoginPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class SignUpRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A new account."""

    username: Username
    password: Password


class ChangePasswordRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The password in use, and the one to use from now on."""

    current_password: LoginPassword
    new_password: Password


class LoginRequest(msgspec.Struct, frozen=True):
    """Credentials, as JSON or as an OAuth2 password-grant form (whose other fields are ignored)."""

    username: LoginName
    password: LoginPassword
    grant_type: Literal["password"] | None = None


class UserResponse(msgspec.Struct, frozen=True):
    """An account, without any password material."""

    id: int
    username: str
    is_admin: bool
    created_at: datetime

    @classmethod
    def from_domain(cls, user: User) -> UserResponse:
        """The public view of ``user``."""
        return cls(id=user.id, username=user.username, is_admin=user.is_admin, created_at=user.created_at)


class TokenResponse(msgspec.Struct, frozen=True, kw_only=True):
    """An access and a refresh token, with their lifetimes in seconds (RFC 6749 §5.1)."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    refresh_expires_in: int

    @classmethod
    def from_domain(cls, pair: TokenPair) -> TokenResponse:
        """The response for ``pair``."""
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            refresh_expires_in=pair.refresh_expires_in,
        )

"""JWTs with pyjwt, following RFC 8725: one pinned algorithm, issuer, audience and explicit token types."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any, TypeGuard

import jwt
from cachetools import LRUCache

from libdib.domain.identity import Claims, TokenKind
from libdib.domain.ports import TokenCodec
from libdib.domain.tokens import InvalidToken

ALGORITHM = "HS256"
"""The only algorithm issued or accepted (RFC 8725 §3.1): never read from the token's header."""
MIN_KEY_BYTES = 32
"""RFC 7518 §3.2: an HS256 key must be at least 256 bits."""
ISSUER = "libdib"
AUDIENCE = "libdib-api"
LEEWAY_SECONDS = 10
"""Clock skew tolerated between the workers that issue and check tokens."""
HEADER_TYPES = {TokenKind.ACCESS: "at+jwt", TokenKind.REFRESH: "rt+jwt"}
"""Explicit typing in the header (RFC 8725 §3.11; ``at+jwt`` is RFC 9068's access-token type)."""
REQUIRED_CLAIMS = ["iss", "aud", "sub", "typ", "jti", "sid", "iat", "exp"]
MAX_ID_LENGTH = 36
"""Token and session ids are stored in 36-character columns."""
MAX_USER_ID_DIGITS = 18
"""User ids are 64-bit integers."""
NAMES = {TokenKind.ACCESS: "an access token", TokenKind.REFRESH: "a refresh token"}
REASONS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token issued in the future"),
    (jwt.InvalidAlgorithmError, f"token algorithm not allowed (only {ALGORITHM})"),
    (jwt.InvalidSignatureError, "token signature does not verify"),
    (jwt.MissingRequiredClaimError, "token lacks a required claim"),
    (jwt.InvalidAudienceError, "token is not meant for this API"),
    (jwt.InvalidIssuerError, "token was not issued by libdib"),
    (jwt.DecodeError, "token is malformed"),
)
"""A short, safe reason for each way a token can fail; the first matching class wins."""
VERIFIED_CAPACITY = 10_000
"""Access tokens remembered as verified; past it the least recently used is forgotten first."""


class PyJwtTokenCodec(TokenCodec):
    """Signs and checks tokens with an HS256 key of at least 32 bytes."""

    def __init__(self, secret: str, now: Callable[[], float] = time.time) -> None:
        """``now`` (seconds since the epoch) is the clock remembered tokens are checked against."""
        if len(secret.encode()) < MIN_KEY_BYTES:
            raise ValueError(f"the JWT signing key must be at least {MIN_KEY_BYTES} bytes")
        self._key = secret
        # A key object carries its prepared form and its one algorithm: decoding skips pyjwt's key sniffing on
        # every request and still refuses any other ``alg`` in the header.
        encoded = base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode()
        self._verifying_key = jwt.PyJWK({"kty": "oct", "k": encoded}, algorithm=ALGORITHM)
        self._now = now
        self._verified: LRUCache[str, Claims] = LRUCache(VERIFIED_CAPACITY)
        """Access tokens that passed every check, by their exact text: the same text always verifies the same
        way, so only expiry is left to check again, and a client's later requests skip the signature check."""

    def encode(self, claims: Claims) -> str:
        """A signed token carrying ``claims``, typed in its header."""
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": claims.sub,
            "typ": claims.typ.value,
            "jti": claims.jti,
            "sid": claims.sid,
            "iat": claims.iat,
            "exp": claims.exp,
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"typ": HEADER_TYPES[claims.typ]})

    def decode(self, token: str, expected: TokenKind) -> Claims:
        """The claims of a valid token of kind ``expected``; raises ``InvalidToken`` with a short reason."""
        if expected is not TokenKind.ACCESS:
            return self._verify(token, expected)
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token, expected)
            self._verified[token] = claims
        elif claims.exp <= self._now() - LEEWAY_SECONDS:  # pyjwt's own rule
            del self._verified[token]
            raise InvalidToken("token expired")
        return claims

    def _verify(self, token: str, expected: TokenKind) -> Claims:
        """Every check, with pyjwt."""
        try:
            decoded = jwt.decode_complete(
                token,
                self._verifying_key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "enforce_minimum_key_length": True},
            )
        except jwt.InvalidTokenError as error:
            reason = next((text for kind, text in REASONS if isinstance(error, kind)), "token is invalid")
            raise InvalidToken(reason) from None
        header, payload = decoded["header"], decoded["payload"]
        if header.get("typ") != HEADER_TYPES[expected] or payload.get("typ") != expected.value:
            raise InvalidToken(f"wrong token type: expected {NAMES[expected]}")
        return _claims(payload, expected)


def _claims(payload: dict[str, Any], kind: TokenKind) -> Claims:
    """Claims with the types the rest of libdib relies on (a numeric subject, short string ids)."""
    sub, jti, sid, iat, exp = (payload.get(name) for name in ("sub", "jti", "sid", "iat", "exp"))
    if not (_is_user_id(sub) and _is_id(jti) and _is_id(sid) and _is_time(iat) and _is_time(exp)):
        raise InvalidToken("token claims are malformed")
    return Claims(sub=sub, typ=kind, jti=jti, sid=sid, iat=int(iat), exp=int(exp))


def _is_user_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= MAX_USER_ID_DIGITS


def _is_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _is_time(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)

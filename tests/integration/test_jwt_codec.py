"""The pyjwt codec refuses every token a client could forge or misuse (RFC 8725)."""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from libdib.adapters.jwt_codec import PyJwtTokenCodec
from libdib.domain.identity import Claims, TokenKind
from libdib.domain.tokens import InvalidToken

KEY = "k" * 40
OTHER_KEY = "o" * 40
NOW = int(time.time())


def claims(kind: TokenKind = TokenKind.ACCESS, /, **overrides: Any) -> dict[str, Any]:
    payload = {
        "iss": "libdib",
        "aud": "libdib-api",
        "sub": "7",
        "typ": kind.value,
        "jti": "a" * 32,
        "sid": "b" * 32,
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
    }
    payload.update(overrides)
    return {name: value for name, value in payload.items() if value is not None}


def forge(payload: dict[str, Any], key: str = KEY, algorithm: str = "HS256", typ: str = "at+jwt") -> str:
    with warnings.catch_warnings():
        # An attacker signing HS512 with libdib's own 40-byte key gets pyjwt's key-length warning; ignore it.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, key, algorithm=algorithm, headers={"typ": typ})


def unsigned(payload: dict[str, Any], header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}."


@pytest.fixture
def codec() -> PyJwtTokenCodec:
    return PyJwtTokenCodec(KEY)


def test_a_token_decodes_to_the_claims_it_was_made_from(codec: PyJwtTokenCodec) -> None:
    now = int(time.time())
    original = Claims("7", TokenKind.REFRESH, "j" * 32, "s" * 32, now, now + 60)

    assert codec.decode(codec.encode(original), TokenKind.REFRESH) == original


def test_tokens_are_hs256_typed_and_carry_issuer_and_audience(codec: PyJwtTokenCodec) -> None:
    now = int(time.time())
    token = codec.encode(Claims("7", TokenKind.ACCESS, "j" * 32, "s" * 32, now, now + 60))

    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "at+jwt"}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == "libdib"
    assert payload["aud"] == "libdib-api"
    assert set(payload) == {"iss", "aud", "sub", "typ", "jti", "sid", "iat", "exp"}


def test_a_short_key_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        PyJwtTokenCodec("k" * 31)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(unsigned(claims(), {"alg": "none", "typ": "at+jwt"}), "algorithm not allowed", id="alg-none"),
        pytest.param(forge(claims(), key=OTHER_KEY), "signature does not verify", id="another-key"),
        pytest.param(forge(claims(), algorithm="HS512"), "algorithm not allowed", id="hs512"),
        pytest.param(forge(claims(exp=NOW - 60)), "token expired", id="expired"),
        pytest.param(forge(claims(iat=NOW + 3600, exp=NOW + 7200)), "issued in the future", id="future-iat"),
        pytest.param(forge(claims(aud="someone-else")), "not meant for this API", id="wrong-audience"),
        pytest.param(forge(claims(iss="someone-else")), "not issued by libdib", id="wrong-issuer"),
        pytest.param(forge(claims(typ="refresh")), "wrong token type", id="refresh-claim"),
        pytest.param(forge(claims(), typ="rt+jwt"), "wrong token type", id="refresh-header"),
        pytest.param(forge(claims(), typ="JWT"), "wrong token type", id="untyped-header"),
        pytest.param(forge(claims(sub="ada")), "claims are malformed", id="non-numeric-sub"),
        pytest.param(forge(claims(sub="9" * 40)), "claims are malformed", id="huge-sub"),
        pytest.param(forge(claims(sid=5)), "claims are malformed", id="numeric-sid"),
        pytest.param(forge(claims(jti="j" * 37)), "claims are malformed", id="long-jti"),
        pytest.param("not.a.token", "malformed", id="garbage"),
        pytest.param("", "malformed", id="empty"),
    ],
)
def test_a_forged_or_misused_access_token_is_refused_with_a_reason(
    codec: PyJwtTokenCodec, token: str, reason: str
) -> None:
    with pytest.raises(InvalidToken, match=reason):
        codec.decode(token, TokenKind.ACCESS)


@pytest.mark.parametrize("claim", ["iss", "aud", "sub", "typ", "jti", "sid", "iat", "exp"])
def test_a_token_missing_a_required_claim_is_refused(codec: PyJwtTokenCodec, claim: str) -> None:
    with pytest.raises(InvalidToken):
        codec.decode(forge(claims(**{claim: None})), TokenKind.ACCESS)


def test_an_access_token_is_refused_where_a_refresh_token_is_expected(codec: PyJwtTokenCodec) -> None:
    now = int(time.time())
    token = codec.encode(Claims("7", TokenKind.ACCESS, "j" * 32, "s" * 32, now, now + 60))
    codec.decode(token, TokenKind.ACCESS)  # remembered as a verified access token

    with pytest.raises(InvalidToken, match="wrong token type: expected a refresh token"):
        codec.decode(token, TokenKind.REFRESH)


def test_a_remembered_access_token_still_expires_with_the_same_leeway() -> None:
    clock = [time.time()]
    codec = PyJwtTokenCodec(KEY, now=lambda: clock[0])
    exp = int(clock[0]) + 60
    token = codec.encode(Claims("7", TokenKind.ACCESS, "j" * 32, "s" * 32, exp - 60, exp))
    codec.decode(token, TokenKind.ACCESS)

    clock[0] = exp + 9
    assert codec.decode(token, TokenKind.ACCESS).exp == exp
    clock[0] = exp + 10
    with pytest.raises(InvalidToken, match="token expired"):
        codec.decode(token, TokenKind.ACCESS)


def test_a_token_that_differs_from_a_remembered_one_is_checked_afresh(codec: PyJwtTokenCodec) -> None:
    now = int(time.time())
    token = codec.encode(Claims("7", TokenKind.ACCESS, "j" * 32, "s" * 32, now, now + 60))
    codec.decode(token, TokenKind.ACCESS)
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"

    with pytest.raises(InvalidToken, match="signature does not verify"):
        codec.decode(tampered, TokenKind.ACCESS)


def test_ten_seconds_of_clock_skew_are_tolerated(codec: PyJwtTokenCodec) -> None:
    now = int(time.time())
    assert codec.decode(forge(claims(exp=now - 5)), TokenKind.ACCESS).exp == now - 5
    assert codec.decode(forge(claims(iat=now + 5)), TokenKind.ACCESS).iat == now + 5

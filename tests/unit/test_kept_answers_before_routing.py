"""Kept answers sent in front of Litestar: only to a live token, and anything else goes on to Litestar."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest

from libdib.domain.errors import Unauthenticated, Unavailable
from libdib.entrypoints.http.answers import Answer, KeptAnswersBeforeRouting, KeptAnswerStore, key_of

if TYPE_CHECKING:
    from litestar.types import HTTPScope

pytestmark = pytest.mark.anyio

TAG = b'"7-0"'
ANSWER = Answer(200, ((b"content-type", b"application/json"), (b"etag", TAG)), b'{"kept": true}')
GOOD = "good-token"


def request(*headers: tuple[bytes, bytes], method: str = "GET", path: str = "/records/1") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": b"", "headers": list(headers)}


BEARER = (b"authorization", f"Bearer {GOOD}".encode())


class Sent:
    """What the door sent, and whether it passed the exchange on to Litestar instead."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.passed_on = False

    async def send(self, message: Any) -> None:
        self.messages.append(message)

    async def litestar(self, _scope: Any, _receive: Any, _send: Any) -> None:
        self.passed_on = True

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])


async def version() -> str:
    return "7"


async def authenticate(token: str) -> object:
    if token != GOOD:
        raise Unauthenticated("the token was revoked")
    return object()


async def through_door(scope: dict[str, Any], *, cors: bool = False, data_version: Any = version) -> Sent:
    store = KeptAnswerStore()
    key = key_of(cast("HTTPScope", request(path="/records/1")))
    store.get(key, "7")
    store.keep(key, "7", ANSWER)
    sent = Sent()
    door = KeptAnswersBeforeRouting(
        sent.litestar, store, data_version=data_version, authenticate=authenticate, cors=cors
    )
    await door(scope, None, sent.send)  # type: ignore[arg-type]
    return sent


async def test_a_kept_answer_goes_to_a_live_token_without_litestar() -> None:
    sent = await through_door(request(BEARER))

    assert not sent.passed_on
    assert (sent.status, sent.messages[1]["body"]) == (200, ANSWER.body)


async def test_a_matching_revalidation_answers_304() -> None:
    sent = await through_door(request(BEARER, (b"if-none-match", TAG)))

    assert (sent.passed_on, sent.status, sent.messages[1]["body"]) == (False, 304, b"")


@pytest.mark.parametrize(
    "scope",
    [
        request(),
        request((b"authorization", b"Bearer revoked")),
        request((b"authorization", b"Basic dXNlcjpwYXNz")),
        request(BEARER, path="/records/2"),
        request(BEARER, method="POST"),
    ],
    ids=["no token", "a token that does not check", "another scheme", "nothing kept", "not a GET"],
)
async def test_what_it_cannot_answer_goes_on_to_litestar(scope: dict[str, Any]) -> None:
    sent = await through_door(scope)

    assert (sent.passed_on, sent.messages) == (True, [])


async def test_with_cors_on_a_request_with_an_origin_goes_on_to_litestar_for_its_headers() -> None:
    with_origin = request(BEARER, (b"origin", b"https://explorer.example"))

    assert (await through_door(with_origin, cors=True)).passed_on
    assert not (await through_door(with_origin, cors=False)).passed_on


async def test_when_the_data_version_cannot_be_read_litestar_answers() -> None:
    async def down() -> str:
        raise Unavailable("the database is not answering")

    assert (await through_door(request(BEARER), data_version=down)).passed_on

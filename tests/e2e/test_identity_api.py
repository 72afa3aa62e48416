"""Users and tokens through the HTTP API: every route and status of the contract's Users and Tokens sections."""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import bcrypt
import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libdib.adapters.passwords import PasslibPasswordHasher
from libdib.bootstrap import Services, build_services
from libdib.config import DEVELOPMENT_JWT_SECRET, Settings
from libdib.entrypoints.http.app import create_app
from tests.conftest import make_settings
from tests.fakes import FastHasher, FixedClock

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Any]
PASSWORD = "quartz-lantern-migrates-slowly"
OTHER_PASSWORD = "velvet-harbor-sings-quietly"
FORM = "application/x-www-form-urlencoded"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_up(client: Client, username: str = "ada", password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/users", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def log_in(client: Client, username: str = "ada", password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def me(client: Client, token: str) -> httpx.Response:
    return await client.get("/users/me", headers=bearer(token))


def assert_problem(response: httpx.Response, status: int, detail: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert body["detail"]
    assert detail in body["detail"]


def assert_unauthenticated(response: httpx.Response) -> None:
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def payload_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def resign(
    payload: dict[str, Any], key: str = DEVELOPMENT_JWT_SECRET, algorithm: str = "HS256", typ: str = "at+jwt"
) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, key, algorithm=algorithm, headers={"typ": typ})


# Users


async def test_signing_up_answers_201_with_the_account_and_no_password_material(client: Client) -> None:
    response = await client.post("/users", json={"username": "Ada.L", "password": PASSWORD})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username", "is_admin", "created_at"}
    assert body["username"] == "Ada.L"
    assert body["is_admin"] is False
    assert PASSWORD not in response.text
    assert "$fast$" not in response.text


async def test_a_taken_username_in_any_case_answers_409(client: Client) -> None:
    await sign_up(client, "ada")

    response = await client.post("/users", json={"username": "ADA", "password": OTHER_PASSWORD})

    assert_problem(response, 409, "username: 'ADA' is taken")


async def test_a_guessable_password_answers_422_saying_what_to_do(client: Client) -> None:
    response = await client.post("/users", json={"username": "ada", "password": "password1234"})

    assert_problem(response, 422, "password: too easy to guess — add another word or two")


async def test_a_password_containing_the_username_answers_422(client: Client) -> None:
    response = await client.post("/users", json={"username": "zebulon", "password": "my-Zebulon-is-great"})

    assert_problem(response, 422, "password: must not contain your username")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"username": "ada", "password": "short"}, "password: use at least 12 characters (you used 5)"),
        ({"username": "ada", "password": "x" * 129}, "password: use at most 128 characters"),
        ({"username": "a", "password": PASSWORD}, "username: use 3 to 50 characters"),
        ({"username": "ada lovelace", "password": PASSWORD}, "username: use 3 to 50 characters"),
    ],
)
async def test_a_sign_up_that_breaks_a_rule_answers_422_saying_what_to_do(
    client: Client, body: dict[str, Any], detail: str
) -> None:
    response = await client.post("/users", json=body)

    assert_problem(response, 422, detail)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ada"}, "password"),
        ({"username": "ada", "password": PASSWORD, "is_admin": True}, "is_admin"),
    ],
)
async def test_a_malformed_sign_up_answers_400_naming_the_field(
    client: Client, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/users", json=body)

    assert_problem(response, 400, field)


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/users", {"username": "ada"}, "password", "a required field is missing"),
        ("/users", {"username": "ada", "password": PASSWORD, "is_admin": True}, "is_admin", "not a field of this body"),
        ("/auth/login", {"username": "ada"}, "password", "a required field is missing"),
        ("/auth/login", {"username": 5, "password": PASSWORD}, "username", "Expected `str`, got `int`"),
        ("/auth/login", {"username": "ada", "password": "x" * 2000}, "password", "Expected `str` of length <= 1024"),
    ],
)
async def test_a_malformed_body_answers_400_keyed_by_the_field_it_names_in_plain_words(
    client: Client, path: str, body: dict[str, Any], field: str, message: str
) -> None:
    response = await client.post(path, json=body)

    assert_problem(response, 400)
    assert response.json()["detail"] == f"{field}: {message}"
    assert response.json()["errors"] == [{"message": message, "key": field, "source": "body"}]


async def test_a_login_form_with_another_grant_type_names_it_without_a_stray_backtick(client: Client) -> None:
    response = await client.post(
        "/auth/login",
        content="grant_type=client_credentials&username=ada&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert_problem(response, 400)
    assert response.json()["detail"] == "grant_type: Invalid enum value 'client_credentials'"


async def test_sign_up_answers_403_when_closed() -> None:
    settings = make_settings(allow_signup="false")
    services = build_services(settings, backend="memory", hasher=FastHasher())
    async with AsyncTestClient(app=create_app(settings, services)) as closed:
        response = await closed.post("/users", json={"username": "ada", "password": PASSWORD})

    assert_problem(response, 403, "signup is closed")


async def test_me_answers_the_account_of_the_token(client: Client) -> None:
    account = await sign_up(client)
    tokens = await log_in(client)

    response = await me(client, tokens["access_token"])

    assert response.status_code == 200
    assert response.json() == account


async def test_me_without_a_token_answers_401_with_a_bearer_challenge(client: Client) -> None:
    assert_unauthenticated(await client.get("/users/me"))


async def test_users_may_delete_themselves_and_their_tokens_stop_at_once(client: Client) -> None:
    account = await sign_up(client)
    tokens = await log_in(client)

    response = await client.delete(f"/users/{account['id']}", headers=bearer(tokens["access_token"]))

    assert response.status_code == 204
    assert_unauthenticated(await me(client, tokens["access_token"]))
    assert_unauthenticated(await client.post("/auth/refresh", headers=bearer(tokens["refresh_token"])))


async def test_deleting_someone_else_answers_403(client: Client) -> None:
    await sign_up(client, "ada")
    bob = await sign_up(client, "bob", OTHER_PASSWORD)
    tokens = await log_in(client, "ada")

    response = await client.delete(f"/users/{bob['id']}", headers=bearer(tokens["access_token"]))

    assert_problem(response, 403)
    assert (await log_in(client, "bob", OTHER_PASSWORD))["access_token"]


async def test_an_admin_deletes_anyone_and_gets_404_for_no_such_user(client: Client, memory_services: Services) -> None:
    await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    bob = await sign_up(client, "bob", OTHER_PASSWORD)
    admin = await log_in(client, "root")

    deleted = await client.delete(f"/users/{bob['id']}", headers=bearer(admin["access_token"]))
    missing = await client.delete(f"/users/{bob['id']}", headers=bearer(admin["access_token"]))

    assert deleted.status_code == 204
    assert_problem(missing, 404, f"no user with id {bob['id']}")


@pytest.mark.parametrize("user_id", ["0", "-1", str(2**63)])
async def test_deleting_an_impossible_id_answers_400(client: Client, user_id: str) -> None:
    await sign_up(client)
    tokens = await log_in(client)

    response = await client.delete(f"/users/{user_id}", headers=bearer(tokens["access_token"]))

    assert_problem(response, 400, "user_id")


# Login


async def test_a_json_login_answers_a_token_pair_that_is_not_cached(client: Client) -> None:
    await sign_up(client)

    response = await client.post("/auth/login", json={"username": "ADA", "password": PASSWORD})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "refresh_expires_in"}
    assert body["token_type"] == "bearer"
    assert (body["expires_in"], body["refresh_expires_in"]) == (1800, 3600)
    assert "no-store" in response.headers["cache-control"]
    assert (await me(client, body["access_token"])).status_code == 200


async def test_the_oauth2_password_form_logs_in_as_the_docs_authorize_button_does(client: Client) -> None:
    await sign_up(client)

    response = await client.post(
        "/auth/login",
        content=f"grant_type=password&username=ada&password={PASSWORD}&scope=&client_id=docs",
        headers={"Content-Type": FORM},
    )

    assert response.status_code == 200, response.text
    assert (await me(client, response.json()["access_token"])).status_code == 200


async def test_a_form_with_another_grant_type_answers_400(client: Client) -> None:
    response = await client.post(
        "/auth/login",
        content=f"grant_type=client_credentials&username=ada&password={PASSWORD}",
        headers={"Content-Type": FORM},
    )

    assert_problem(response, 400, "grant_type")


async def test_a_wrong_password_and_an_unknown_user_get_the_same_401(client: Client) -> None:
    await sign_up(client)

    wrong_password = await client.post("/auth/login", json={"username": "ada", "password": OTHER_PASSWORD})
    unknown_user = await client.post("/auth/login", json={"username": "nobody", "password": PASSWORD})

    assert_unauthenticated(wrong_password)
    assert_unauthenticated(unknown_user)
    assert wrong_password.json() == unknown_user.json()
    assert wrong_password.json()["detail"] == "invalid username or password"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "detail"),
    [
        (f"username=ada&password={PASSWORD}", "text/plain", 415, "application/json"),
        ("{not json", "application/json", 400, ""),
        ('{"username": "ada"}', "application/json", 400, "password"),
        ('{"username": "", "password": "x"}', "application/json", 400, "username"),
        ('["ada", "secret"]', "application/json", 400, "object"),
        ("username=ada", FORM, 400, "password"),
    ],
)
async def test_a_malformed_login_is_refused_with_a_reason(
    client: Client, content: str, content_type: str, status: int, detail: str
) -> None:
    response = await client.post("/auth/login", content=content, headers={"Content-Type": content_type})

    assert_problem(response, status, detail)


async def test_the_eleventh_failed_login_answers_429_with_retry_after(client: Client, clock: FixedClock) -> None:
    await sign_up(client)
    for _ in range(10):
        assert_unauthenticated(await client.post("/auth/login", json={"username": "ada", "password": "wrong"}))
    clock.advance(60)

    throttled = await client.post("/auth/login", json={"username": "Ada", "password": PASSWORD})

    assert_problem(throttled, 429, "too many failed logins")
    assert throttled.headers["retry-after"] == str(15 * 60 - 60)
    clock.advance(15 * 60 - 60)
    assert (await log_in(client))["access_token"]


# Refresh, logout, revoke


async def test_a_refresh_answers_a_new_pair(client: Client) -> None:
    await sign_up(client)
    first = await log_in(client)

    response = await client.post("/auth/refresh", headers=bearer(first["refresh_token"]))

    assert response.status_code == 200
    second = response.json()
    assert set(second) == set(first)
    assert second["refresh_token"] != first["refresh_token"]
    assert "no-store" in response.headers["cache-control"]
    assert (await me(client, second["access_token"])).status_code == 200


async def test_a_replayed_refresh_token_answers_401_and_ends_the_session(client: Client) -> None:
    await sign_up(client)
    first = await log_in(client)
    other_session = await log_in(client)
    second = (await client.post("/auth/refresh", headers=bearer(first["refresh_token"]))).json()

    replay = await client.post("/auth/refresh", headers=bearer(first["refresh_token"]))

    assert_unauthenticated(replay)
    assert "already used" in replay.json()["detail"]
    assert_unauthenticated(await me(client, second["access_token"]))
    assert_unauthenticated(await client.post("/auth/refresh", headers=bearer(second["refresh_token"])))
    assert (await me(client, other_session["access_token"])).status_code == 200


async def test_an_access_token_is_refused_at_refresh(client: Client) -> None:
    await sign_up(client)
    tokens = await log_in(client)

    response = await client.post("/auth/refresh", headers=bearer(tokens["access_token"]))

    assert_unauthenticated(response)
    assert "expected a refresh token" in response.json()["detail"]


async def test_logout_ends_only_that_session(client: Client) -> None:
    await sign_up(client)
    ended, other = await log_in(client), await log_in(client)

    response = await client.post("/auth/logout", headers=bearer(ended["access_token"]))

    assert response.status_code == 204
    assert_unauthenticated(await me(client, ended["access_token"]))
    assert_unauthenticated(await client.post("/auth/refresh", headers=bearer(ended["refresh_token"])))
    assert (await me(client, other["access_token"])).status_code == 200


async def test_logout_needs_an_access_token(client: Client) -> None:
    await sign_up(client)
    tokens = await log_in(client)

    assert_unauthenticated(await client.post("/auth/logout"))
    assert_unauthenticated(await client.post("/auth/logout", headers=bearer(tokens["refresh_token"])))


async def test_revoking_an_access_token_revokes_only_that_token(client: Client) -> None:
    await sign_up(client)
    tokens = await log_in(client)

    response = await client.post("/auth/revoke", headers=bearer(tokens["access_token"]))

    assert response.status_code == 204
    assert_unauthenticated(await me(client, tokens["access_token"]))
    renewed = await client.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert (await me(client, renewed.json()["access_token"])).status_code == 200


async def test_revoking_a_refresh_token_keeps_the_access_token(client: Client) -> None:
    await sign_up(client)
    tokens = await log_in(client)

    response = await client.post("/auth/revoke", headers=bearer(tokens["refresh_token"]))

    assert response.status_code == 204
    assert_unauthenticated(await client.post("/auth/refresh", headers=bearer(tokens["refresh_token"])))
    assert (await me(client, tokens["access_token"])).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
async def test_revoke_without_a_valid_token_answers_401(client: Client, headers: dict[str, str]) -> None:
    assert_unauthenticated(await client.post("/auth/revoke", headers=headers))


# Forged and misused tokens


async def real_pair(client: Client) -> dict[str, Any]:
    await sign_up(client)
    return await log_in(client)


def swap(**changes: Any) -> Callable[[dict[str, Any]], str]:
    def forge(tokens: dict[str, Any]) -> str:
        payload = {**payload_of(tokens["access_token"]), **changes}
        return resign({name: value for name, value in payload.items() if value is not None})

    return forge


FORGERIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "alg-none": lambda t: jwt.encode(payload_of(t["access_token"]), None, algorithm="none"),
    "another-key": lambda t: resign(payload_of(t["access_token"]), key="x" * 64),
    "hs512": lambda t: resign(payload_of(t["access_token"]), algorithm="HS512"),
    "expired": swap(iat=int(time.time()) - 4000, exp=int(time.time()) - 60),
    "refresh-as-access": lambda t: t["refresh_token"],
    "typ-claim-refresh": swap(typ="refresh"),
    "header-typ-refresh": lambda t: resign(payload_of(t["access_token"]), typ="rt+jwt"),
    "missing-sid": swap(sid=None),
    "missing-jti": swap(jti=None),
    "missing-exp": swap(exp=None),
    "missing-sub": swap(sub=None),
    "unknown-user": swap(sub="999"),
    "unknown-session": swap(sid="f" * 32),
    "wrong-audience": swap(aud="elsewhere"),
    "garbage": lambda _: "garbage",
    "tampered": lambda t: t["access_token"][:-4] + "AAAA",
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
async def test_every_forged_or_misused_token_answers_401_with_a_bearer_challenge(
    client: Client, forgery: Callable[[dict[str, Any]], str]
) -> None:
    tokens = await real_pair(client)

    assert_unauthenticated(await me(client, forgery(tokens)))


@pytest.mark.parametrize("scheme", ["Basic", "Token", ""])
async def test_a_token_under_another_scheme_answers_401(client: Client, scheme: str) -> None:
    tokens = await real_pair(client)

    response = await client.get("/users/me", headers={"Authorization": f"{scheme} {tokens['access_token']}".strip()})

    assert_unauthenticated(response)
    assert "Bearer" in response.json()["detail"]


async def test_the_bearer_scheme_is_case_insensitive(client: Client) -> None:
    tokens = await real_pair(client)

    response = await client.get("/users/me", headers={"Authorization": f"bearer {tokens['access_token']}"})

    assert response.status_code == 200


async def test_a_revoked_token_and_a_deleted_users_token_answer_401(client: Client, memory_services: Services) -> None:
    tokens = await real_pair(client)
    await client.post("/auth/revoke", headers=bearer(tokens["access_token"]))
    assert_unauthenticated(await me(client, tokens["access_token"]))

    bob = await sign_up(client, "bob", OTHER_PASSWORD)
    bobs = await log_in(client, "bob", OTHER_PASSWORD)
    admin = await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    await memory_services.users.delete(admin, bob["id"])
    assert_unauthenticated(await me(client, bobs["access_token"]))


# Docs


async def test_the_openapi_document_offers_the_login_form_and_a_bearer_scheme(client: Client) -> None:
    response = await client.get("/schema/openapi.json")

    assert response.status_code == 200
    document = response.json()
    login = document["paths"]["/auth/login"]["post"]
    assert set(login["requestBody"]["content"]) == {"application/json", FORM}
    assert login["security"] == [{}]
    assert {"401", "415", "429"} <= set(login["responses"])
    schemes = document["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"].lower() == "bearer" for s in schemes.values())
    assert any(s["type"] == "oauth2" and s["flows"]["password"]["tokenUrl"] == "/auth/login" for s in schemes.values())
    assert document["paths"]["/users"]["post"]["security"] == [{}]
    assert "security" not in document["paths"]["/users/me"]["get"]


# Legacy bcrypt hashes, on real databases


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_settings(request: pytest.FixtureRequest) -> Settings:
    url = request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")
    return make_settings(database_url=url)


@pytest.fixture
async def sql_client(sql_settings: Settings) -> AsyncIterator[Client]:
    services = build_services(sql_settings, backend="sql", hasher=PasslibPasswordHasher())
    async with AsyncTestClient(app=create_app(sql_settings, services)) as test_client:
        yield test_client


async def stored_hash(url: str, username: str, replace_with: str | None = None) -> str:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            if replace_with is not None:
                await connection.execute(
                    text("UPDATE users SET password_hash = :hash WHERE username = :username"),
                    {"hash": replace_with, "username": username},
                )
            result = await connection.execute(
                text("SELECT password_hash FROM users WHERE username = :username"), {"username": username}
            )
            return str(result.scalar_one())
    finally:
        await engine.dispose()


async def test_a_bcrypt_hash_from_the_first_version_logs_in_and_is_rehashed_to_argon2id(
    sql_client: Client, sql_settings: Settings
) -> None:
    await sign_up(sql_client)
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    await stored_hash(sql_settings.database_url, "ada", replace_with=legacy)

    tokens = await log_in(sql_client)

    assert (await me(sql_client, tokens["access_token"])).status_code == 200
    upgraded = await stored_hash(sql_settings.database_url, "ada")
    assert upgraded.startswith("$argon2id$")
    assert (await log_in(sql_client))["access_token"]
    assert await stored_hash(sql_settings.database_url, "ada") == upgraded

"""Settings come from the environment and .env, and a wrong value stops the program naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from libdib.config import CENSUS_P8_URLS, DEVELOPMENT_JWT_SECRET, Settings, SettingsError

GOOD_KEY = "k" * 40
PG = "postgresql+asyncpg://u@db:5432/libdib"


def load(**env: str) -> Settings:
    return Settings.load({f"LIBDIB_{k.upper()}": v for k, v in env.items()}, env_file=None)


def test_defaults_follow_the_contract() -> None:
    settings = load(jwt_secret=GOOD_KEY)
    assert settings.access_token_ttl == 1800
    assert settings.refresh_token_ttl == 3600
    assert settings.allow_signup is True
    assert settings.max_upload_bytes == 10 * 1024 * 1024
    assert settings.census_source == CENSUS_P8_URLS
    assert settings.is_sqlite
    assert settings.session_max_age == 86400
    assert settings.forwarded_allow_ips == ()


def test_values_are_parsed_from_strings() -> None:
    settings = load(
        jwt_secret=GOOD_KEY,
        access_token_ttl="60",
        allow_signup="false",
        census_source="a.xlsx, dir/ ,https://example.org/p08w.xlsx",
        cors_origins="https://a.example,https://b.example",
        session_max_age="7200",
        forwarded_allow_ips="10.0.0.1, 192.168.0.0/16,::1",
    )
    assert settings.access_token_ttl == 60
    assert settings.allow_signup is False
    assert settings.census_source == ("a.xlsx", "dir/", "https://example.org/p08w.xlsx")
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.session_max_age == 7200
    assert settings.forwarded_allow_ips == ("10.0.0.1", "192.168.0.0/16", "::1")


def test_a_replica_and_a_transaction_pooler_are_read_beside_postgresql() -> None:
    settings = load(
        jwt_secret=GOOD_KEY,
        database_url="postgresql+asyncpg://u@pgbouncer:6432/libdib",
        database_replica_url="postgresql+asyncpg://u@pgbouncer:6432/libdib_replica",
        database_pooler="transaction",
    )
    assert settings.database_replica_url == "postgresql+asyncpg://u@pgbouncer:6432/libdib_replica"
    assert settings.database_pooler == "transaction"
    assert (load(jwt_secret=GOOD_KEY).database_replica_url, load(jwt_secret=GOOD_KEY).database_pooler) == (None, "none")


def test_the_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"LIBDIB_JWT_SECRET={GOOD_KEY}\nLIBDIB_ACCESS_TOKEN_TTL=100\nLIBDIB_REFRESH_TOKEN_TTL=200\n")
    settings = Settings.load({"LIBDIB_ACCESS_TOKEN_TTL": "300"}, env_file=env_file)
    assert (settings.jwt_secret, settings.access_token_ttl, settings.refresh_token_ttl) == (GOOD_KEY, 300, 200)


@pytest.mark.parametrize(
    ("env", "named", "says"),
    [
        ({"access_token_ttl": "soon"}, "LIBDIB_ACCESS_TOKEN_TTL", "int"),
        ({"access_token_ttl": "0"}, "LIBDIB_ACCESS_TOKEN_TTL", ">= 1"),
        ({"allow_signup": "maybe"}, "LIBDIB_ALLOW_SIGNUP", "bool"),
        ({"env": "staging"}, "LIBDIB_ENV", "staging"),
        ({"database_url": "mysql://db/x"}, "LIBDIB_DATABASE_URL", "postgresql+asyncpg://"),
        ({"jwt_secret": "short"}, "LIBDIB_JWT_SECRET", "at least 32 characters"),
        ({"admin_username": "root"}, "LIBDIB_ADMIN_PASSWORD", "both or neither"),
        ({"session_max_age": "0"}, "LIBDIB_SESSION_MAX_AGE", ">= 1"),
        ({"epoch_lease": "0"}, "LIBDIB_EPOCH_LEASE", "> 0"),
        ({"forwarded_allow_ips": "proxy.local"}, "LIBDIB_FORWARDED_ALLOW_IPS", "'proxy.local' is neither"),
        ({"forwarded_allow_ips": "10.0.0.1/8"}, "LIBDIB_FORWARDED_ALLOW_IPS", "'10.0.0.1/8' is neither"),
        ({"forwarded_allow_ips": "*"}, "LIBDIB_FORWARDED_ALLOW_IPS", "'*' is neither"),
        ({"database_replica_url": f"{PG}-replica/db"}, "LIBDIB_DATABASE_REPLICA_URL", "not the embedded SQLite"),
        ({"database_pooler": "transaction"}, "LIBDIB_DATABASE_POOLER", "not SQLite"),
        ({"database_pooler": "session", "database_url": PG}, "LIBDIB_DATABASE_POOLER", "session"),
        (
            {"database_url": PG, "database_replica_url": "mysql://replica/db"},
            "LIBDIB_DATABASE_REPLICA_URL",
            "postgresql+asyncpg://",
        ),
        ({"database_url": "postgresql+asyncpg://u:secret@db:54x2/libdib"}, "LIBDIB_DATABASE_URL", "54x2"),
        ({"database_url": "postgresql+asyncpg://u@db:99999/libdib"}, "LIBDIB_DATABASE_URL", "port 99999"),
        ({"database_url": "postgresql+asyncpg://u@db:5432/"}, "LIBDIB_DATABASE_URL", "name the database"),
        ({"database_url": "postgresql+asyncpg://u@db"}, "LIBDIB_DATABASE_URL", "name the database"),
        ({"database_url": f"{PG}?sslmode=require"}, "LIBDIB_DATABASE_URL", "?ssl=require"),
        (
            {"database_url": PG, "database_replica_url": "postgresql+asyncpg://u@replica:5x/libdib"},
            "LIBDIB_DATABASE_REPLICA_URL",
            "5x",
        ),
    ],
)
def test_a_wrong_value_is_refused_naming_the_variable(env: dict[str, str], named: str, says: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(**{"jwt_secret": GOOD_KEY, **env})
    assert named in str(error.value)
    assert says in str(error.value)


def test_a_missing_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="LIBDIB_JWT_SECRET"):
        load()


def test_production_refuses_the_development_key() -> None:
    with pytest.raises(SettingsError, match="development key"):
        load(env="production", jwt_secret=DEVELOPMENT_JWT_SECRET, database_url="postgresql+asyncpg://u@h/db")


def test_production_refuses_sqlite() -> None:
    with pytest.raises(SettingsError, match="PostgreSQL"):
        load(env="production", jwt_secret=GOOD_KEY)


def test_production_runs_with_its_own_key_on_postgresql() -> None:
    settings = load(env="production", jwt_secret=GOOD_KEY, database_url="postgresql+asyncpg://u:p@db:5432/libdib")
    assert settings.env == "production"


@pytest.mark.parametrize("url", ["mysql://admin:hunter2@db/x", "postgresql+asyncpg://admin:hunter2@db:5x/libdib"])
def test_an_error_message_does_not_echo_the_database_password(url: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(jwt_secret=GOOD_KEY, database_url=url)
    assert "hunter2" not in str(error.value)


def test_a_postgresql_url_with_tls_asked_as_asyncpg_names_it_is_taken() -> None:
    assert load(jwt_secret=GOOD_KEY, database_url=f"{PG}?ssl=require").database_url.endswith("?ssl=require")

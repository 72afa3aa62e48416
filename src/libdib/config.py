"""Settings: read once from the environment and ``.env``, validated, then passed down.

Nothing imports a global settings object; ``Settings.load()`` is called by the entry points.
"""

from __future__ import annotations

import enum
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
from dotenv import dotenv_values

from libdib.adapters.lease import LEASE_SECONDS

PREFIX = "LIBDIB_"
DEVELOPMENT_JWT_SECRET = "libdib-development-key-do-not-use-in-production-0123456789"  # noqa: S105
"""The key ``.env`` carries for development; production refuses it."""
MIN_JWT_SECRET_LENGTH = 32
"""RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits)."""
CENSUS_P8_URLS = tuple(
    f"https://www2.census.gov/programs-surveys/cps/tables/time-series/historical-income-people/p08{code}.xlsx"
    for code in ("ar", "w", "wnh", "b", "a", "h")
)
"""The Census Bureau's published P-8 workbooks: all races, white, white not Hispanic, black, Asian, Hispanic."""
MIB = 1024 * 1024
LIST_FIELDS = frozenset({"census_source", "cors_origins", "forwarded_allow_ips"})
"""Settings given as comma-separated lists."""


class Environment(enum.StrEnum):
    """Where libdib runs; production is strict about secrets and storage."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogLevel(enum.StrEnum):
    """The levels ``LIBDIB_LOG_LEVEL`` accepts (in any letter case)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Pooler(enum.StrEnum):
    """What stands between libdib and PostgreSQL (``LIBDIB_DATABASE_POOLER``)."""

    NONE = "none"
    """libdib's own pool talks to PostgreSQL: a connection is one server session."""
    TRANSACTION = "transaction"
    """A pooler such as PgBouncer in transaction mode: consecutive transactions may meet different sessions."""


PORT_LIMIT = 65536


class SettingsError(ValueError):
    """A setting has a value libdib cannot use; the message names the variable."""


Seconds = Annotated[int, msgspec.Meta(ge=1, le=365 * 24 * 3600)]


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting libdib reads, typed. Field ``x`` comes from ``LIBDIB_X``."""

    database_url: str = "sqlite+aiosqlite:///var/libdib.sqlite3"
    """SQLAlchemy async URL; the default is an embedded SQLite file under the working directory."""
    database_pool_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 20
    """Connections each worker keeps open to PostgreSQL (busy requests wait for one rather than open more)."""
    database_wait: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    """Seconds ``serve``, ``migrate`` and ``load`` wait at start for a database that does not answer yet."""
    database_replica_url: str | None = None
    """A streaming replica of the database for census reads that may lag; unset: every read goes to the primary."""
    database_pooler: Pooler = Pooler.NONE
    """``transaction`` when the URLs point at a transaction-mode pooler (no named prepared statements kept)."""
    jwt_secret: str = ""
    """HS256 signing key, at least 32 characters."""
    env: Environment = Environment.DEVELOPMENT
    """``production`` refuses the development key and SQLite."""
    access_token_ttl: Seconds = 1800
    """Lifetime of an access token, in seconds."""
    refresh_token_ttl: Seconds = 3600
    """Lifetime of a refresh token (and so of an idle session), in seconds."""
    session_max_age: Seconds = 86_400
    """Seconds a login session may live, however often it is refreshed."""
    census_source: tuple[str, ...] = CENSUS_P8_URLS
    """Workbook paths, directories or http(s) URLs that ``load`` reads."""
    admin_username: str | None = None
    """With ``admin_password``, an admin account that exists after start."""
    admin_password: str | None = None
    """The password of the admin account (used only to create it)."""
    sample_data: bool = True
    """In development, whether ``serve`` loads the sample tables into an empty database (never in production)."""
    allow_signup: bool = True
    """Whether anyone may create an account with ``POST /users``."""
    max_upload_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024 * MIB)] = 10 * MIB
    """The largest workbook accepted, uploaded or downloaded."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the API from a browser."""
    forwarded_allow_ips: tuple[str, ...] = ()
    """Proxy addresses or networks (``10.0.0.0/8``) whose ``X-Forwarded-For`` is believed; no one else's is."""
    download_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0
    """Seconds a workbook download may take."""
    workbook_memory_mib: Annotated[int, msgspec.Meta(ge=256, le=1024 * 1024)] = 2048
    """Address space (MiB) of the process that reads one workbook; a workbook needing more is refused."""
    workbook_timeout: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 120.0
    """Seconds reading one workbook may take before its process is killed and the workbook refused."""
    epoch_lease: Annotated[float, msgspec.Meta(gt=0, le=60)] = LEASE_SECONDS
    """Seconds a worker trusts its cached token checks and census answers between reads of the store's epochs; a
    write that changes them (a logout, a load) waits this long before it answers."""
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024 * 1024)] = 8192
    """The most bytes a request's line and headers may take (431 beyond)."""
    max_headers: Annotated[int, msgspec.Meta(ge=8, le=10_000)] = 100
    """The most header fields a request may have (431 beyond)."""
    request_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 10.0
    """Seconds a client may take to send a request's headers, and may pause while sending its body."""
    log_level: LogLevel = LogLevel.INFO
    """Level of the structured logs."""
    scalar_js_url: str | None = None
    """Where the docs page loads Scalar from; unset: libdib's own pinned copy once fetched, else the pinned CDN file."""
    scalar_dir: str | None = None
    """Where ``libdib docs fetch-scalar`` puts the pinned Scalar bundle and the docs page finds it (default: the
    package's docs assets directory)."""
    static_dir: str | None = None
    """A directory served under ``/static`` (the container puts the Scalar bundle there)."""

    @property
    def is_production(self) -> bool:
        """Whether this is a production deployment (strict settings, JSON logs)."""
        return self.env is Environment.PRODUCTION

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite kind."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
        """Read ``LIBDIB_*`` from ``env_file`` then ``environ`` (which wins), and validate."""
        raw: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            raw.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        raw.update(os.environ if environ is None else environ)
        return cls.from_mapping(raw)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, str]) -> Settings:
        """Build settings from ``LIBDIB_*`` variables; raise ``SettingsError`` naming a bad one."""
        fields = {f.name for f in msgspec.structs.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.removeprefix(PREFIX).lower()
            if key.startswith(PREFIX) and name in fields and value != "":
                values[name] = _split(value) if name in LIST_FIELDS else value
        if isinstance(values.get("log_level"), str):
            values["log_level"] = values["log_level"].upper()
        try:
            settings = msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(_name_the_variable(str(exc))) from None
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations no deployment should run with."""
        if not self.database_url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise SettingsError(
                f"{PREFIX}DATABASE_URL: expected postgresql+asyncpg://user:password@host:5432/db"
                f" or sqlite+aiosqlite:///path, got {_redact(self.database_url)!r}",
            )
        if not self.is_sqlite:
            _check_postgres_url("DATABASE_URL", self.database_url)
        self._check_scaling()
        if len(self.jwt_secret) < MIN_JWT_SECRET_LENGTH:
            raise SettingsError(
                f"{PREFIX}JWT_SECRET: expected a random key of at least {MIN_JWT_SECRET_LENGTH} characters"
                f" (got {len(self.jwt_secret)}); generate one with:"
                " python -c 'import secrets; print(secrets.token_urlsafe(48))'",
            )
        if self.env is Environment.PRODUCTION and self.jwt_secret == DEVELOPMENT_JWT_SECRET:
            raise SettingsError(f"{PREFIX}JWT_SECRET: production refuses the development key from .env; set your own")
        if self.env is Environment.PRODUCTION and self.is_sqlite:
            raise SettingsError(f"{PREFIX}DATABASE_URL: production needs PostgreSQL, not SQLite")
        if (self.admin_username is None) != (self.admin_password is None):
            raise SettingsError(f"{PREFIX}ADMIN_USERNAME and {PREFIX}ADMIN_PASSWORD: set both or neither")
        for proxy in self.forwarded_allow_ips:
            _check_proxy(proxy)

    def _check_scaling(self) -> None:
        """A replica and a pooler are PostgreSQL's: refuse them beside SQLite rather than ignore them."""
        replica = self.database_replica_url
        if replica is not None and self.is_sqlite:
            raise SettingsError(
                f"{PREFIX}DATABASE_REPLICA_URL: a read replica needs a PostgreSQL {PREFIX}DATABASE_URL,"
                " not the embedded SQLite database",
            )
        if replica is not None and not replica.startswith("postgresql+asyncpg://"):
            raise SettingsError(
                f"{PREFIX}DATABASE_REPLICA_URL: expected postgresql+asyncpg://user:password@host:5432/db,"
                f" got {_redact(replica)!r}",
            )
        if replica is not None:
            _check_postgres_url("DATABASE_REPLICA_URL", replica)
        if self.database_pooler is not Pooler.NONE and self.is_sqlite:
            raise SettingsError(f"{PREFIX}DATABASE_POOLER: a pooler stands in front of PostgreSQL, not SQLite")


def _check_postgres_url(name: str, url: str) -> None:
    """Refuse a PostgreSQL URL that would fail only when first used, or quietly reach another database."""
    from sqlalchemy.engine import make_url  # here, not at the top: ``libdib --help`` need not import SQLAlchemy

    try:
        parsed = make_url(url)
    except ValueError as exc:  # a port that is not a number, say
        raise SettingsError(f"{PREFIX}{name}: cannot be read ({exc}): {_redact(url)!r}") from None
    if parsed.port is not None and not 0 < parsed.port < PORT_LIMIT:
        raise SettingsError(f"{PREFIX}{name}: port {parsed.port} is not a TCP port: {_redact(url)!r}")
    if not parsed.database:
        # asyncpg would connect to the database named after the user (often the server's own ``postgres``).
        raise SettingsError(f"{PREFIX}{name}: name the database at its end (...:5432/libdib): {_redact(url)!r}")
    if "sslmode" in parsed.query:
        raise SettingsError(f"{PREFIX}{name}: asyncpg calls libpq's sslmode ssl: write ?ssl=require, not ?sslmode=")


def _check_proxy(proxy: str) -> None:
    """Refuse what uvicorn's proxy middleware would silently never match (it compares strictly)."""
    try:
        if "/" in proxy:
            ipaddress.ip_network(proxy)
        else:
            ipaddress.ip_address(proxy)
    except ValueError:
        raise SettingsError(
            f"{PREFIX}FORWARDED_ALLOW_IPS: {proxy!r} is neither an IP address nor a network such as 10.0.0.0/8",
        ) from None


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _name_the_variable(message: str) -> str:
    """Turn msgspec's ``Expected int, got str - at `$.access_token_ttl``` into a message naming the variable."""
    text, _, path = message.partition(" - at `$.")
    if not path:
        return message
    field = path.split("`")[0].split("[")[0]
    return f"{PREFIX}{field.upper()}: {text}"


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest

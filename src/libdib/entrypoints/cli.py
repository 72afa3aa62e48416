"""The ``libdib`` command: serve, migrate, load and users."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
import uvicorn
from sqlalchemy.exc import OperationalError

from libdib.bootstrap import Services, build_services, migrate
from libdib.config import Settings, SettingsError
from libdib.domain.errors import DomainError
from libdib.entrypoints.load_progress import LoadProgress, print_load_summary
from libdib.entrypoints.logs import configure_logging

T = TypeVar("T")
DATABASE_WAIT_SECONDS = 60
"""How long ``serve`` and ``migrate`` wait for a database that is still starting (as in docker compose)."""


def _settings() -> Settings:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        raise click.ClickException(f"invalid setting: {exc}") from None
    configure_logging(settings.log_level)
    return settings


def _migrate_when_ready(settings: Settings) -> None:
    deadline = time.monotonic() + DATABASE_WAIT_SECONDS
    while True:
        try:
            migrate(settings)
        except (OperationalError, OSError) as exc:
            if time.monotonic() > deadline:
                raise click.ClickException(f"the database did not become reachable: {exc}") from None
            click.echo(f"waiting for the database: {exc.__class__.__name__}", err=True)
            time.sleep(1)
        else:
            return


def _run(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work`` with running services, turning domain errors into a clean exit with a message."""

    async def main() -> T:
        services = build_services(settings)
        async with services.running():
            return await work(services)

    try:
        return asyncio.run(main())
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(package_name="libdib")
def main() -> None:
    """libdib: a REST API for the US Census Bureau's income table P-8."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Migrate the database, ensure the admin account, then serve the API."""
    settings = _settings()
    _migrate_when_ready(settings)
    if settings.admin_username and settings.admin_password:
        admin, password = settings.admin_username, settings.admin_password
        _run(settings, lambda services: services.users.ensure_admin(admin, password))
    uvicorn.run(
        "libdib.entrypoints.http.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


@main.command("migrate")
def migrate_command() -> None:
    """Bring the database schema to the latest migration."""
    settings = _settings()
    _migrate_when_ready(settings)
    click.echo("database is at the latest migration")


@main.command()
@click.argument("sources", nargs=-1)
def load(sources: tuple[str, ...]) -> None:
    """Load P-8 workbooks from SOURCES (paths, directories, URLs; default LIBDIB_CENSUS_SOURCE), all or nothing."""
    settings = _settings()
    _migrate_when_ready(settings)
    started = time.perf_counter()
    with LoadProgress() as progress:
        result = _run(settings, lambda services: services.datasets.load(sources or None, progress=progress.on_event))
    print_load_summary(result, time.perf_counter() - started)


@main.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Give the account the admin role.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(username: str, admin: bool, password_stdin: bool) -> None:
    """Create an account; the password comes from a prompt or standard input."""
    settings = _settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _migrate_when_ready(settings)
    user = _run(settings, lambda services: services.users.sign_up(username, password, is_admin=admin))
    click.echo(f"created {'admin' if user.is_admin else 'user'} {user.username} (id {user.id})")

"""The ``libdib`` command: serve, migrate, load and users.

Each command imports the database layer and the HTTP stack when it runs, not when the module loads: they take
seconds to import, and ``libdib --help`` or a mistyped option needs neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
import structlog

from libdib.config import Settings, SettingsError
from libdib.domain.errors import DomainError
from libdib.entrypoints.load_progress import LoadProgress, print_datasets, print_load_summary
from libdib.entrypoints.logs import configure_logging
from libdib.samples import sample_workbooks

if TYPE_CHECKING:
    import uvicorn
    from litestar import Litestar

    from libdib.bootstrap import Services

T = TypeVar("T")
STARTUP_FAILURE = 3
"""The status uvicorn exits with when the app fails to start."""
APP_FACTORY = "libdib.entrypoints.http.app:create_app"
WORKER_APP_FACTORY = "libdib.entrypoints.cli:worker_app"
SUPERVISOR_PID = "_LIBDIB_SUPERVISOR_PID"
"""Set by ``serve --workers N`` for its workers: the process each worker ends with."""
logger = structlog.get_logger("libdib.cli")


def _settings() -> Settings:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        env_file = Path.cwd() / ".env"
        where = f"read {env_file}" if env_file.is_file() else f"no .env in {Path.cwd()}"
        raise click.ClickException(
            f"invalid setting: {exc}\n(settings come from the environment, then from .env in the working"
            f" directory; {where})",
        ) from None
    configure_logging(settings.log_level, production=settings.is_production)
    return settings


def _check_admin_account(settings: Settings) -> None:
    from libdib.bootstrap import check_admin_account

    try:
        check_admin_account(settings)
    except SettingsError as exc:
        raise click.ClickException(f"invalid setting: {exc}") from None


def _migrate_when_ready(settings: Settings) -> None:
    """Migrate, waiting a while for a database that is starting; one line and exit 1 when it cannot be used."""
    from libdib.bootstrap import describe_database, migrate

    logger.info("using database", database=describe_database(settings))
    try:
        migrate(settings, on_wait=lambda message: click.echo(message, err=True))
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None


def _run(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work`` with running services, turning domain errors into a clean exit with a message."""
    from libdib.bootstrap import build_services

    async def main() -> T:
        services = build_services(settings)
        async with services.running():
            return await work(services)

    try:
        return asyncio.run(main())
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None


async def _load_samples_into_empty(services: Services) -> None:
    """Give a new development database the sample tables, so the API answers real numbers at once."""
    if await services.datasets.list_datasets():
        return
    result = await services.datasets.load([str(path) for path in sample_workbooks()])
    logger.info(
        "the database was empty: loaded the sample tables (development only; LIBDIB_SAMPLE_DATA=false turns it off)",
        races=[dataset.race for dataset in result.datasets],
        rows=result.rows,
    )


def _listening_socket(config: uvicorn.Config) -> socket.socket:
    """Bind the port before anything starts, so a taken port ends the command at once with status 1."""
    try:
        return config.bind_socket()
    except SystemExit:
        raise click.ClickException(f"cannot listen on {config.host}:{config.port} (is it taken?)") from None


def _serve(config: uvicorn.Config, listening: socket.socket) -> None:
    """What ``uvicorn.run`` does, on a socket bound already; exits non-zero when the app does not start."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if config.workers > 1:
        os.environ[SUPERVISOR_PID] = str(os.getpid())  # before the workers are spawned: they inherit it
        supervisor = Multiprocess(config, sockets=[listening])
        supervisor.run()
        # uvicorn stops every worker when one fails to start, but then returns as from a clean stop.
        if any(worker.exitcode == STARTUP_FAILURE for worker in supervisor.processes):
            sys.exit(STARTUP_FAILURE)
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listening])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def worker_app() -> Litestar:
    """The app of one worker of ``serve --workers N``, which ends with the process that supervises it.

    uvicorn's supervisor stops its workers when it is stopped, but not when it is killed: they would go on
    serving on their own, and a new ``serve`` would find the port taken.
    """
    from libdib.adapters.child_processes import exit_with_parent
    from libdib.entrypoints.http.app import create_app

    exit_with_parent(int(os.environ[SUPERVISOR_PID]))
    return create_app()


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
    import uvicorn

    from libdib.entrypoints.http.protocol import GuardedHttpToolsProtocol, RequestLimits

    settings = _settings()
    _check_admin_account(settings)
    limits = RequestLimits(settings.max_header_bytes, settings.max_headers, settings.request_timeout)
    config = uvicorn.Config(
        WORKER_APP_FACTORY if workers > 1 else APP_FACTORY,
        factory=True,
        # A partial of a module-level class: it pickles, so every worker process gets the same limits.
        http=functools.partial(GuardedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1; the app believes only LIBDIB_FORWARDED_ALLOW_IPS.
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    listening = _listening_socket(config)
    _migrate_when_ready(settings)
    if settings.admin_username and settings.admin_password:
        admin, password = settings.admin_username, settings.admin_password
        _run(settings, lambda services: services.users.ensure_admin(admin, password))
    if settings.sample_data and not settings.is_production:
        _run(settings, _load_samples_into_empty)
    _serve(config, listening)


@main.command("migrate")
def migrate_command() -> None:
    """Bring the database schema to the latest migration."""
    settings = _settings()
    _migrate_when_ready(settings)
    click.echo("database is at the latest migration")


@main.command()
@click.argument("sources", nargs=-1)
@click.option("--sample", is_flag=True, help="Load the sample workbooks shipped with libdib (Asian and White).")
def load(sources: tuple[str, ...], sample: bool) -> None:
    """Load P-8 workbooks from SOURCES (paths, directories, URLs; default LIBDIB_CENSUS_SOURCE), all or nothing."""
    if sample and sources:
        raise click.UsageError("give SOURCES or --sample, not both")
    locations = [str(path) for path in sample_workbooks()] if sample else list(sources)
    settings = _settings()
    _migrate_when_ready(settings)
    started = time.perf_counter()
    with LoadProgress() as progress:
        result = _run(settings, lambda services: services.datasets.load(locations or None, progress=progress.on_event))
    print_load_summary(result, time.perf_counter() - started)


@main.group()
def datasets() -> None:
    """Inspect the loaded tables."""


@datasets.command("list")
def list_datasets() -> None:
    """List the loaded tables: race, rows, years, when and from where."""
    settings = _settings()
    _migrate_when_ready(settings)
    print_datasets(_run(settings, lambda services: services.datasets.list_datasets()))


@main.group()
def docs() -> None:
    """The interactive API docs' assets."""


@docs.command("fetch-scalar")
@click.option(
    "--from-tarball",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use this `npm pack @scalar/api-reference@VERSION` tarball instead of downloading it.",
)
@click.option(
    "--dir",
    "target_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the bundle (default: LIBDIB_SCALAR_DIR, else libdib's own docs assets directory).",
)
def fetch_scalar(from_tarball: Path | None, target_dir: Path | None) -> None:
    """Put the pinned Scalar bundle where libdib serves it, so the docs need no CDN (checked against its pin)."""
    from libdib.entrypoints.http.docs_page import ASSETS_PATH, SCALAR_VERSION, bundle_dir
    from libdib.entrypoints.scalar_bundle import BundleError, download_tarball, install_bundle

    chosen = target_dir is not None
    target = target_dir if target_dir is not None else bundle_dir(_settings())
    try:
        tarball = from_tarball.read_bytes() if from_tarball else download_tarball()
        path = install_bundle(tarball, target)
    except (BundleError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Scalar {SCALAR_VERSION} is at {path}; the docs page serves it from {ASSETS_PATH}/ after a restart")
    if chosen:
        click.echo(f"set LIBDIB_SCALAR_DIR={target} for the server to find it there")


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
    password = _new_password(password_stdin)
    _migrate_when_ready(settings)
    user = _run(settings, lambda services: services.users.sign_up(username, password, is_admin=admin))
    click.echo(f"created {'admin' if user.is_admin else 'user'} {user.username} (id {user.id})")


@users.command("list")
def list_users() -> None:
    """List the accounts: id, name, role and when each was created."""
    settings = _settings()
    _migrate_when_ready(settings)
    accounts = _run(settings, lambda services: services.users.list_users())
    for user in accounts:
        role = "admin" if user.is_admin else "user"
        click.echo(f"{user.id:>6}  {user.username:<50}  {role:<5}  {user.created_at:%Y-%m-%d %H:%M} UTC")
    click.echo(f"{len(accounts)} account(s)", err=True)


@users.command("delete")
@click.argument("username")
def delete_user(username: str) -> None:
    """Delete an account and end its sessions (never the last admin)."""
    settings = _settings()
    _migrate_when_ready(settings)
    user = _run(settings, lambda services: services.users.remove(username))
    click.echo(f"deleted {user.username} (id {user.id}); its sessions have ended")


@users.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def reset_password(username: str, password_stdin: bool) -> None:
    """Set an account's password and end all its sessions; the password comes from a prompt or stdin."""
    settings = _settings()
    password = _new_password(password_stdin)
    _migrate_when_ready(settings)
    user = _run(settings, lambda services: services.users.reset_password(username, password))
    click.echo(f"changed the password of {user.username}; its sessions have ended")


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))

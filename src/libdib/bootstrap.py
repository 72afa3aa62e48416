"""The composition root: the one place that names concrete adapters and wires the services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from libdib.adapters.chart import MatplotlibChartRenderer, start_chart_process
from libdib.adapters.clock import SystemClock
from libdib.adapters.isolated import IsolatedWorkbookReader
from libdib.adapters.jwt_codec import PyJwtTokenCodec
from libdib.adapters.lease import EpochLease, ReadEpochs
from libdib.adapters.memory.store import InMemoryStore
from libdib.adapters.offload import ThreadOffload
from libdib.adapters.passwords import PasslibPasswordHasher, ZxcvbnPasswordStrength
from libdib.adapters.sources import WorkbookFetcher
from libdib.adapters.sql.engine import create_engine, read_only_engine
from libdib.adapters.sql.reach import migrate_when_reachable, shown
from libdib.adapters.sql.replica import ReplicaReads
from libdib.adapters.sql.unit_of_work import SqlUnitOfWork
from libdib.adapters.views import CachedCensusView, MemoizedHonouredTokens
from libdib.adapters.workbook import PolarsWorkbookReader
from libdib.config import MIB, PREFIX, Pooler, Settings, SettingsError
from libdib.domain.comparisons import ComparisonService
from libdib.domain.datasets import DatasetService
from libdib.domain.errors import DomainError, InvalidInput
from libdib.domain.ports import CensusView, Clock, PasswordHasher, UnitOfWorkFactory
from libdib.domain.series_service import SeriesService
from libdib.domain.tokens import TokenService
from libdib.domain.users import UserService, check_password, check_username

Backend = Literal["sql", "memory"]
PURGE_INTERVAL_SECONDS = 600
UNPACKED_WORKBOOK_LIMIT = 20
"""A workbook may unzip to at most this many times the upload limit (a guard against zip bombs)."""

logger = logging.getLogger("libdib")


class _SqlStore:
    """Owns the engine: made when the services start, disposed when they stop (on the running loop)."""

    def __init__(self, settings: Settings, lease: EpochLease) -> None:
        self.url = settings.database_url
        self.pool_size = settings.database_pool_size
        self.transaction_pooler = settings.database_pooler is Pooler.TRANSACTION
        self.lease = lease
        self._engines: tuple[AsyncEngine, AsyncEngine] | None = None
        """The engine and its AUTOCOMMIT view for read-only units (one pool); None until the store runs."""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        engine = create_engine(self.url, self.pool_size, transaction_pooler=self.transaction_pooler)
        self._engines = (engine, read_only_engine(engine, transaction_pooler=self.transaction_pooler))
        try:
            yield
        finally:
            self._engines = None
            await engine.dispose()

    def unit_of_work(self, *, read_only: bool = False) -> SqlUnitOfWork:
        if self._engines is None:
            raise RuntimeError("the services are not running: use `async with services.running()`")
        return SqlUnitOfWork(*self._engines, self.lease, read_only=read_only)

    def with_replica(self, settings: Settings) -> ReplicaReads | None:
        """The replica's reads over this store, when ``settings`` name a replica."""
        if settings.database_replica_url is None:
            return None
        return ReplicaReads(
            settings.database_replica_url,
            settings.database_pool_size,
            self.lease,
            self.unit_of_work,
            transaction_pooler=self.transaction_pooler,
        )

    async def read_epochs(self) -> dict[str, int]:
        async with self.unit_of_work(read_only=True) as uow:
            return await uow.epochs()


@dataclass(frozen=True)
class Services:
    """Everything the entry points call, ready to use inside ``running()``."""

    settings: Settings
    users: UserService
    tokens: TokenService
    datasets: DatasetService
    comparisons: ComparisonService
    series: SeriesService
    census: CensusView
    """The census reads, for services that answer from them."""
    unit_of_work: UnitOfWorkFactory
    read_epochs: ReadEpochs
    """The store's epochs, as the workers' leases read them."""
    running: Callable[[], contextlib.AbstractAsyncContextManager[None]]
    start_serving: Callable[[], None]
    """What a server starts before its first request: the chart child and the hashing processes, whose starts a
    first chart or login would otherwise wait for."""
    replica: ReplicaReads | None = None
    """The routing of census reads to the read replica, when one is configured."""

    async def ping(self) -> None:
        """Reach the database once; raises ``Unavailable`` when it does not answer."""
        async with self.unit_of_work() as uow:
            await uow.ping()

    async def replica_state(self) -> str | None:
        """Whether this worker reads the census from the replica now (``reading``), or why not; None without one."""
        return None if self.replica is None else str(await self.replica.probe())


def migrate(settings: Settings, on_wait: Callable[[str], None] = logger.info) -> None:
    """Bring the configured database to the latest schema (synchronous; call before serving).

    Waits up to ``settings.database_wait`` seconds for a database that is still starting; raises
    ``DatabaseProblem`` with a one-line explanation when it cannot be used.
    """
    migrate_when_reachable(settings.database_url, settings.database_wait, on_wait)


def check_admin_account(settings: Settings) -> None:
    """Refuse, naming the setting, an admin account that sign-up would refuse, before the server starts anything."""
    username, password = settings.admin_username, settings.admin_password
    if username is None or password is None:
        return
    try:
        check_username(username)
        check_password(username, password, ZxcvbnPasswordStrength())
    except InvalidInput as exc:
        field, _, reason = str(exc).partition(": ")
        raise SettingsError(f"{PREFIX}ADMIN_{field.upper()}: {reason}") from None


def describe_database(settings: Settings) -> str:
    """The configured database as it may be shown: password hidden, a SQLite path absolute."""
    return shown(settings.database_url)


def build_services(
    settings: Settings,
    backend: Backend = "sql",
    hasher: PasswordHasher | None = None,
    clock: Clock | None = None,
) -> Services:
    """Wire the services for ``settings``; tests pass ``backend="memory"`` and a fast hasher or fixed clock."""
    clock = clock or SystemClock()
    starting = [start_chart_process]
    if hasher is None:
        hasher = PasslibPasswordHasher()
        starting.append(hasher.start)
    lease = EpochLease(settings.epoch_lease)
    unit_of_work: UnitOfWorkFactory
    epochs: ReadEpochs
    store: Callable[[], contextlib.AbstractAsyncContextManager[None]]
    replica: ReplicaReads | None = None
    if backend == "memory":
        memory = InMemoryStore(lease=settings.epoch_lease)
        unit_of_work, epochs, store = memory.unit_of_work, memory.read_epochs, contextlib.nullcontext
    else:
        sql = _SqlStore(settings, lease)
        unit_of_work, epochs, store = sql.unit_of_work, sql.read_epochs, sql.running
        replica = sql.with_replica(settings)
    census_reads = unit_of_work if replica is None else replica.unit_of_work
    replica_running = contextlib.nullcontext if replica is None else replica.running

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[None]:
        async with store(), replica_running():
            stop = asyncio.Event()
            keeping = asyncio.create_task(lease.keep(epochs, stop))
            try:
                yield
            finally:
                stop.set()
                await keeping

    # Series and dimensions read the primary: they are answered by the series service, outside this view.
    census = CachedCensusView(census_reads, lease, epochs)
    users = UserService(uow=unit_of_work, hasher=hasher, strength=ZxcvbnPasswordStrength(), clock=clock)
    tokens = TokenService(
        uow=unit_of_work,
        codec=PyJwtTokenCodec(settings.jwt_secret),
        hasher=hasher,
        clock=clock,
        access_ttl=settings.access_token_ttl,
        refresh_ttl=settings.refresh_token_ttl,
        session_max_age=settings.session_max_age,
        honoured=MemoizedHonouredTokens(unit_of_work, lease),
    )
    datasets = DatasetService(
        uow=unit_of_work,
        view=census,
        reader=IsolatedWorkbookReader(
            PolarsWorkbookReader(max_unpacked_bytes=settings.max_upload_bytes * UNPACKED_WORKBOOK_LIMIT),
            memory_bytes=settings.workbook_memory_mib * MIB,
            seconds=settings.workbook_timeout,
        ),
        source=WorkbookFetcher(timeout_seconds=settings.download_timeout, max_bytes=settings.max_upload_bytes),
        clock=clock,
        offload=ThreadOffload(),
        default_locations=settings.census_source,
    )
    return Services(
        settings=settings,
        users=users,
        tokens=tokens,
        datasets=datasets,
        comparisons=ComparisonService(view=census),
        series=SeriesService(view=census, charts=MatplotlibChartRenderer()),
        census=census,
        unit_of_work=unit_of_work,
        read_epochs=epochs,
        running=running,
        start_serving=_in_turn(starting),
        replica=replica,
    )


def _in_turn(steps: list[Callable[[], None]]) -> Callable[[], None]:
    """One call that makes each of ``steps``, in order."""

    def run() -> None:
        for step in steps:
            step()

    return run


async def purge_periodically(services: Services, interval: float = PURGE_INTERVAL_SECONDS) -> None:
    """Delete expired sessions, token records and old login failures, so the tables stay bounded."""
    while True:
        try:
            purged = await services.tokens.purge_expired()
            logger.info("purged expired auth rows", extra={"rows": purged})
        except DomainError as exc:
            logger.warning("purge skipped: %s", exc)
        await asyncio.sleep(interval)

"""The ports: what the domain services need from the outside world, as Protocols.

Adapters subclass these explicitly so that the type checker catches any drift.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from libdib.domain.census import CensusTable, Dataset, IncomeRecord, LoadedTable, Observation
from libdib.domain.charts import Chart, ChartFormat
from libdib.domain.identity import AuthSession, Claims, NewUser, TokenKind, User

T = TypeVar("T")


class Clock(Protocol):
    """Tells the time, so that tests can fix it."""

    @abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class Offload(Protocol):
    """Runs CPU-bound work (reading a workbook) where it does not hold up the requests being served."""

    @abstractmethod
    async def run(self, work: Callable[[], T]) -> T:
        """What ``work()`` returns (or raises), once it has run."""


class PasswordHasher(Protocol):
    """Hashes and verifies passwords off the event loop."""

    @abstractmethod
    async def hash(self, password: str) -> str:
        """A new salted hash of ``password`` in the preferred scheme."""

    @abstractmethod
    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Whether ``password`` matches; on a match with an outdated scheme, also its new hash."""

    @abstractmethod
    async def dummy_verify(self) -> None:
        """Spend the time of one verification, so unknown users cost what known users do."""


class PasswordStrength(Protocol):
    """Estimates how guessable a password is."""

    @abstractmethod
    def estimate(self, password: str, user_inputs: Sequence[str]) -> tuple[int, str]:
        """A score from 0 (guessable) to 4 (strong) and advice on how to do better."""


class TokenCodec(Protocol):
    """Turns claims into signed tokens and back."""

    @abstractmethod
    def encode(self, claims: Claims) -> str:
        """A signed token carrying ``claims``."""

    @abstractmethod
    def decode(self, token: str, expected: TokenKind) -> Claims:
        """The claims of a valid token of kind ``expected``; raises ``InvalidToken`` otherwise."""


class UserRepository(Protocol):
    """Stored users."""

    @abstractmethod
    async def add(self, user: NewUser) -> User:
        """Store a new user; raises ``UsernameTaken`` when the name exists in any letter case."""

    @abstractmethod
    async def get(self, user_id: int) -> User | None:
        """The user with this id, if any."""

    @abstractmethod
    async def get_by_username(self, username: str) -> User | None:
        """The user with this name, compared regardless of letter case."""

    @abstractmethod
    async def all(self) -> list[User]:
        """Every user, by id."""

    @abstractmethod
    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash (after a rehash)."""

    @abstractmethod
    async def set_admin(self, user_id: int, is_admin: bool) -> None:
        """Grant or withdraw the admin role."""

    @abstractmethod
    async def delete(self, user_id: int) -> bool:
        """Delete a user and their sessions; False when there was no such user."""

    @abstractmethod
    async def lock_admins(self) -> list[int]:
        """The ids of every admin, read after waiting for any other unit that locked them to end.

        The lock holds until this unit ends, so two units deleting admins at once run one after the other.
        """


class SessionRepository(Protocol):
    """Login sessions, spent refresh tokens and revoked tokens."""

    @abstractmethod
    async def start(self, session: AuthSession) -> None:
        """Record a new login session; raises ``NotFound`` when its user no longer exists."""

    @abstractmethod
    async def spend_refresh(self, jti: str, sid: str, expires_at: datetime) -> bool:
        """Mark a refresh token spent; False when it was spent before (a replay)."""

    @abstractmethod
    async def extend(self, sid: str, expires_at: datetime) -> None:
        """Move a session's expiry to ``expires_at`` (a refresh slides it forward)."""

    @abstractmethod
    async def revoke_session(self, sid: str) -> None:
        """End a session: every token of it stops working."""

    @abstractmethod
    async def revoke_token(self, jti: str, expires_at: datetime) -> bool:
        """Revoke exactly one token until it would have expired anyway; False when it was revoked already."""

    @abstractmethod
    async def revoke_other_sessions(self, user_id: int, keep_sid: str | None) -> int:
        """End every live session of a user but ``keep_sid`` (all with None); returns how many ended."""

    @abstractmethod
    async def get(self, sid: str) -> AuthSession | None:
        """The session with this id, revoked or not, if it is still stored."""

    @abstractmethod
    async def active_user(self, claims: Claims) -> User | None:
        """The token's user when the user exists, its session is live and the token not revoked."""

    @abstractmethod
    async def purge_expired(self, now: datetime) -> int:
        """Delete sessions, spent and revoked tokens past their expiry; returns rows deleted."""


class LoginFailureRepository(Protocol):
    """Failed login attempts, by throttle key (username and client address)."""

    @abstractmethod
    async def lock(self, keys: Sequence[str]) -> None:
        """Wait for any other unit holding one of ``keys`` to end, then hold them all until this unit ends.

        Taken in sorted order, whatever the order given: two units sharing keys never wait for each other.
        """

    @abstractmethod
    async def record(self, keys: Sequence[str], at: datetime) -> list[int]:
        """Remember one failed attempt under each of ``keys``; their ids, in the order of ``keys``."""

    @abstractmethod
    async def forget(self, failure_id: int) -> None:
        """Delete one recorded attempt (a reservation that turned out not to be a failure)."""

    @abstractmethod
    async def since(self, keys: Sequence[str], since: datetime) -> dict[str, tuple[int, datetime | None]]:
        """For each of ``keys``: how many failures it had after ``since``, and when the oldest of them was."""

    @abstractmethod
    async def clear(self, key: str) -> None:
        """Forget the failures of ``key`` (after a successful login)."""

    @abstractmethod
    async def purge_before(self, before: datetime) -> int:
        """Delete failures older than ``before``; returns rows deleted."""


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a loaded table came from."""

    source: str
    sha256: str


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records a listing or export returns; ``None`` means any.

    ``races`` holds race keys in lower case (any one of them matches); ``population`` matches regardless of case;
    ``year_from`` and ``year_to`` are inclusive bounds.
    """

    races: tuple[str, ...] | None = None
    population: str | None = None
    age_range: str | None = None
    year: int | None = None
    year_from: int | None = None
    year_to: int | None = None

    def matches(self, record: IncomeRecord) -> bool:
        """Whether ``record`` is one of those this filter selects (for stores that filter in Python)."""
        observation = record.observation
        return (
            (self.races is None or record.race in self.races)
            and (self.population is None or observation.population.lower() == self.population.lower())
            and (self.age_range is None or observation.age_range == self.age_range)
            and (self.year is None or observation.year == self.year)
            and (self.year_from is None or observation.year >= self.year_from)
            and (self.year_to is None or observation.year <= self.year_to)
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the size of the whole."""

    items: list[T]
    total: int
    limit: int
    offset: int


TablePlace = tuple[int, int]
"""Where a record stands in table order: its dataset's id, then its place in that table (distinct within it)."""


@dataclass(frozen=True, slots=True)
class RecordChunk:
    """A keyset page of records in table order, and where the next one begins."""

    items: list[IncomeRecord]
    last: TablePlace | None
    """The place of the last item (``None`` when there is none): the next chunk is the records after it."""


class DatasetRepository(Protocol):
    """Loaded tables, one per race group."""

    @abstractmethod
    async def replace(self, table: CensusTable, provenance: Provenance, loaded_at: datetime) -> Dataset:
        """Store ``table`` as the dataset of its race, replacing any rows loaded before."""

    @abstractmethod
    async def list(self) -> list[Dataset]:
        """Every dataset, by race."""

    @abstractmethod
    async def get(self, dataset_id: int) -> Dataset | None:
        """The dataset with this id, if any."""

    @abstractmethod
    async def get_by_race(self, race: str) -> Dataset | None:
        """The dataset of this race group, if loaded."""

    @abstractmethod
    async def delete(self, dataset_id: int) -> bool:
        """Delete a dataset and its records; False when there was no such dataset."""


class RecordRepository(Protocol):
    """The rows of the loaded tables."""

    @abstractmethod
    async def page(self, where: RecordFilter, limit: int, offset: int) -> Page[IncomeRecord]:
        """Matching records in table order (each table as published, records added later after its rows)."""

    @abstractmethod
    async def after(self, where: RecordFilter, place: TablePlace | None, limit: int) -> RecordChunk:
        """The first ``limit`` matching records after ``place`` (from the first when ``None``), in table order.

        The order is the listing's (``page``), so chunks chained by their ``last`` give what its pages give.
        """

    @abstractmethod
    async def get(self, record_id: int) -> IncomeRecord | None:
        """The record with this id, if any."""

    @abstractmethod
    async def lock_populations(self, race: str) -> list[str]:
        """The population headings of the race's records, each once, sorted; held until the unit ends.

        No other data write changes them meanwhile, so a record added in the same unit is spelt knowing them.
        """

    @abstractmethod
    async def add(self, dataset: Dataset, observation: Observation) -> IncomeRecord:
        """Append a record to a dataset; raises ``RecordExists`` on a duplicate natural key."""

    @abstractmethod
    async def delete(self, record_id: int) -> bool:
        """Delete one record; False when there was no such record."""

    @abstractmethod
    async def for_comparison(self, races: Sequence[str], age_range: str, years: Sequence[int]) -> list[IncomeRecord]:
        """The records of these races, age bracket and years (one or two of each), in table order, in one query."""

    @abstractmethod
    async def tables(
        self, races: Sequence[str] | None = None, age_ranges: Sequence[str] | None = None, year: int | None = None
    ) -> list[LoadedTable]:
        """The records of these race groups (of every loaded one when ``None``), each race's in table order.

        With ``age_ranges``, only the rows of those brackets, and every row of ``year`` (what re-basing to its
        dollars reads). One table per race that has such records, with its dataset's title and constant-dollar
        year; in one query.
        """


class ChartRenderer(Protocol):
    """Draws charts off the event loop."""

    @abstractmethod
    async def render(self, chart: Chart, image_format: ChartFormat) -> bytes:
        """The image of ``chart``; raises ``Unavailable`` when too many charts are waiting to be drawn."""


class UnitOfWork(Protocol):
    """One transaction over every repository: ``async with uow: ...; await uow.commit()``.

    Leaving the block without ``commit`` discards the work. Once the block is left after a commit, every
    view of every worker shows what it changed (a withdrawn token is refused, new data is served).
    """

    users: UserRepository
    sessions: SessionRepository
    login_failures: LoginFailureRepository
    datasets: DatasetRepository
    records: RecordRepository

    @abstractmethod
    async def __aenter__(self) -> Self:
        """Begin the transaction."""

    @abstractmethod
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the transaction, rolling back whatever was not committed."""

    @abstractmethod
    async def commit(self) -> None:
        """Make the work of this unit permanent."""

    @abstractmethod
    async def ping(self) -> None:
        """Reach the store once; raises ``Unavailable`` when it does not answer."""


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work for each use."""

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """A new, not yet entered, unit of work.

        ``read_only`` units run each statement on its own, without a transaction around them: one round trip
        for a single-query read. They must not write or commit.
        """


class HonouredTokens(Protocol):
    """The per-request token check, a read-only view: its adapter may answer from what the worker holds."""

    @abstractmethod
    async def user_of(self, claims: Claims) -> User | None:
        """The token's user when the user exists, its session is live and the token not revoked."""


class CensusView(Protocol):
    """The census reads, a read-only view: its adapter may answer from what the worker holds.

    Every answer reflects the data as of ``version()``; a write that changes the data moves it.
    """

    @abstractmethod
    async def version(self) -> str:
        """A token that changes when, and only when, the loaded data changes."""

    @abstractmethod
    async def datasets(self) -> list[Dataset]:
        """Every dataset, by race."""

    @abstractmethod
    async def record(self, record_id: int) -> IncomeRecord | None:
        """The record with this id, if any."""

    @abstractmethod
    async def page(self, where: RecordFilter, limit: int, offset: int) -> Page[IncomeRecord]:
        """Matching records in table order, and how many match."""

    @abstractmethod
    async def for_comparison(self, races: Sequence[str], age_range: str, years: Sequence[int]) -> list[IncomeRecord]:
        """The records of these races, age bracket and years, in table order."""

    @abstractmethod
    async def tables(
        self, races: Sequence[str] | None = None, age_ranges: Sequence[str] | None = None, year: int | None = None
    ) -> list[LoadedTable]:
        """The loaded tables, as ``RecordRepository.tables`` answers them."""


@dataclass(frozen=True, slots=True)
class Workbook:
    """The bytes of one workbook and the name it is known by (a path or URL)."""

    name: str
    content: bytes


class WorkbookReader(Protocol):
    """Reads a P-8 workbook's structure into a table."""

    @abstractmethod
    def read(self, workbook: Workbook) -> CensusTable:
        """The table in ``workbook``; raises ``WorkbookInvalid`` naming the workbook and row."""


class WorkbookSource(Protocol):
    """Finds and fetches workbooks named by paths, directories or http(s) URLs."""

    @abstractmethod
    async def fetch(self, locations: Sequence[str]) -> list[Workbook]:
        """Every workbook the locations name; raises ``SourceUnavailable`` naming the location."""

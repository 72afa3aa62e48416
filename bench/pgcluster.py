"""A throwaway PostgreSQL cluster a test or a bench owns, so it can stop and start the database under libdib.

``initdb`` into a temporary directory, served on a free loopback port with its socket in that directory;
``standby()`` makes a streaming replica of it with ``pg_basebackup``.
``destroy()`` stops it and removes every file. PostgreSQL refuses to run as root, so as root the server
binaries run as the ``postgres`` system user (``runuser``), which owns the data directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.served import free_port

SERVER_BINARIES = ("initdb", "pg_ctl", "psql", "pg_basebackup")
START_TIMEOUT_SECONDS = 30
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"


def find_binaries() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``psql``: ``LIBDIB_PG_BIN``, Debian's layout, or PATH."""
    candidates = [os.environ.get("LIBDIB_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)  # newest major version first
    initdb = shutil.which("initdb")
    candidates.append(str(Path(initdb).parent) if initdb else "")
    for candidate in filter(None, candidates):
        if all((Path(candidate) / name).is_file() for name in SERVER_BINARIES):
            return Path(candidate)
    return None


def unavailable_reason() -> str | None:
    """Why no throwaway cluster can be made here, or None when one can."""
    if find_binaries() is None:
        return "the PostgreSQL server binaries (initdb, pg_ctl) are not installed; set LIBDIB_PG_BIN"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root, and there is no {SYSTEM_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root, and runuser is missing to run PostgreSQL as another user"
    return None


@dataclass
class PgCluster:
    """One PostgreSQL server with its own data directory and port; trust authentication on loopback only."""

    bin_dir: Path
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @classmethod
    def create(cls) -> PgCluster:
        """Initialise a new cluster in a fresh temporary directory and start it."""
        cluster = cls._new()
        try:
            cluster._server("initdb", "-D", str(cluster.data_dir), "-U", SUPERUSER, "--auth=trust", "--no-sync")
            cluster.start()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def standby(self, apply_delay: float = 0.0) -> PgCluster:
        """A streaming replica of this cluster (``pg_basebackup -R``), replaying ``apply_delay`` seconds late.

        initdb's ``--auth=trust`` lets loopback replication connections in, and ``wal_level=replica`` is the
        default, so the primary needs no change. The delay (``recovery_min_apply_delay``) holds back each commit.
        """
        replica = type(self)._new()
        try:
            replica._server(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER,
                "-D", str(replica.data_dir), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
            )  # fmt: skip
            with (replica.data_dir / "postgresql.auto.conf").open("a") as settings:
                settings.write(f"recovery_min_apply_delay = '{round(apply_delay * 1000)}ms'\n")
            replica.start()
        except BaseException:
            replica.destroy()
            raise
        return replica

    @classmethod
    def _new(cls) -> PgCluster:
        """An empty cluster directory, owned by the server's user, and a free port."""
        bin_dir = find_binaries()
        if bin_dir is None:
            raise RuntimeError(unavailable_reason())
        # Not pytest's tmp_path: its parents are private to root, and the server may run as another user.
        root = Path(tempfile.mkdtemp(prefix="libdib-pg-"))
        if os.geteuid() == 0:
            account = pwd.getpwnam(SYSTEM_USER)
            os.chown(root, account.pw_uid, account.pw_gid)
        return cls(bin_dir, root, free_port())

    def start(self) -> None:
        """Start the server (on the same port) and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._server("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop the server in fast mode: open connections are cut, as when a database host goes away."""
        self._server("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    @property
    def running(self) -> bool:
        """Whether the server process is up."""
        status = subprocess.run(
            self._as_server_user(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def destroy(self) -> None:
        """Stop the server if it runs (immediately: nothing in it is worth keeping) and delete its files."""
        if self.data_dir.is_dir() and self.running:
            self._server("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        """A connection URL for ``database`` (SQLAlchemy asyncpg by default; ``postgresql`` for asyncpg itself)."""
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with ``psql`` and return its unaligned output (rows by line, ``|`` between fields)."""
        command = [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        command += ["-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", statement]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {statement}\n{result.stderr}")
        return result.stdout.strip()

    def wait_until(self, query: str, database: str, timeout: float, interval: float = 0.05) -> str:
        """Poll ``query`` until it returns a non-empty result that is not ``f`` or ``0``; return that result."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sql(query, database)
            if found not in ("", "f", "0"):
                return found
            time.sleep(interval)
        raise TimeoutError(f"no result within {timeout} s from: {query}")

    def _server(self, program: str, *arguments: str) -> None:
        command = self._as_server_user(str(self.bin_dir / program), *arguments)
        result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.is_file() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr}{result.stdout}\n{log}")

    @staticmethod
    def _as_server_user(*command: str) -> list[str]:
        return ["runuser", "-u", SYSTEM_USER, "--", *command] if os.geteuid() == 0 else list(command)

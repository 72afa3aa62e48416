"""libdib beyond one machine, on one machine: API nodes behind HAProxy, PgBouncer before PostgreSQL, a replica.

Each piece is a real Debian program started in its own process group on a free loopback port, with its
configuration and log in a temporary directory, and stopped by its own process id. The tests in
``tests/scale`` and the ``nodes`` bench mode use them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.pgcluster import SUPERUSER, SYSTEM_USER, PgCluster
from bench.served import Server, free_port, start

DATABASE = "libdib"
"""The database the fleet's nodes use, on the primary, through PgBouncer, and on the replica."""
REPLICA_ALIAS = "libdib_replica"
"""The name PgBouncer serves the replica's copy of ``DATABASE`` under."""
READY_TIMEOUT_SECONDS = 15
NODE_WORKERS = 2
NODE_POOL_SIZE = 5
"""Connections each worker keeps: six workers share PgBouncer's pool, which shares the server's."""
POOLER_SERVER_CONNECTIONS = 20
"""PgBouncer's server connections per database: what the primary sees, however many nodes there are."""
HEALTH_CHECK_MS = 1000
"""How often HAProxy asks each node's ``/health``; three failures take a node out."""
HEALTH_TIMEOUT_SECONDS = 3
"""How long a health check may take: a node busy serving answers late, and must not be taken out for it
(a dead node refuses connections at once, and requests it never got are resent anyway)."""


def programs_missing() -> list[str]:
    """The Debian programs the fleet needs and this machine lacks."""
    return [name for name in ("pgbouncer", "haproxy") if shutil.which(name) is None]


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {READY_TIMEOUT_SECONDS} s:\n{log.read_text()}")


@dataclass
class Daemon:
    """A program run in the foreground in its own process group, on a port of its own, restartable."""

    command: list[str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(self.command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_port(self.port, self.process, self.log)

    def stop(self) -> None:
        """SIGTERM the program's process group (its own id), then SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop the program and delete its configuration and log."""
        self.stop()
        shutil.rmtree(self.log.parent, ignore_errors=True)


def _private_dir(prefix: str) -> Path:
    """A temporary directory the PostgreSQL system user may use (PgBouncer refuses to run as root)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        account = pwd.getpwnam(SYSTEM_USER)
        os.chown(root, account.pw_uid, account.pw_gid)
    return root


def pgbouncer(servers: Mapping[str, tuple[PgCluster, str]]) -> Daemon:
    """PgBouncer in transaction pooling mode (not started): each name it serves, to a database of a cluster."""
    root = _private_dir("libdib-pgbouncer-")
    port = free_port()
    entries = "\n".join(
        f"{name} = host=127.0.0.1 port={cluster.port} dbname={database}"
        for name, (cluster, database) in servers.items()
    )
    (root / "users.txt").write_text(f'"{SUPERUSER}" ""\n')
    (root / "pgbouncer.ini").write_text(
        f"""[databases]
{entries}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir = {root}
auth_type = trust
auth_file = {root}/users.txt
pool_mode = transaction
default_pool_size = {POOLER_SERVER_CONNECTIONS}
max_client_conn = 1000
admin_users = {SUPERUSER}
server_reset_query =
""",
    )
    if os.geteuid() == 0:
        for path in root.iterdir():
            shutil.chown(path, SYSTEM_USER)
    command = ["pgbouncer", str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command = ["runuser", "-u", SYSTEM_USER, "--", *command]
    return Daemon(command, port, root / "pgbouncer.log")


def pooler_url(pooler: Daemon, cluster: PgCluster, name: str) -> str:
    """The URL of database ``name`` as ``pooler`` serves it, with ``cluster``'s user."""
    return cluster.url(name).replace(f":{cluster.port}/", f":{pooler.port}/")


def haproxy(node_ports: Sequence[int]) -> Daemon:
    """HAProxy balancing HTTP over ``node_ports`` round robin, taking out a node whose ``/health`` fails.

    A request whose connection to a node fails (a killed node, before its health check notices) is sent to
    another node: nothing had reached the dead one, so retrying is safe even for a write.
    """
    root = Path(tempfile.mkdtemp(prefix="libdib-haproxy-"))
    port = free_port()
    servers = "\n".join(
        f"    server node{index} 127.0.0.1:{node_port} check" for index, node_port in enumerate(node_ports, 1)
    )
    (root / "haproxy.cfg").write_text(
        f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    option forwardfor

frontend api
    bind 127.0.0.1:{port}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    timeout check {HEALTH_TIMEOUT_SECONDS}s
    default-server inter {HEALTH_CHECK_MS}ms fall 3 rise 1
{servers}
""",
    )
    return Daemon(["haproxy", "-db", "-f", str(root / "haproxy.cfg")], port, root / "haproxy.log")


@dataclass
class Fleet:
    """``libdib serve`` nodes on their own ports behind one balancer."""

    workdir: Path
    env: dict[str, str]
    nodes: list[Server] = field(default_factory=list)
    balancer: Daemon | None = None

    @property
    def url(self) -> str:
        if self.balancer is None:
            raise RuntimeError("the fleet has no balancer yet")
        return f"http://127.0.0.1:{self.balancer.port}"

    def start(self, count: int, workers: int = NODE_WORKERS) -> None:
        """Start ``count`` nodes one after the other (each migrates, finding nothing to do after the first)."""
        for _ in range(count):
            self.nodes.append(start(self.workdir, self.env, workers=workers))
        self.balancer = haproxy([int(node.url.rsplit(":", 1)[1]) for node in self.nodes])
        self.balancer.start()

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.destroy()
            self.balancer = None
        for node in self.nodes:
            node.stop()
        self.nodes.clear()


def node_env(primary_url: str, replica_url: str | None, *, admin: tuple[str, str], census_dir: Path) -> dict[str, str]:
    """The settings every node of a fleet shares: the pooler's URL, the replica's, and trust in the balancer."""
    env = {
        "LIBDIB_DATABASE_URL": primary_url,
        "LIBDIB_DATABASE_POOLER": "transaction",
        "LIBDIB_DATABASE_POOL_SIZE": str(NODE_POOL_SIZE),
        "LIBDIB_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "LIBDIB_SAMPLE_DATA": "false",
        "LIBDIB_ADMIN_USERNAME": admin[0],
        "LIBDIB_ADMIN_PASSWORD": admin[1],
        "LIBDIB_CENSUS_SOURCE": str(census_dir),
        "LIBDIB_LOG_LEVEL": "WARNING",
    }
    if replica_url is not None:
        env["LIBDIB_DATABASE_REPLICA_URL"] = replica_url
    return env


@dataclass(frozen=True)
class Topology:
    """Everything ``scaled`` started."""

    primary: PgCluster
    replica: PgCluster
    pooler: Daemon
    fleet: Fleet


@contextmanager
def scaled(
    nodes: int,
    *,
    admin: tuple[str, str],
    census_dir: Path,
    replica_delay: float = 0.0,
    replica_behind_pooler: bool = False,
) -> Iterator[Topology]:
    """A primary, its streaming replica (replaying ``replica_delay`` s late), PgBouncer, ``nodes`` nodes behind
    HAProxy; every piece stopped and deleted afterwards.

    The nodes reach the primary through PgBouncer, and the replica directly, or through the same PgBouncer (as
    ``REPLICA_ALIAS``) with ``replica_behind_pooler``.
    """
    workdir = Path(tempfile.mkdtemp(prefix="libdib-fleet-"))
    primary = PgCluster.create()
    replica: PgCluster | None = None
    pooler: Daemon | None = None
    fleet: Fleet | None = None
    try:
        primary.sql(f"CREATE DATABASE {DATABASE}")
        # Off for the whole database: behind the pooler, libdib cannot send it as a startup parameter.
        primary.sql(f"ALTER DATABASE {DATABASE} SET jit = off")
        replica = primary.standby(apply_delay=replica_delay)
        pooled = {DATABASE: (primary, DATABASE)}
        if replica_behind_pooler:
            pooled[REPLICA_ALIAS] = (replica, DATABASE)
        pooler = pgbouncer(pooled)
        pooler.start()
        primary_url = pooler_url(pooler, primary, DATABASE)
        replica_url = pooler_url(pooler, primary, REPLICA_ALIAS) if replica_behind_pooler else replica.url(DATABASE)
        fleet = Fleet(workdir, node_env(primary_url, replica_url, admin=admin, census_dir=census_dir))
        fleet.start(nodes)
        yield Topology(primary, replica, pooler, fleet)
    finally:
        if fleet is not None:
            fleet.stop()
        if pooler is not None:
            pooler.destroy()
        if replica is not None:
            replica.destroy()
        primary.destroy()
        shutil.rmtree(workdir, ignore_errors=True)

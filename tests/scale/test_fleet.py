"""Three ``libdib serve`` nodes behind HAProxy, PgBouncer in transaction mode, a delayed streaming replica.

Every rule of the contract holds whichever node answers, and the fleet rides out a killed node, a stopped
replica and a restarted pooler. The module's tests share one topology (see ``conftest``); the node is killed last.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from bench.fleet import DATABASE, Topology

from tests.scale.conftest import ADMIN, PASSWORD, log_in

pytestmark = pytest.mark.long

RECOVERY_SECONDS = 5.0
"""How long a fault may disturb requests: HAProxy's health checks, the replica's back-off, pool invalidation."""


def bearer(pair: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def node_urls(topology: Topology) -> list[str]:
    return [node.url for node in topology.fleet.nodes]


def answers_everywhere(topology: Topology, headers: dict[str, str], path: str = "/users/me") -> set[int]:
    """The statuses every node gives ``path``, asked of each node directly (twice: each node has two workers)."""
    return {httpx.get(url + path, headers=headers, timeout=30).status_code for url in node_urls(topology) * 2}


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until it holds; return how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def test_a_load_that_answered_is_served_by_every_node_with_the_new_etag(topology: Topology) -> None:
    headers = bearer(log_in(topology))
    before = {httpx.get(url + "/datasets", headers=headers, timeout=30).headers["etag"] for url in node_urls(topology)}
    loaded = httpx.post(topology.fleet.url + "/datasets/load", headers=headers, timeout=300)
    assert loaded.status_code in (200, 201), loaded.text
    after = [httpx.get(url + "/datasets", headers=headers, timeout=30) for url in node_urls(topology) * 2]
    assert all(sorted(d["race"] for d in response.json()["items"]) == ["asian", "white"] for response in after)
    etags = {response.headers["etag"] for response in after}
    assert len(etags) == 1
    assert not etags & before
    records = [
        httpx.get(url + "/records?race=asian&limit=1", headers=headers, timeout=30) for url in node_urls(topology)
    ]
    assert all(response.json()["total"] > 0 for response in records), [r.text for r in records]


def test_every_node_reads_the_census_from_the_replica_once_it_has_caught_up(topology: Topology) -> None:
    def replica_read_everywhere() -> bool:
        states = {httpx.get(url + "/health", timeout=10).json().get("replica") for url in node_urls(topology) * 2}
        return states == {"reading"}

    wait_for(replica_read_everywhere, 15, "every node reading from the replica")
    headers = bearer(log_in(topology))
    for limit in range(1, 7):  # questions no worker has answered yet, so they reach a database
        response = httpx.get(f"{topology.fleet.url}/records?race=white&limit={limit}", headers=headers, timeout=30)
        assert response.status_code == 200
    connected = topology.replica.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'libdib'", DATABASE
    )
    assert int(connected) > 0


def test_a_logout_a_revocation_a_password_change_and_a_deletion_hold_on_every_node(topology: Topology) -> None:
    username = f"fleet-{uuid.uuid4().hex[:8]}"
    created = httpx.post(topology.fleet.url + "/users", json={"username": username, "password": PASSWORD}, timeout=30)
    assert created.status_code == 201, created.text
    first, second, third = (node_urls(topology) * 2)[:3]

    session = log_in(topology, username)
    assert answers_everywhere(topology, bearer(session)) == {200}
    assert httpx.post(first + "/auth/logout", headers=bearer(session), timeout=30).status_code == 204
    assert answers_everywhere(topology, bearer(session)) == {401}

    session = log_in(topology, username)
    assert answers_everywhere(topology, bearer(session)) == {200}
    assert httpx.post(second + "/auth/revoke", headers=bearer(session), timeout=30).status_code == 204
    assert answers_everywhere(topology, bearer(session)) == {401}

    kept, other = log_in(topology, username), log_in(topology, username)
    assert answers_everywhere(topology, bearer(other)) == {200}
    new_password = PASSWORD + " again"
    changed = httpx.put(
        third + "/users/me/password",
        headers=bearer(kept),
        json={"current_password": PASSWORD, "new_password": new_password},
        timeout=30,
    )
    assert changed.status_code in (200, 204), changed.text
    assert answers_everywhere(topology, bearer(other)) == {401}
    assert answers_everywhere(topology, bearer(kept)) == {200}

    user_id = httpx.get(first + "/users/me", headers=bearer(kept), timeout=30).json()["id"]
    assert httpx.delete(f"{second}/users/{user_id}", headers=bearer(kept), timeout=30).status_code == 204
    assert answers_everywhere(topology, bearer(kept)) == {401}


def test_login_throttling_counts_failures_on_every_node_together(topology: Topology) -> None:
    username = f"guessed-{uuid.uuid4().hex[:8]}"
    created = httpx.post(topology.fleet.url + "/users", json={"username": username, "password": PASSWORD}, timeout=30)
    assert created.status_code == 201, created.text
    urls = node_urls(topology)
    statuses = [
        httpx.post(
            urls[attempt % len(urls)] + "/auth/login", json={"username": username, "password": "wrong"}, timeout=30
        ).status_code
        for attempt in range(10)
    ]
    assert statuses == [401] * 10
    for url in urls:  # the eleventh guess is refused on every node, whichever node saw the ten
        refused = httpx.post(url + "/auth/login", json={"username": username, "password": PASSWORD}, timeout=30)
        assert refused.status_code == 429, refused.text


class Traffic:
    """Reads through the balancer from two threads, each noted with when it started and how it ended."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers
        self.outcomes: list[tuple[float, int | str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(offset,)) for offset in (0, 1000)]

    def _run(self, offset: int) -> None:
        with httpx.Client(timeout=30) as client:
            count = offset
            while not self._stop.is_set():
                count += 1
                started = time.monotonic()
                # A new question every few requests, so some reach a database rather than a worker's answers.
                path = f"/records?race=asian&limit={count % 50 + 1}&offset={count // 50}"
                try:
                    outcome: int | str = client.get(self.url + path, headers=self.headers).status_code
                except httpx.HTTPError as exc:
                    outcome = repr(exc)
                self.outcomes.append((started, outcome))

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def failures_since(self, moment: float) -> list[tuple[float, int | str]]:
        after = [(started - moment, outcome) for started, outcome in self.outcomes if started >= moment]
        return [(delay, outcome) for delay, outcome in after if outcome != 200]


def test_reads_fall_back_to_the_primary_while_the_replica_is_stopped_and_return_to_it(topology: Topology) -> None:
    headers = bearer(log_in(topology))
    with Traffic(topology.fleet.url, headers) as traffic:
        time.sleep(1)
        topology.replica.stop()
        stopped = time.monotonic()
        time.sleep(RECOVERY_SECONDS + 2)
    assert traffic.failures_since(stopped + RECOVERY_SECONDS) == []
    assert len(traffic.outcomes) > 20
    states = {httpx.get(url + "/health", timeout=10).json().get("replica") for url in node_urls(topology)}
    assert states == {"down"}
    topology.replica.start()

    def reading_again() -> bool:
        states = {httpx.get(url + "/health", timeout=10).json().get("replica") for url in node_urls(topology) * 2}
        return states == {"reading"}

    wait_for(reading_again, 20, "every node reading from the replica again")


def test_the_nodes_recover_from_a_restarted_pooler_without_a_restart(topology: Topology) -> None:
    headers = bearer(log_in(topology))
    topology.pooler.restart()

    def serving() -> bool:
        try:
            fresh = httpx.get(f"{topology.fleet.url}/records?race=white&limit=17&offset=3", headers=headers, timeout=10)
            login = httpx.post(
                topology.fleet.url + "/auth/login", json={"username": ADMIN[0], "password": PASSWORD}, timeout=10
            )
        except httpx.HTTPError:
            return False
        return fresh.status_code == 200 and login.status_code == 200

    wait_for(serving, 15, "the fleet serving again after PgBouncer restarted")
    wait_for(lambda: answers_everywhere(topology, headers) == {200}, 15, "every node answering after the restart")


def test_a_killed_node_is_routed_around_and_no_request_started_after_the_kill_fails(topology: Topology) -> None:
    headers = bearer(log_in(topology))
    victim = topology.fleet.nodes[-1]
    with Traffic(topology.fleet.url, headers) as traffic:
        time.sleep(1.5)
        victim.kill()
        killed = time.monotonic()
        time.sleep(3)
    assert traffic.failures_since(killed) == []
    assert sum(1 for started, _ in traffic.outcomes if started >= killed) > 20

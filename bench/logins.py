"""Read latency alone, then while 8 clients log in back to back.

Password hashing is deliberately slow CPU work; if it ran on the event loop (or starved it), every other
request would wait behind it. The reads go at a steady rate well below the peak, so their p99 shows that
waiting rather than the queueing of a saturated server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench import wrk
from bench.harness import LOGIN_PATH, Libdib

READ_RATE = 200
"""Reads per second: a quiet, steady background next to the peak of several thousand."""
READ_CONNECTIONS = 8
LOGIN_CLIENTS = 8
STORM_LEAD_SECONDS = 1.0
"""The logins start this long before the reads are measured, and end after them."""


@dataclass(frozen=True)
class LoginResults:
    """The reads alone, the reads during the storm, and the storm's own logins."""

    alone: wrk.Result
    during: wrk.Result
    logins: wrk.Result

    @property
    def ratio(self) -> float:
        """How many times the read p99 grew while the logins ran."""
        return self.during.p99_ms / self.alone.p99_ms if self.alone.p99_ms else float("inf")


def run(app: Libdib, seconds: float) -> LoginResults:
    """Measure read latency alone and during ``LOGIN_CLIENTS`` concurrent back-to-back logins."""
    reads = wrk.Load.authenticated(app.token, app.record_paths())
    storm = wrk.Load(
        paths=(LOGIN_PATH,),
        method="POST",
        headers=(("Content-Type", "application/json"),),
        body=app.login_body(),
    )
    alone = wrk.run(app.url, reads, seconds, READ_CONNECTIONS, rate=READ_RATE)
    with wrk.RunningWrk(app.url, storm, seconds + 2 * STORM_LEAD_SECONDS, LOGIN_CLIENTS) as logins:
        time.sleep(STORM_LEAD_SECONDS)
        during = wrk.run(app.url, reads, seconds, READ_CONNECTIONS, rate=READ_RATE)
        storm_result = logins.result()
    return LoginResults(alone=alone, during=during, logins=storm_result)

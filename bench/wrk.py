"""Drive HTTP load with wrk from a separate process and read its numbers back.

One Lua script serves every case: it cycles over a list of paths (so ``/records/{id}`` hits many real rows),
sends the bearer token and an optional body, can pace itself to a constant rate (wrk2-style scheduling
through ``delay()``, since Debian ships wrk but not wrk2), and prints its summary as one JSON line.
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

RESULT_MARK = "WRKJSON "
LUA_TEMPLATE = r"""
local paths = {%(paths)s}
local method = "%(method)s"
local body = %(body)s
local headers = {%(headers)s}
local interval_ms = %(interval_ms)s
local unique_accept = %(unique_accept)s
local keep_histogram = %(keep_histogram)s

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local now_buffer = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, now_buffer)
  return tonumber(now_buffer.tv_sec) * 1000 + tonumber(now_buffer.tv_nsec) / 1e6
end

local counter = 0
local next_send = nil
local threads_set_up = 0

function setup(thread)
  threads_set_up = threads_set_up + 1
  thread:set("thread_number", threads_set_up)
end

function init(args)
  counter = math.random(1, #paths)
end

function request()
  counter = counter + 1
  if unique_accept then headers["Accept"] = unique_accept .. ";t=" .. thread_number .. ";n=" .. counter end
  return wrk.format(method, paths[(counter %% #paths) + 1], headers, body)
end

if interval_ms > 0 then
  -- Each send is scheduled at a fixed interval after the previous one, whatever the latency (open loop).
  function delay()
    local now = now_ms()
    if next_send == nil then next_send = now end
    local wait = next_send - now
    next_send = next_send + interval_ms
    if wait < 0 then return 0 end
    return wait
  end
end

-- Every distinct latency (us) and how many requests took it, as JSON pairs: runs pooled afterwards need them.
local function histogram(latency)
  local rows = {}
  for i = 1, #latency do
    local value, count = latency(i)
    rows[i] = string.format("[%%d,%%d]", value, count)
  end
  return "[" .. table.concat(rows, ",") .. "]"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,"histogram":%%s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, keep_histogram and histogram(latency) or "[]"))
end
"""


@dataclass(frozen=True)
class Load:
    """What to send: the paths to cycle over, the method, headers and body."""

    paths: tuple[str, ...]
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    unique_accept: str | None = None
    """An ``Accept`` sent with parameters of its own on each request (``;run=<fresh for each run>;t=1;n=1``,
    ``;n=2``...): libdib keeps answers by representation, so no request finds a kept answer and each is made
    anew, not even one kept from an earlier run (a warm-up)."""

    @classmethod
    def authenticated(cls, token: str, paths: tuple[str, ...], *headers: tuple[str, str]) -> Load:
        """GETs of ``paths`` with a bearer token, and ``headers``."""
        return cls(paths=paths, headers=(("Authorization", f"Bearer {token}"), *headers))


@dataclass(frozen=True)
class Result:
    """wrk's summary of one run: throughput, latency percentiles (ms) and every kind of error."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    status_errors: int
    histogram: tuple[tuple[int, int], ...] = field(default=(), repr=False)
    """Each distinct latency (µs) and how many requests took it, when the run was asked to keep them."""

    @property
    def rate(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Connect, read, write and timeout errors plus responses with a 4xx or 5xx status."""
        return self.socket_errors + self.status_errors


def executable() -> str:
    """The ``wrk`` on PATH; installing it is the machine's business (``.ci/run`` does it), not the benchmark's."""
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: `apt-get install wrk` (as .ci/run does), then run the bench again")
    return found


def script(load: Load, rate: float | None = None, threads: int = 1, *, histogram: bool = False) -> str:
    """The Lua script for ``load``; with ``rate``, each wrk thread paces itself to its share of it.

    With ``histogram``, the summary carries every latency, so that runs can be pooled (see ``pooled``).
    """
    interval_ms = 1000.0 * threads / rate if rate else 0
    return LUA_TEMPLATE % {
        "paths": ", ".join(_lua_string(path) for path in load.paths),
        "method": load.method,
        "body": _lua_string(load.body) if load.body is not None else "nil",
        "headers": ", ".join(f"[{_lua_string(name)}] = {_lua_string(value)}" for name, value in load.headers),
        "interval_ms": f"{interval_ms:.6f}",
        "unique_accept": "nil" if load.unique_accept is None else _lua_string(_fresh(load.unique_accept)),
        "keep_histogram": "true" if histogram else "false",
        "mark": RESULT_MARK,
    }


def _fresh(accept: str) -> str:
    """``accept`` with a parameter no other run sends."""
    return f"{accept};run={secrets.token_hex(8)}"


def command(base_url: str, script_path: Path, seconds: float, connections: int, threads: int) -> list[str]:
    """The wrk command line for one run (aimed at ``base_url``, which must be on the loopback)."""
    if not base_url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"the benchmark only targets this machine, not {base_url}")
    return [
        executable(),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=5s",
        "--latency",
        f"--script={script_path}",
        base_url,
    ]


class Options(TypedDict, total=False):
    """How wrk runs, beyond its target, load, duration and connections."""

    rate: float | None
    """Requests per second, all threads together; unpaced (as fast as answers come) without it."""
    threads: int
    histogram: bool
    """Keep every request's latency, so that runs can be pooled (see ``pooled``)."""


def run(base_url: str, load: Load, seconds: float, connections: int, **options: Unpack[Options]) -> Result:
    """Run wrk for ``seconds`` and return its summary (raises if wrk fails or prints none)."""
    with RunningWrk(base_url, load, seconds, connections, **options) as running:
        return running.result()


def pooled(runs: Sequence[Result]) -> Result:
    """Several runs as one: their requests, seconds and errors added, their percentiles over all their requests.

    Each run must have kept its histogram. Alternating short runs of two loads and pooling each load's runs
    compares the two on the same spells of the machine, where one long run of each would compare two spells.
    """
    counts: Counter[int] = Counter()
    for each in runs:
        if not each.histogram and each.requests:
            raise ValueError("only runs that kept their histogram can be pooled")
        for value, count in each.histogram:
            counts[value] += count
    histogram = tuple(sorted(counts.items()))
    return Result(
        requests=sum(each.requests for each in runs),
        seconds=sum(each.seconds for each in runs),
        p50_ms=percentile(histogram, 50) / 1000,
        p99_ms=percentile(histogram, 99) / 1000,
        max_ms=max((each.max_ms for each in runs), default=0.0),
        socket_errors=sum(each.socket_errors for each in runs),
        status_errors=sum(each.status_errors for each in runs),
        histogram=histogram,
    )


def percentile(histogram: Sequence[tuple[int, int]], percent: float) -> int:
    """The least latency (µs) that at least ``percent`` % of the requests took no longer than; 0 with none."""
    total = sum(count for _, count in histogram)
    rank = max(1, math.ceil(total * percent / 100))
    seen = 0
    for value, count in histogram:
        seen += count
        if seen >= rank:
            return value
    return 0


class RunningWrk:
    """wrk running in the background, so the caller can sample the server while it drives load."""

    def __init__(self, base_url: str, load: Load, seconds: float, connections: int, **options: Unpack[Options]) -> None:
        threads = options.get("threads", 1)
        self._folder = tempfile.TemporaryDirectory(prefix="bench-wrk-")
        script_path = Path(self._folder.name) / "load.lua"
        script_path.write_text(script(load, options.get("rate"), threads, histogram=options.get("histogram", False)))
        self.seconds = seconds
        self.process = subprocess.Popen(
            command(base_url, script_path, seconds, connections, threads),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def __enter__(self) -> RunningWrk:
        return self

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._folder.cleanup()

    def done(self) -> bool:
        """Whether wrk has finished."""
        return self.process.poll() is not None

    def result(self) -> Result:
        """Wait for wrk (at most its duration plus a margin) and parse its summary."""
        output, _ = self.process.communicate(timeout=self.seconds + 60)
        return parse(output)


def parse(output: str) -> Result:
    """The summary line our Lua ``done()`` printed."""
    for line in output.splitlines():
        if line.startswith(RESULT_MARK):
            raw = json.loads(line.removeprefix(RESULT_MARK))
            return Result(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                max_ms=raw["max_us"] / 1000,
                socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
                status_errors=raw["status"],
                histogram=tuple((int(value), int(count)) for value, count in raw["histogram"]),
            )
    raise RuntimeError(f"wrk printed no summary:\n{output}")


def _lua_string(text: str) -> str:
    """A Lua string literal: for ASCII text, JSON's escaping is a subset Lua reads the same way."""
    if not text.isascii():
        raise ValueError("wrk scripts carry ASCII text only")
    return json.dumps(text)

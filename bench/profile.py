"""Profile libdib under one benchmark load with py-spy, and print where the time goes.

``uv run python -m bench.profile [records|comparisons|list|logins] [--seconds 15]`` serves libdib as the
benchmark does, samples it with py-spy while wrk drives the load, keeps the collapsed stacks in
``bench/results/`` (for a flame graph tool), and prints the functions with most samples, inclusive and own.
py-spy is not a dependency of libdib: it comes from PATH, or through ``uv run --with py-spy``.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

from bench import logins, wrk
from bench.harness import (
    COMPARISON_PATH,
    LIST_PATH,
    LOGIN_PATH,
    Libdib,
    libdib,
    scratch_database,
    stop_cleanly_on_sigterm,
)
from bench.report import RESULTS

CONNECTIONS = 32
WARMUP_SECONDS = 3
SAMPLES_PER_SECOND = 250
TOP = 25


def py_spy() -> list[str]:
    """The py-spy command: installed, or run through uv without becoming a dependency."""
    found = shutil.which("py-spy")
    return [found] if found else ["uv", "run", "--no-project", "--with", "py-spy", "py-spy"]


def load_for(target: str, app: Libdib) -> wrk.Load:
    """What wrk sends for ``target``, as fast as the server answers."""
    if target == "logins":
        headers = (("Content-Type", "application/json"),)
        return wrk.Load(paths=(LOGIN_PATH,), method="POST", headers=headers, body=app.login_body())
    paths = {"records": app.record_paths(), "comparisons": (COMPARISON_PATH,), "list": (LIST_PATH,)}[target]
    return wrk.Load.authenticated(app.token, paths)


def record(target: str, seconds: float) -> Path:
    """Serve libdib, drive ``target`` and sample it; returns the file of collapsed stacks."""
    out = RESULTS.parent / f"profile-{target}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with scratch_database() as dsn, libdib(dsn, password=secrets.token_urlsafe(24)) as app:
        connections = logins.LOGIN_CLIENTS if target == "logins" else CONNECTIONS
        with wrk.RunningWrk(app.url, load_for(target, app), seconds + WARMUP_SECONDS + 5, connections):
            time.sleep(WARMUP_SECONDS)
            command = [*py_spy(), "record", f"--pid={app.pid}", f"--duration={max(1, round(seconds))}"]
            command += [f"--rate={SAMPLES_PER_SECOND}", "--format=raw", f"--output={out}", "--threads"]
            subprocess.run(command, check=True, capture_output=True, timeout=seconds + 120)
    return out


def summarize(collapsed: Path, top: int = TOP) -> str:
    """The event loop's functions with most samples: inclusive (anywhere on the stack) and own (on top of it).

    Only the main thread runs the event loop; worker threads (password hashing, idle executors) are
    counted apart.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    total = others = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[0].startswith("process "):  # py-spy --subprocesses names the process first
            frames = frames[1:]
        thread, *frames = frames
        if "MainThread" not in thread:
            others += count
            continue
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        libraries[library(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} event-loop samples ({others} in other threads) in {collapsed}", "", "inclusive:"]
    lines += [f"  {count / total:6.1%}  {frame}" for frame, count in inclusive.most_common(top)]
    lines += ["", "own:"]
    lines += [f"  {count / total:6.1%}  {frame}" for frame, count in own.most_common(top)]
    lines += ["", "own, by library:"]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in libraries.most_common(top)]
    return "\n".join(lines)


def library(frame: str) -> str:
    """The top-level package of a frame such as ``execute (sqlalchemy/engine/base.py:1415)``."""
    _, _, where = frame.rpartition(" (")
    return where.split("/", 1)[0].split(".py", 1)[0] if "/" in where else where.split(":", 1)[0]


def main() -> None:
    """``python -m bench.profile TARGET``."""
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("target", choices=("records", "comparisons", "list", "logins"))
    parser.add_argument("--seconds", type=float, default=15, help="how long to sample (default 15)")
    arguments = parser.parse_args()
    print(summarize(record(arguments.target, arguments.seconds)))


if __name__ == "__main__":
    main()

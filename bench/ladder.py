"""``uv run python -m bench.ladder``: what each per-request cost of an authenticated read takes from the ceiling.

Serves the ceiling app once per ``bench.ceiling.LAYERS`` entry (the bare handler, then an authentication
middleware, then libdib's JWT check, then libdib's revocation query), and libdib itself, all on one scratch
database in one run, and prints each one's throughput as a fraction of the bare ceiling. It shows how much
of the gap between libdib and the ceiling is the framework and the token check rather than libdib's code.
"""

from __future__ import annotations

import argparse
import os
import secrets

from bench import report, wrk
from bench.__main__ import http_row, measured
from bench.ceiling import LAYERS
from bench.harness import ceiling, libdib, run_sql, scratch_database, stop_cleanly_on_sigterm


def main() -> None:
    """Measure every rung on a scratch database and print the table (not written to ``bench/results``)."""
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m bench.ladder", description=__doc__)
    parser.add_argument("--duration", type=float, default=15, help="seconds per measurement (default 15)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    arguments = parser.parse_args()
    wrk.executable()
    load_average = os.getloadavg()[0]
    with scratch_database() as dsn, libdib(dsn, password=secrets.token_urlsafe(24)) as app:
        paths = tuple(f"/rows/{record_id}" for record_id in app.record_ids)
        results: list[tuple[str, wrk.Result]] = []
        load = wrk.Load.authenticated(app.token, paths)
        for layer, label in LAYERS.items():
            with ceiling(dsn, layer, app.jwt_secret) as server:
                results.append((f"ceiling + {label}", measured(server.url, load, arguments)))
        libdib_read = measured(app.url, wrk.Load.authenticated(app.token, app.record_paths()), arguments)
        results.append(("libdib: GET /records/{id}", libdib_read))
        postgres = run_sql(dsn, "SHOW server_version")
    top = results[0][1]
    rows = [http_row(label, result, top) for label, result in results]
    context = (
        f"{report.machine(load_average, postgres)}. 1 worker each; wrk: 1 thread, {arguments.connections}"
        f" connections, {arguments.duration:.0f} s per row. Each ceiling row includes the layers above it."
    )
    print(report.render(rows, context, []))


if __name__ == "__main__":
    main()

"""``libdib --help`` answers at once: it loads neither the database layer nor the HTTP stack, which take seconds."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("libdib.bootstrap", "sqlalchemy", "alembic", "litestar", "uvicorn")

PROBE = f"""
import sys
from libdib.entrypoints.cli import main
main(["--help"], standalone_mode=False)
print("loaded:", sorted(name for name in {HEAVY!r} if name in sys.modules))
"""


def test_help_lists_the_commands_without_loading_the_database_layer_or_the_http_stack() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert all(command in result.stdout for command in ("serve", "migrate", "load", "datasets", "users"))
    assert "loaded: []" in result.stdout

"""The code quality gates run as tests, so the one test command enforces them in CI as well."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON_TREES = ["src", "tests", "bench"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    assert path, f"{name} is not installed in the project environment (uv sync installs the dev group)"
    return path


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "check", *PYTHON_TREES], id="ruff-lint"),
        pytest.param(["ruff", "format", "--check", *PYTHON_TREES], id="ruff-format"),
        pytest.param(["mypy", *PYTHON_TREES], id="mypy-strict"),
        pytest.param(["lint-imports"], id="import-layers"),
    ],
)
def test_the_code_passes_its_quality_gate(command: list[str]) -> None:
    result = run(tool(command[0]), *command[1:])
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"

"""The compose file, checked by reading and by running its shell gate (no Docker engine runs here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from libdib.config import DEVELOPMENT_JWT_SECRET

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, dict[str, dict[str, object]]]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def run_migrate_gate(tmp_path: Path, bind_address: str, secret: str) -> subprocess.CompletedProcess[str]:
    """Run the migrate service's command as the container's shell would, with a stand-in ``libdib``."""
    script = str(compose()["services"]["migrate"]["command"][-1]).replace("$$", "$")  # type: ignore[index]
    stand_in = tmp_path / "libdib"
    stand_in.write_text("#!/bin/sh\necho migrated\n")
    stand_in.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "BIND_ADDRESS": bind_address, "LIBDIB_JWT_SECRET": secret}
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False, timeout=10)


@pytest.mark.parametrize("bind_address", ["0.0.0.0", "192.0.2.10"])  # noqa: S104 - the address under test
def test_compose_refuses_the_development_key_published_beyond_loopback(tmp_path: Path, bind_address: str) -> None:
    result = run_migrate_gate(tmp_path, bind_address, DEVELOPMENT_JWT_SECRET)
    assert result.returncode == 1
    assert "development key" in result.stderr
    assert "migrated" not in result.stdout


@pytest.mark.parametrize(
    ("bind_address", "secret"),
    [("127.0.0.1", DEVELOPMENT_JWT_SECRET), ("0.0.0.0", "a-key-of-our-own-that-nobody-else-knows-0123")],  # noqa: S104
)
def test_compose_migrates_on_loopback_or_with_a_key_of_ones_own(tmp_path: Path, bind_address: str, secret: str) -> None:
    result = run_migrate_gate(tmp_path, bind_address, secret)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "migrated"


def test_the_api_waits_for_a_healthy_database_and_a_finished_migration() -> None:
    api = compose()["services"]["api"]
    assert api["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert str(api["ports"][0]).startswith("${BIND_ADDRESS:-127.0.0.1}:")  # type: ignore[index]

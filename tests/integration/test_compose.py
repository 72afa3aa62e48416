"""The compose file, checked by reading and by running its shell gate (no Docker engine runs here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from libdib.config import DEVELOPMENT_JWT_SECRET

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, dict[str, dict[str, object]]]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


OWN = {
    "LIBDIB_JWT_SECRET": "a-key-of-our-own-that-nobody-else-knows-0123",
    "GATE_POSTGRES_PASSWORD": "a-database-password-of-our-own",
    "GATE_PGADMIN_PASSWORD": "a-pgadmin-password-of-our-own",
}
"""Credentials of one's own, as the migrate service's environment passes them."""
DEFAULTS = {
    "LIBDIB_JWT_SECRET": DEVELOPMENT_JWT_SECRET,
    "GATE_POSTGRES_PASSWORD": "libdib",
    "GATE_PGADMIN_PASSWORD": "libdib",
}
"""The development credentials: .env's key, and the passwords this compose file defaults to."""


def run_migrate_gate(
    tmp_path: Path, bind_address: str, credentials: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the migrate service's command as the container's shell would, with a stand-in ``libdib``."""
    script = str(compose()["services"]["migrate"]["command"][-1]).replace("$$", "$")  # type: ignore[index]
    stand_in = tmp_path / "libdib"
    stand_in.write_text("#!/bin/sh\necho migrated\n")
    stand_in.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "BIND_ADDRESS": bind_address, **credentials}
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False, timeout=10)


@pytest.mark.parametrize("bind_address", ["0.0.0.0", "192.0.2.10"])  # noqa: S104 - the address under test
@pytest.mark.parametrize("default", ["LIBDIB_JWT_SECRET", "GATE_POSTGRES_PASSWORD", "GATE_PGADMIN_PASSWORD"])
def test_compose_refuses_any_development_credential_published_beyond_loopback(
    tmp_path: Path, bind_address: str, default: str
) -> None:
    result = run_migrate_gate(tmp_path, bind_address, {**OWN, default: DEFAULTS[default]})
    assert result.returncode == 1
    assert default.removeprefix("GATE_").replace("PGADMIN_PASSWORD", "PGADMIN_DEFAULT_PASSWORD") in result.stderr
    assert "migrated" not in result.stdout


def test_the_gate_names_every_development_credential_at_once(tmp_path: Path) -> None:
    result = run_migrate_gate(tmp_path, "0.0.0.0", DEFAULTS)  # noqa: S104 - the address under test
    assert result.returncode == 1
    for name in ("LIBDIB_JWT_SECRET", "POSTGRES_PASSWORD", "PGADMIN_DEFAULT_PASSWORD"):
        assert name in result.stderr


@pytest.mark.parametrize(
    ("bind_address", "credentials"),
    [("127.0.0.1", DEFAULTS), ("0.0.0.0", OWN)],  # noqa: S104
)
def test_compose_migrates_on_loopback_or_with_credentials_of_ones_own(
    tmp_path: Path, bind_address: str, credentials: dict[str, str]
) -> None:
    result = run_migrate_gate(tmp_path, bind_address, credentials)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "migrated"


def test_the_gate_is_given_the_passwords_compose_starts_the_database_and_pgadmin_with() -> None:
    services = compose()["services"]
    gate = services["migrate"]["environment"]
    assert gate["GATE_POSTGRES_PASSWORD"] == services["db"]["environment"]["POSTGRES_PASSWORD"]  # type: ignore[index]
    assert gate["GATE_PGADMIN_PASSWORD"] == services["pgadmin"]["environment"]["PGADMIN_DEFAULT_PASSWORD"]  # type: ignore[index]
    assert services["pgadmin"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}  # type: ignore[index]


def test_the_api_waits_for_a_healthy_database_and_a_finished_migration() -> None:
    api = compose()["services"]["api"]
    assert api["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert str(api["ports"][0]).startswith("${BIND_ADDRESS:-127.0.0.1}:")  # type: ignore[index]


def test_the_scaled_profile_runs_two_api_replicas_through_pgbouncer_in_transaction_mode() -> None:
    services = compose()["services"]
    scaled = {name for name, service in services.items() if service.get("profiles") == ["scaled"]}
    assert scaled == {"pgbouncer", "api-scaled", "balancer"}
    api = services["api-scaled"]
    assert api["deploy"] == {"replicas": 2}
    environment = api["environment"]
    assert "@pgbouncer:5432/" in str(environment["LIBDIB_DATABASE_URL"])  # type: ignore[index]
    assert environment["LIBDIB_DATABASE_POOLER"] == "transaction"  # type: ignore[index]
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"  # type: ignore[index]
    assert api["depends_on"] == {
        "pgbouncer": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert "ports" not in api  # only the balancer is reachable from outside


def test_migrations_run_once_against_the_database_itself_not_through_the_pooler() -> None:
    services = compose()["services"]
    assert "@db:5432/" in str(services["migrate"]["environment"]["LIBDIB_DATABASE_URL"])  # type: ignore[index]
    assert "profiles" not in services["migrate"]


def test_every_scaled_service_has_a_health_check_and_the_balancer_waits_for_healthy_replicas() -> None:
    services = compose()["services"]
    assert services["pgbouncer"]["healthcheck"]["test"]  # type: ignore[index]
    assert "/health" in " ".join(services["balancer"]["healthcheck"]["test"])  # type: ignore[index]
    assert services["balancer"]["depends_on"] == {"api-scaled": {"condition": "service_healthy"}}
    assert str(services["balancer"]["ports"][0]).startswith("${BIND_ADDRESS:-127.0.0.1}:")  # type: ignore[index]


def test_the_balancer_checks_each_replica_s_health_and_retries_a_request_a_dead_replica_never_got() -> None:
    balancer = str(compose()["configs"]["haproxy_cfg"]["content"])
    assert "option httpchk GET /health" in balancer
    assert "server-template api 2 api-scaled:8000 check" in balancer
    assert "retry-on conn-failure" in balancer
    assert "option forwardfor" in balancer


def test_the_balancer_configuration_is_valid_haproxy(tmp_path: Path) -> None:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (Debian's haproxy package)")
    config = tmp_path / "haproxy.cfg"
    config.write_text(str(compose()["configs"]["haproxy_cfg"]["content"]))
    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_pulled_image_is_pinned_to_a_release_not_a_moving_latest() -> None:
    pulled = {
        name: str(service["image"])
        for name, service in compose()["services"].items()
        if "image" in service and "build" not in service
    }
    assert pulled, "the compose file pulls no image: the parse is wrong"
    for name, image in pulled.items():
        _, _, tag = image.rpartition("/")[2].partition(":")
        assert tag not in ("", "latest"), f"{name}: {image} is not pinned to a release tag"

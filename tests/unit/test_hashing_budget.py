"""The hashing budget: a hash that follows another too soon waits out the rest the last one earned."""

from __future__ import annotations

import pytest

from libdib.adapters.passwords import HashingBudget


class Clocks:
    """A wall clock and a CPU clock that only move when told, and a sleep that moves the wall clock."""

    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 5.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.wall += seconds

    def hash_taking(self, cpu_seconds: float) -> str:
        """A hash that keeps the CPU busy ``cpu_seconds`` (and as long on the wall clock)."""
        self.cpu += cpu_seconds
        self.wall += cpu_seconds
        return "hashed"


def budget(duty: float, clocks: Clocks) -> HashingBudget:
    return HashingBudget(duty, clock=lambda: clocks.wall, cpu_clock=lambda: clocks.cpu, sleep=clocks.sleep)


def test_the_first_hash_starts_at_once_and_returns_what_the_work_returns() -> None:
    clocks = Clocks()

    assert budget(0.5, clocks).run(clocks.hash_taking, 0.03) == "hashed"
    assert clocks.slept == []


def test_a_hash_right_after_another_waits_for_the_rest_its_cpu_time_earned() -> None:
    clocks = Clocks()
    paced = budget(0.25, clocks)

    paced.run(clocks.hash_taking, 0.04)
    paced.run(clocks.hash_taking, 0.04)

    # At a quarter of the time, 40 ms of hashing earns 120 ms of rest.
    assert clocks.slept == [pytest.approx(0.12)]


def test_time_that_passed_since_the_last_hash_counts_as_rest() -> None:
    clocks = Clocks()
    paced = budget(0.5, clocks)

    paced.run(clocks.hash_taking, 0.04)
    clocks.wall += 0.03
    paced.run(clocks.hash_taking, 0.04)
    clocks.wall += 1.0
    paced.run(clocks.hash_taking, 0.04)

    assert clocks.slept == [pytest.approx(0.01)]


def test_the_rest_follows_cpu_time_not_the_wall_clock() -> None:
    clocks = Clocks()
    paced = budget(0.5, clocks)

    def preempted_hash() -> str:
        clocks.cpu += 0.02
        clocks.wall += 0.5  # the kernel ran the server meanwhile: waiting is not hashing
        return "hashed"

    paced.run(preempted_hash)
    paced.run(clocks.hash_taking, 0.02)

    assert clocks.slept == [pytest.approx(0.02)]


def test_a_failed_hash_still_earns_its_rest() -> None:
    clocks = Clocks()
    paced = budget(0.5, clocks)

    def failing() -> str:
        clocks.hash_taking(0.05)
        raise ValueError("corrupt hash")

    with pytest.raises(ValueError, match="corrupt hash"):
        paced.run(failing)
    paced.run(clocks.hash_taking, 0.01)

    assert clocks.slept == [pytest.approx(0.05)]


def test_a_full_duty_never_rests() -> None:
    clocks = Clocks()
    paced = budget(1.0, clocks)

    for _ in range(3):
        paced.run(clocks.hash_taking, 0.04)

    assert clocks.slept == []


@pytest.mark.parametrize("duty", [0.0, -0.5, 1.5])
def test_a_duty_outside_the_share_of_time_is_refused(duty: float) -> None:
    with pytest.raises(ValueError, match="hashing duty"):
        HashingBudget(duty)

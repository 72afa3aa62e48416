"""A server's long-lived child processes end with it, even when it ends before they have started."""

from __future__ import annotations

import multiprocessing
import os
import time

from libdib.adapters.child_processes import exit_with_parent

STARTED_WITHIN = 30.0
"""Ample for a spawned interpreter to start on a loaded machine."""


def _start_then_linger(parent: int) -> None:
    exit_with_parent(parent)
    time.sleep(STARTED_WITHIN)


def test_a_child_whose_parent_ended_while_it_started_ends_at_once() -> None:
    spawn = multiprocessing.get_context("spawn")
    # What a child started by a parent that is gone sees: a parent other than the one that started it.
    child = spawn.Process(target=_start_then_linger, args=(os.getpid() + 1_000_000,))
    child.start()
    child.join(STARTED_WITHIN)
    assert child.exitcode == 0, "the child went on as if its parent were there"


def test_a_child_whose_parent_is_there_goes_on() -> None:
    spawn = multiprocessing.get_context("spawn")
    child = spawn.Process(target=_start_then_linger, args=(os.getpid(),))
    child.start()
    try:
        child.join(3.0)
        assert child.is_alive()
    finally:
        child.terminate()
        child.join()

"""What every long-lived child process of a server runs first: it ends when its parent ends.

The server's process pools (the chart child, the hashing processes) stop their children when the interpreter exits
normally. A server rarely does: uvicorn ends a stopped server by raising the stop signal again, and a crash or
``kill -9`` runs no exit hook at all. An orphaned child would then keep its memory, and a supervisor that restarts
the server would add one more each time. So each child watches its parent instead, whatever ends it.
"""

from __future__ import annotations

import os
import threading
import time

PARENT_POLL_SECONDS = 0.5
"""How often a child checks that its parent is still there: how long it may outlive it."""


def exit_with_parent(parent: int) -> None:
    """In a child process: end it as soon as it is handed to another parent than ``parent`` (its own has ended).

    ``parent`` is the pid the parent passed when it started the child, not ``os.getppid()`` read here: a parent
    stopped while the child was still starting has already handed it to another, and the child would watch that
    one instead, for good.
    """
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)  # no cleanup to run: the child holds nothing its parent's end has not already lost

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()

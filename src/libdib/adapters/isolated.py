"""Reads workbooks in a child process with bounded memory and time: a crash or a runaway costs only the child.

fastexcel (calamine) aborts the whole process when an allocation fails, and a workbook decides how much
it allocates. So the costly part of a read (unzipping, the sheet, the checks) runs in a process forked
from a server that has already imported the reader, under ``RLIMIT_AS``, and is killed when it overruns
its time. Only the checked year rows come back, as the bytes of an uncompressed Arrow IPC file (polars'
own pickling of a frame goes through its slower general serializer); the observations are built here from them.
"""

from __future__ import annotations

import io
import multiprocessing
import resource
import threading
from multiprocessing.connection import Connection
from typing import Final

import polars as pl

from libdib.adapters.workbook import PolarsWorkbookReader, YearRows, table_of
from libdib.domain.census import CensusTable
from libdib.domain.errors import WorkbookInvalid
from libdib.domain.ports import Workbook, WorkbookReader

MIB: Final = 1024 * 1024
CONTEXT: Final = multiprocessing.get_context("forkserver")
"""Forking from a small server process, never from the threaded event-loop process itself."""
CONTEXT.set_forkserver_preload(["libdib.adapters.workbook"])

Outcome = tuple[str, object]


class IsolatedWorkbookReader(WorkbookReader):
    """Runs ``PolarsWorkbookReader.read_rows`` in a child process, one workbook at a time per server process.

    ``memory_bytes`` bounds the child's address space, ``seconds`` its wall-clock time; overrunning either
    refuses the workbook with a ``WorkbookInvalid`` that says which limit it hit.
    """

    def __init__(self, reader: PolarsWorkbookReader, memory_bytes: int, seconds: float) -> None:
        self._reader = reader
        self._memory_bytes = memory_bytes
        self._seconds = seconds
        self._one_at_a_time = threading.Lock()

    def read(self, workbook: Workbook) -> CensusTable:
        """The table in ``workbook``, read in a child process; ``WorkbookInvalid`` for a bad or too costly one."""
        with self._one_at_a_time:
            rows = self._read_rows(workbook)
        return table_of(rows)

    def _read_rows(self, workbook: Workbook) -> YearRows:
        receiver, sender = CONTEXT.Pipe(duplex=False)
        child = CONTEXT.Process(
            target=read_rows_in_child,
            args=(self._reader, workbook, sender, self._memory_bytes),
            name="libdib-workbook-reader",
            daemon=True,
        )
        child.start()
        sender.close()
        try:
            if not receiver.poll(self._seconds):
                raise WorkbookInvalid(
                    workbook.name, f"takes longer than the limit of {self._seconds:g} seconds to read"
                ) from None
            kind, value = receiver.recv()
        except EOFError:
            child.join(timeout=5)
            raise WorkbookInvalid(
                workbook.name,
                f"stopped the process reading it (exit status {child.exitcode}); reading it may need more"
                f" than the memory limit of {self._memory_bytes // MIB:,} MiB",
            ) from None
        finally:
            if child.is_alive():
                child.kill()
            child.join()
            receiver.close()
        if kind == "invalid":
            name, reason, row = value
            raise WorkbookInvalid(name, reason, row)
        if kind == "memory":
            raise WorkbookInvalid(
                workbook.name, f"cannot be read within the memory limit of {self._memory_bytes // MIB:,} MiB"
            )
        race, title, dollar_year, frame, title_row, headings = value
        return race, title, dollar_year, pl.read_ipc(io.BytesIO(frame)), title_row, headings


def read_rows_in_child(reader: PolarsWorkbookReader, workbook: Workbook, sender: Connection, memory_bytes: int) -> None:
    """The child's work: limit its own address space, read, and send back the rows or why there are none."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    outcome: Outcome
    try:
        race, title, dollar_year, years, title_row, headings = reader.read_rows(workbook)
        frame = io.BytesIO()
        years.write_ipc(frame, compression="uncompressed")
        outcome = ("rows", (race, title, dollar_year, frame.getvalue(), title_row, headings))
    except WorkbookInvalid as error:
        outcome = ("invalid", (error.workbook, error.reason, error.row))
    except MemoryError:
        outcome = ("memory", None)
    sender.send(outcome)
    sender.close()

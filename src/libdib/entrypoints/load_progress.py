"""What ``libdib load`` shows: a progress bar while workbooks are fetched, read and stored, then a summary."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from libdib.domain.census import Dataset
from libdib.domain.datasets import LoadEvent, LoadResult, LoadStage

STAGES = len(LoadStage)


class LoadProgress:
    """A progress bar over every (workbook, stage) step of a load, on standard error."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task("fetching workbooks", total=None)

    def __enter__(self) -> LoadProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def on_event(self, event: LoadEvent) -> None:
        """Advance one step and say which workbook reached which stage."""
        amount = f"{event.rows:,} rows" if event.rows else f"{event.size / 1024:,.0f} KiB"
        self._progress.update(
            self._task,
            total=event.total * STAGES,
            advance=1,
            description=f"{event.stage} {event.index}/{event.total} {event.workbook} ({amount})",
        )


def print_load_summary(result: LoadResult, seconds: float) -> None:
    """One line per dataset loaded, and the totals."""
    print_datasets(result.datasets, f"Loaded {len(result.datasets)} table(s), {result.rows:,} rows in {seconds:.1f} s")


def print_datasets(datasets: Sequence[Dataset], title: str | None = None) -> None:
    """A table of datasets that names the file each came from, readable on an 80-column terminal."""
    table = Table(title=title)
    for column in ("id", "race", "rows", "years"):
        table.add_column(column, no_wrap=True)
    # The file name first, whole; the full source below it, folded rather than cut, so nothing is hidden.
    table.add_column("file (source)", overflow="fold")
    for dataset in datasets:
        first, last = dataset.years
        name = dataset.source.rstrip("/").rsplit("/", 1)[-1]
        table.add_row(
            str(dataset.id), dataset.race, f"{dataset.rows:,}", f"{first}-{last}", f"{name}\n{dataset.source}"
        )
    if not datasets:
        table.caption = "no datasets are loaded: libdib load --sample, or libdib load [SOURCE ...]"
    Console().print(table)

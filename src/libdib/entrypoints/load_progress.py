"""What ``libdib load`` shows: a progress bar while workbooks are fetched, read and stored, then a summary."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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
    table = Table(title=f"Loaded {len(result.datasets)} table(s), {result.rows:,} rows in {seconds:.1f} s")
    for column in ("id", "race", "rows", "years", "sha256", "source"):
        table.add_column(column)
    for dataset in result.datasets:
        first, last = dataset.years
        table.add_row(
            str(dataset.id), dataset.race, f"{dataset.rows:,}", f"{first}-{last}", dataset.sha256[:12], dataset.source
        )
    Console().print(table)

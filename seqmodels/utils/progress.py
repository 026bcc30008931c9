"""A progress bar on stderr for long work outside training (reading a big file, sampling, predicting)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(label: str, total: float, shown: bool = True, in_bytes: bool = False) -> Iterator[Callable[..., None]]:
    """A rich bar labelled ``label`` over ``total`` items (bytes when ``in_bytes``), drawn on stderr only when
    ``shown`` and stderr is a terminal. Yields ``update(completed=None)``: the bar moves to ``completed``, or one
    item on when it is None. The bar ends full."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    with Progress(
        TextColumn(label),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not (shown and console.is_terminal),
    ) as bar:
        task = bar.add_task(label, total=total)

        def update(completed: float | None = None) -> None:
            if completed is None:
                bar.advance(task)
            else:
                bar.update(task, completed=completed)

        yield update
        bar.update(task, completed=total)

"""What the user sees while a suite runs: progress, and Ctrl-C/SIGTERM handling."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from accelbench.measure.core import Outcome
from accelbench.report.tables import fmt_time
from accelbench.workloads.base import Case

__all__ = ["RunProgress", "stop_on_sigterm"]


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while running: stop the case in flight, write a valid run."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class RunProgress:
    """A rich progress bar on stderr; plain lines when stderr is not a terminal."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> RunProgress:
        if not self.quiet and self.console.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
                transient=False, auto_refresh=False,
            )
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def __call__(self, what: str, case: Case, done: int, total: int, out: Outcome | None) -> None:
        label = f"{case.kernel} {case.case} {case.dtype}"
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task(label, total=total, completed=done)
            # Redrawn when a case starts or ends, never by a timer thread: nothing of ours
            # runs beside the worker while it measures (a CPU case uses every core).
            self.bar.update(self.task, description=label, completed=done, refresh=True)
        elif not self.quiet and what == "end" and out is not None:
            self.console.print(
                f"[{done}/{total}] {label}: {out.status} {fmt_time(out.row.get('median_s'))}",
                markup=False, highlight=False,
            )



"""Running a list of cases: record each as it ends, resume, survive crashes.

:class:`Runner` walks a list of cases, writes each finished case to the
run's event log before starting the next one, and skips cases already
recorded (``--resume``). Cases of ordinary families run one at a time in a
supervised worker process (:mod:`accelbench.runner.isolation`), so a crash
or hang becomes that case's status. Cases of a family that needs a world of
ranks (``needs_world``: the collectives) are handed to
:func:`accelbench.distributed.lead.run_world_cases`, which launches or joins the
world; the bookkeeping (events, progress, the two-deaths rule) is the same
for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from accelbench.devices import Device
from accelbench.distributed.lead import run_world_cases
from accelbench.kinds import Event, Status
from accelbench.measure.core import Outcome, Settings, failure_row
from accelbench.results import RunDir
from accelbench.runner.isolation import Executor, make_executor
from accelbench.workloads import get_family
from accelbench.workloads.base import Case

__all__ = ["ProgressHook", "Runner", "deaths_in_flight", "needs_world"]

ProgressHook = Callable[[str, Case, int, int, Outcome | None], None]


def needs_world(case: Case) -> bool:
    """Does the case's family run in a world of ranks (``Family.needs_world``)?"""
    return bool(getattr(get_family(case.kernel), "needs_world", False))


class Runner:
    """Runs cases one after the other, recording each as soon as it ends."""

    def __init__(
        self,
        device: Device,
        settings: Settings,
        run: RunDir,
        progress: ProgressHook | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.device = device
        self.settings = settings
        self.run_dir = run
        self.progress = progress
        self.executor = executor
        self._deaths: dict[str, int] = {}
        self._finished = 0
        self._total = 0

    def run(self, cases: Sequence[Case]) -> list[dict[str, Any]]:
        """Run every case not yet recorded; return all rows of the run in case order.

        Resume rules: a case with a ``case`` event is done. A case that was in
        flight when an earlier attempt died (``case_start`` without ``case``)
        runs again, unless that happened in two attempts: then it is recorded
        as ``crash`` without running, so a case that takes the whole process
        down cannot block a resume forever. Ctrl-C stops the case in flight
        (logged as ``case_abort``, which does not count as a death) and
        re-raises after the worker is gone.
        """
        done = self.run_dir.case_events()
        self._deaths = deaths_in_flight(self.run_dir.events())
        todo = [c for c in cases if c.key not in done]
        self._total, self._finished = len(cases), len(cases) - len(todo)
        self.run_dir.append_event({"event": Event.START, "cases": len(cases), "todo": len(todo)})
        own = [c for c in todo if not needs_world(c)]
        world = [c for c in todo if needs_world(c)]
        self._run_own(own)
        if world:
            run_world_cases(self._startable(world), self.device, self.settings,
                            self.run_dir.run_id, self._record)
        self.run_dir.append_event({"event": Event.END})
        rows = self.run_dir.case_events()
        return [rows[c.key]["row"] for c in cases if c.key in rows]

    # -- bookkeeping, the same for every path ------------------------------------
    def _startable(self, cases: Sequence[Case]) -> Iterator[Case]:
        """Announce each case and yield it, or record it as a crash (two deaths) and skip it."""
        for case in cases:
            if self.progress:
                self.progress("start", case, self._finished, self._total, None)
            if self._deaths.get(case.key, 0) >= 2:
                self._record(case, _killed_run_twice(case, self.device, self.run_dir.run_id))
                continue
            self.run_dir.append_event({"event": Event.CASE_START, "key": case.key})
            yield case

    def _record(self, case: Case, outcome: Outcome) -> None:
        self.run_dir.record_case(case.key, outcome.row, outcome.samples)
        self._finished += 1
        if self.progress:
            self.progress("end", case, self._finished, self._total, outcome)

    def _run_own(self, cases: Sequence[Case]) -> None:
        if not cases:
            return
        executor = self.executor or make_executor(
            self.device, self.settings, self.run_dir.run_id, self.run_dir.path / "worker.log")
        try:
            for case in self._startable(cases):
                try:
                    outcome = executor.run(case)
                except KeyboardInterrupt:
                    self.run_dir.append_event({"event": Event.CASE_ABORT, "key": case.key,
                                               "reason": "interrupted"})
                    raise
                self._record(case, outcome)
        finally:
            executor.close()


def deaths_in_flight(events: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Per case key, in how many attempts the process died while the case was running.

    Attempts begin with a ``start`` event; a ``case_start`` not followed by the
    case's ``case`` (or ``case_abort``) event before the attempt ended means the
    process died during that case.
    """
    deaths: dict[str, int] = {}
    open_keys: set[str] = set()

    def close_attempt() -> None:
        for key in open_keys:
            deaths[key] = deaths.get(key, 0) + 1
        open_keys.clear()

    for ev in events:
        kind, key = ev.get("event"), ev.get("key")
        if kind == Event.START:
            close_attempt()
        elif kind == Event.CASE_START and isinstance(key, str):
            open_keys.add(key)
        elif kind in (Event.CASE, Event.CASE_ABORT) and isinstance(key, str):
            open_keys.discard(key)
    close_attempt()
    return deaths


def _killed_run_twice(case: Case, device: Device, run_id: str) -> Outcome:
    return failure_row(case, device, run_id, Status.CRASH,
                       "the run died while this case was running, in two attempts; "
                       "not run again")

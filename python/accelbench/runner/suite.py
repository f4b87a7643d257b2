"""Running a list of cases: record each as it ends, resume, survive crashes.

:class:`Runner` walks a list of cases, writes each finished case to the
run's event log before starting the next one, and skips cases already
recorded (``--resume``). Cases of ordinary families run one at a time in a
supervised worker process (:mod:`accelbench.runner.isolation`), so a crash
or hang becomes that case's status. A run of several rounds
(:mod:`accelbench.measure.rounds`) visits its cases once per round, in a
shuffled order and a fresh worker each round, records each round as it
ends, and records the case when its last round is in. Compiled cases compile
into a cache private to the run (:mod:`~accelbench.runner.compile_cache`).
Cases of a family that needs a world of ranks (``needs_world``: the
collectives) are handed to :func:`accelbench.distributed.lead.run_world_cases`,
which launches or joins the world; the bookkeeping (events, progress, the
two-deaths rule) is the same for both. When every case is in, the cases
measured in rounds get the run's pooled interval (``settle_rounds``).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from accelbench.devices import Device
from accelbench.distributed.lead import run_world_cases
from accelbench.kinds import Event, Status
from accelbench.measure.core import Outcome, Settings, failure_row
from accelbench.measure.rounds import History, RoundPlan, combine_rounds, settle_rounds
from accelbench.results import RunDir
from accelbench.runner.compile_cache import private_compile_cache
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
        world: Callable[[Case], bool] = needs_world,
        resettle: Callable[[Mapping[str, Outcome]], History | None] | None = None,
    ) -> None:
        self.device = device
        #: called with the cases' outcomes before the pooled intervals are computed: what
        #: the machine's history says of them (None: nothing, keep these settings)
        self.resettle = resettle
        #: does a case run in a world of ranks? (the operator sweep's cases never do)
        self.world = world
        self.settings = settings
        self.run_dir = run
        self.progress = progress
        self.executor = executor
        self.plan = RoundPlan.of(settings, run.run_id)
        self._deaths: dict[str, int] = {}
        self._rounds: dict[str, dict[int, Outcome]] = {}
        self._done: set[str] = set()
        self._finished = 0
        self._total = 0
        #: CPU seconds this process spent while its worker measured, and those seconds' wall time
        self.parent_cpu_s = 0.0
        self.measured_s = 0.0

    def run(self, cases: Sequence[Case]) -> list[dict[str, Any]]:
        """Run every case not yet recorded; return all rows of the run in case order.

        Resume rules: a case with a ``case`` event is done, and a finished
        round (``round`` event) is not run again. A case that was in flight
        when an earlier attempt died (``case_start`` without ``case`` or
        ``round``) runs again, unless that happened in two attempts: then it
        is recorded as ``crash`` without running, so a case that takes the
        whole process down cannot block a resume forever. Ctrl-C stops the
        case in flight (logged as ``case_abort``, which does not count as a
        death) and re-raises after the worker is gone.
        """
        done = self.run_dir.case_events()
        self._done = set(done)
        self._deaths = deaths_in_flight(self.run_dir.events())
        self._rounds = {
            key: {i: Outcome(ev["row"], ev.get("samples") or {}) for i, ev in got.items()}
            for key, got in self.run_dir.round_events().items() if key not in done}
        todo = [c for c in cases if c.key not in done]
        self._total = sum(self._units(c) for c in cases)
        self._finished = self._total - sum(self._units(c) for c in todo) + sum(
            len(self._rounds.get(c.key, {})) for c in todo)
        self.run_dir.append_event({"event": Event.START, "cases": len(cases), "todo": len(todo),
                                   "rounds": self.plan.rounds, "keys": [c.key for c in cases]})
        own = [c for c in todo if not self.world(c)]
        world = [c for c in todo if self.world(c)]
        with private_compile_cache(self.run_dir.run_id):
            for index in range(self.plan.rounds):
                self._run_own([c for c in self.plan.order(own, index)
                               if c.key not in self._done
                               and index not in self._rounds.get(c.key, {})], index)
        if world:
            run_world_cases(self._startable(world), self.device, self.settings,
                            self.run_dir.run_id, self._record)
        if self.plan.rounds > 1:
            self._settle()
        self.run_dir.append_event({"event": Event.END, "parent_cpu_s": self.parent_cpu_s,
                                   "measured_s": self.measured_s})
        rows = self.run_dir.case_events()
        return [rows[c.key]["row"] for c in cases if c.key in rows]

    def _settle(self) -> None:
        """Re-record the cases measured in rounds with the run's pooled interval
        (:func:`~accelbench.measure.rounds.settle_rounds`); a resumed run that already
        settled writes nothing."""
        events = self.run_dir.case_events()
        outcomes = {k: Outcome(ev["row"], ev.get("samples") or {}) for k, ev in events.items()}
        history = self.resettle(outcomes) if self.resettle is not None else None
        if history is not None:
            self.settings = history.settings
        usual = history.usual if history is not None else None
        for key, outcome in settle_rounds(outcomes, self.settings, usual).items():
            if outcome.row != events[key]["row"]:
                self.run_dir.record_case(key, outcome.row, outcome.samples)

    def _units(self, case: Case) -> int:
        """Steps of the progress bar for a case: one per round (world cases run once)."""
        return 1 if self.world(case) else self.plan.rounds

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
        """Record the case's final outcome (all its rounds, or the one that failed)."""
        self.run_dir.record_case(case.key, outcome.row, outcome.samples)
        self._done.add(case.key)
        self._finished += self._units(case) - len(self._rounds.pop(case.key, {}))
        if self.progress:
            self.progress("end", case, self._finished, self._total, outcome)

    def _record_round(self, case: Case, index: int, outcome: Outcome) -> None:
        """Record one round; the case once its last round is in, or a round failed."""
        if self.plan.rounds == 1:
            self._record(case, outcome)
            return
        self.run_dir.record_round(case.key, index, outcome.row, outcome.samples)
        got = self._rounds.setdefault(case.key, {})
        got[index] = outcome
        if outcome.status != Status.OK or len(got) == self.plan.rounds:
            self._finished += 1
            self._record(case, combine_rounds([got[i] for i in sorted(got)], self.settings))
            return
        self._finished += 1
        if self.progress:
            self.progress("end", case, self._finished, self._total, outcome)

    def _run_own(self, cases: Sequence[Case], index: int) -> None:
        if not cases:
            return
        settings = self.plan.settings_for(self.settings, index)
        executor = self.executor or make_executor(
            self.device, settings, self.run_dir.run_id, self.run_dir.path / "worker.log")
        try:
            for case in self._startable(cases):
                wall, cpu = time.perf_counter(), _cpu_seconds()
                try:
                    outcome = executor.run(case)
                except KeyboardInterrupt:
                    self.run_dir.append_event({"event": Event.CASE_ABORT, "key": case.key,
                                               "reason": "interrupted"})
                    raise
                self.parent_cpu_s += _cpu_seconds() - cpu
                self.measured_s += time.perf_counter() - wall
                self._record_round(case, index, outcome)
        finally:
            executor.close()


def _cpu_seconds() -> float:
    """CPU time (user + system) this process has used, all its threads, not its children."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


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
        elif kind in (Event.CASE, Event.ROUND, Event.CASE_ABORT) and isinstance(key, str):
            open_keys.discard(key)
    close_attempt()
    return deaths


def _killed_run_twice(case: Case, device: Device, run_id: str) -> Outcome:
    return failure_row(case, device, run_id, Status.CRASH,
                       "the run died while this case was running, in two attempts; "
                       "not run again")

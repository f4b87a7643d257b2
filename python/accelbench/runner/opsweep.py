"""Running the operator sweep: one case per (operator, dtype), in the supervised worker.

The sweep is an ordinary run of the :class:`~accelbench.runner.suite.Runner`
(event log, resume, the two-deaths rule, progress) whose cases are
(operator, dtype) pairs of kind ``ops``. They all go to one long-lived worker
process (:class:`~accelbench.runner.isolation.IsolatedExecutor` with the task
``ops``), which imports op_db once and runs operator after operator: no
process is started per operator. Only a crash or a hang costs a new worker.
Before each sample the worker writes the sample's index to a small file in
the run directory, so a crash or hang is reported with the sample that
caused it and a reproduction.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from accelbench.devices import Device
from accelbench.kinds import Defect, Status
from accelbench.measure.core import Outcome, Settings
from accelbench.ops.execute import OpOptions
from accelbench.ops.opinfo import OpEntry
from accelbench.ops.repro import defect_record
from accelbench.results import RunDir, atomic
from accelbench.runner.isolation import IsolatedExecutor
from accelbench.runner.suite import ProgressHook, Runner
from accelbench.workloads.base import Case

__all__ = ["DEFAULT_DTYPES", "OPS_KERNEL", "OpsExecutor", "op_cases", "ops_executor", "sweep",
           "write_defects"]

#: The ``kernel`` of every row of an operator sweep.
OPS_KERNEL = "ops"
#: Dtypes swept when ``--dtypes`` is not given.
DEFAULT_DTYPES = ("fp32", "bf16", "fp16")
_INFLIGHT = "ops-sample-in-flight"


def op_cases(entries: Sequence[OpEntry], dtypes: Sequence[str]) -> list[Case]:
    """One case per (operator, dtype) that OpInfo declares for the CPU or CUDA, dtype-major.

    A dtype that no platform declares for an operator (``one_hot`` in fp32) is
    not a case: nobody claims to support it, so it counts in no N of M.
    """
    return [Case(kernel=OPS_KERNEL, case=e.key, dtype=d, params=()) for d in dtypes
            for e in entries if d in e.cpu_dtypes or d in e.cuda_dtypes]


class OpsExecutor:
    """Runs each (operator, dtype) in the worker; adds what the parent knows to its row."""

    def __init__(self, inner: IsolatedExecutor, inflight: Path) -> None:
        self.inner = inner
        self.entries: dict[str, OpEntry] = {}
        self.inflight = inflight

    def _declared(self, case: Case) -> dict[str, Any]:
        entry = self.entries.get(case.case)
        if entry is None:
            return {}
        own = entry.cuda_dtypes if self.inner.device.backend == "cuda" else entry.cpu_dtypes
        return {"declared": case.dtype in own, "declared_cuda": case.dtype in entry.cuda_dtypes}

    def run(self, case: Case) -> Outcome:
        with contextlib.suppress(FileNotFoundError):
            self.inflight.unlink()
        outcome = self.inner.run(case)
        outcome.row.update(self._declared(case))
        if outcome.status in (Status.CRASH, Status.TIMEOUT):
            index = self._sample_in_flight()
            kind = Defect.CRASH if outcome.status == Status.CRASH else Defect.HANG
            where = f" (sample {index})" if index is not None else ""
            outcome.row.update(error=f"{outcome.row.get('error')}{where}", defects=1,
                               defect_kinds=kind.value)
            outcome.samples["defects"] = [defect_record(
                case.case, case.dtype, kind, index, str(outcome.row["error"]),
                self.inner.device.spec)]
        return outcome

    def _sample_in_flight(self) -> int | None:
        try:
            return int(self.inflight.read_text().strip())
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        self.inner.close()
        with contextlib.suppress(FileNotFoundError):
            self.inflight.unlink()


def ops_executor(run: RunDir, device: Device, options: OpOptions, op_timeout: float
                 ) -> OpsExecutor:
    """The sweep's executor, its worker already starting (importing PyTorch and op_db
    while the caller selects the operators)."""
    settings = Settings(case_timeout=op_timeout, rounds=1)
    inflight = run.path / _INFLIGHT
    task = {"kind": OPS_KERNEL, **asdict(options), "progress_file": str(inflight)}
    inner = IsolatedExecutor(device, settings, run.run_id, timeout=op_timeout,
                             log_path=run.path / "worker.log", task=task)
    inner.begin()
    return OpsExecutor(inner, inflight)


def sweep(run: RunDir, executor: OpsExecutor, entries: Sequence[OpEntry],
          cases: Sequence[Case], progress: ProgressHook | None) -> None:
    """Run every case not yet recorded in ``run`` (resume skips the others)."""
    executor.entries = {e.key: e for e in entries}
    inner = executor.inner
    Runner(inner.device, inner.settings, run, progress, executor=executor,
           world=_never).run(cases)


def _never(case: Case) -> bool:
    return False


def write_defects(run: RunDir) -> list[dict[str, Any]]:
    """Every defect of the run's finished cases, in case order; also written to defects.json."""
    defects = [d for ev in run.case_events().values()
               for d in (ev.get("samples") or {}).get("defects") or []]
    text = json.dumps(defects, indent=1)
    atomic.write_bytes(run.path / "defects.json", text.encode())
    return defects

"""``accelbench ops --compile``: the same operator under ``torch.compile``.

The operator is compiled once per (operator, dtype) (``dynamic=False``: each
sample's shapes get their own graph, the recompile limit is raised so that no
sample silently falls back to eager) and run on the first
``compile_samples`` samples that ran eagerly. Each compiled output is compared
with the eager output (the dtype tolerance around the eager result) and with
the float64 reference. Columns: ``compile_status`` (ok, mismatch: outside the
tolerance of eager, error, unsupported), ``compile_error``,
``compile_samples``, ``compile_max_abs_err`` / ``compile_mismatch_frac``
(against float64), ``compile_eager_max_abs_err`` / ``compile_eager_mismatch_frac``
(against eager). Failures and disagreements become defects with a
reproduction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from accelbench.devices import Device
from accelbench.kinds import Defect, Status
from accelbench.measure.core import is_unsupported
from accelbench.ops.outputs import SampleRun, call, compare_outputs, leaves, merge_columns, moved
from accelbench.ops.repro import defect_record
from accelbench.workloads.base import Case

__all__ = ["compile_columns"]

#: Graphs one compiled operator may build (one per sample shape) before dynamo gives up.
RECOMPILE_LIMIT = 64


def _compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    import torch._dynamo

    torch._dynamo.reset()
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit",
                 "accumulated_cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
    return torch.compile(fn, dynamic=False)


def compile_columns(case: Case, fn: Callable[..., Any], runs: list[SampleRun], device: Device,
                    limit: int, kept: Callable[[list[torch.Tensor]], list[torch.Tensor]],
                    random: bool = False
                    ) -> tuple[dict[str, Any], list[list[torch.Tensor]], list[dict[str, Any]]]:
    """Columns, outputs (compiled where it ran, eager elsewhere) and defects of the compiled op.

    ``kept`` selects the outputs that are compared (as for eager); a ``random``
    operator is only run (compiled code draws other random numbers than eager)."""
    outputs = [r.outputs for r in runs]
    vs_eager: dict[str, Any] = {}
    vs_ref: dict[str, Any] = {}
    status, why = Status.OK, None
    defects: list[dict[str, Any]] = []
    compiled = _compiled(fn)
    for k, run in enumerate(runs[:limit]):
        try:
            outs = kept(leaves(call(compiled, moved(run.sample, device.torch_device), device)))
        except Exception as exc:
            text = f"sample {run.index}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}" \
                if str(exc) else f"sample {run.index}: {type(exc).__name__}"
            if status in (Status.OK, Status.MISMATCH, Status.UNSUPPORTED):
                status = Status.UNSUPPORTED if is_unsupported(exc) and status != Status.MISMATCH \
                    else Status.ERROR
                why = text
            if not any(d["kind"] == Defect.COMPILE_FAILURE for d in defects):
                defects.append(defect_record(case.case, case.dtype, Defect.COMPILE_FAILURE,
                                             run.index, text, device.spec))
            continue
        outputs[k] = outs
        if random:
            continue
        columns, differs, _ = compare_outputs(outs, run.outputs)
        for c in columns:
            merge_columns(vs_eager, c)
        if differs and status == Status.OK:
            status, why = Status.MISMATCH, f"sample {run.index}: against eager: {differs}"
            defects.append(defect_record(case.case, case.dtype, Defect.COMPILE_MISMATCH,
                                         run.index, why, device.spec))
        if run.reference is not None:
            for c in compare_outputs(outs, run.reference)[0]:
                merge_columns(vs_ref, c)
    row = {"compile_status": status, "compile_error": why,
           "compile_samples": min(limit, len(runs)),
           "compile_max_abs_err": vs_ref.get("max_abs_err"),
           "compile_mismatch_frac": vs_ref.get("mismatch_frac"),
           "compile_eager_max_abs_err": vs_eager.get("max_abs_err"),
           "compile_eager_mismatch_frac": vs_eager.get("mismatch_frac")}
    return row, outputs, defects

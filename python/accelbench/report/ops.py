"""What an operator sweep says: the summary lines, the defects, and the matrix for publishing.

No torch. The figures come from :mod:`accelbench.analysis.ops`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from accelbench.analysis.ops import DtypeFigures, OpsSummary
from accelbench.kinds import Status

__all__ = ["defect_lines", "ops_markdown", "summary_lines"]

_CELL = {Status.OK.value: "ok", Status.MISMATCH.value: "≠", Status.UNSUPPORTED.value: "—",
         Status.ERROR.value: "error", Status.CRASH.value: "crash",
         Status.TIMEOUT.value: "hang"}


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def _line(f: DtypeFigures) -> str:
    failed = ", ".join(f"{f.counts[s]} {s}" for s in ("mismatch", "error", "crash", "timeout")
                       if f.counts.get(s))
    text = (f"{f.dtype:<5} supported {f.supported} of {f.operators} "
            f"({_pct(f.supported, f.operators)}); of OpInfo's CUDA dtypes "
            f"{f.cuda_declared_supported} of {f.cuda_declared} "
            f"({_pct(f.cuda_declared_supported, f.cuda_declared)})")
    if f.baseline_supported is not None:
        text += f"; {_pct(f.supported, f.baseline_supported)} of the baseline's " \
                f"{f.baseline_supported}"
    text += (f"; consistency {_pct(f.consistent, f.supported)}; determinism "
             f"{_pct(f.deterministic, f.determinism_checked)}")
    return text + (f" [{failed}]" if failed else "")


def summary_lines(summary: OpsSummary) -> list[str]:
    """operators supported N of M per dtype, consistency and determinism rates, defects."""
    lines = ["operators " + ("(two-sided verdicts against " + summary.baseline + ")"
                             if summary.baseline else "(agreement with float64 on the CPU)")]
    lines += ["  " + _line(f) for f in summary.figures]
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary.defects.items()))
    lines.append(f"defects: {kinds or 'none'}")
    return lines


def defect_lines(defects: Sequence[Mapping[str, Any]], limit: int = 20) -> list[str]:
    """One line per defect (op, dtype, sample, kind, detail), the first ``limit`` of them."""
    lines = []
    for d in defects[:limit]:
        where = f" sample {d['sample']}" if d.get("sample") is not None else ""
        lines.append(f"  {d['kind']:<16} {d['op']} {d['dtype']}{where}: "
                     f"{str(d.get('detail') or '')[:160]}")
    if len(defects) > limit:
        lines.append(f"  ... and {len(defects) - limit} more (defects.json has them all, "
                     "each with a reproduction)")
    return lines


def ops_markdown(frame: pd.DataFrame, summary: OpsSummary, source: str = "",
                 defects: Sequence[Mapping[str, Any]] = ()) -> str:
    """``results/<device>/ops.md``: the summary, the operator x dtype matrix, the defects."""
    rows = frame[frame["kernel"] == "ops"]
    dtypes = list(dict.fromkeys(rows["dtype"].astype(str)))
    out = ["# Operator sweep", "",
           "PyTorch OpInfo operators run on this device, every sample input compared with the "
           "float64 result on the CPU (`accelbench ops`). Cells: ok, ≠ (outside the dtype "
           "tolerance), — (not implemented), error, crash, hang; * = nondeterministic.", ""]
    if source:
        out += [source, ""]
    out += [f"- {line.strip()}" for line in summary_lines(summary)[1:]]
    out += ["", "| operator | " + " | ".join(dtypes) + " |",
            "|---|" + "---|" * len(dtypes)]
    cells: dict[tuple[str, str], str] = {}
    for rec in rows.to_dict("records"):
        cell = _CELL.get(str(rec["status"]), str(rec["status"]))
        if rec.get("deterministic") is False:
            cell += "*"
        cells[(str(rec["case"]), str(rec["dtype"]))] = cell
    for op in sorted(dict.fromkeys(rows["case"].astype(str))):
        out.append(f"| `{op}` | " + " | ".join(cells.get((op, d), "") for d in dtypes) + " |")
    if defects:
        out += ["", "## Defects", "", "Reproductions: `defects.json` of the run.", "", "```"]
        out += [line.strip() for line in defect_lines(defects, limit=100)]
        out.append("```")
    return "\n".join(out) + "\n"

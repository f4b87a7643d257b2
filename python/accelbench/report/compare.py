"""Output of ``accelbench compare``: a rich table, markdown, CSV or JSON."""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table

from accelbench.analysis.compare import CaseDiff, RunComparison
from accelbench.kinds import Verdict
from accelbench.report.tables import fmt_time

__all__ = ["FORMATS", "render", "rich_table"]

FORMATS = ("table", "markdown", "csv", "json")

_STYLE = {Verdict.SLOWER: "bold red", Verdict.FASTER: "bold green", Verdict.NO_CHANGE: "dim"}
_HEAD = ("kernel", "case", "dtype", "A median", "B median", "B/A", "95% CI", "p", "verdict")
#: With several runs per side: runs per side and their between-run spread.
_RUN_HEAD = ("runs A/B", "run spread A/B")


def _ratio(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.3f}"


def _p(value: float) -> str:
    return "-" if not math.isfinite(value) else ("<1e-16" if value < 1e-16 else f"{value:.2g}")


def _spread(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{100 * value:.1f}%"


def _head(result: RunComparison) -> tuple[str, ...]:
    return _HEAD[:-1] + _RUN_HEAD + _HEAD[-1:] if result.multi_run else _HEAD


def _cells(c: CaseDiff, multi_run: bool = False) -> list[str]:
    cells = [c.kernel, c.case, c.dtype, fmt_time(c.median_a_s), fmt_time(c.median_b_s),
             _ratio(c.ratio), f"[{_ratio(c.ci_low)}, {_ratio(c.ci_high)}]", _p(c.p_value)]
    if multi_run:
        cells += [f"{c.n_runs_a}/{c.n_runs_b}", f"{_spread(c.spread_a)}/{_spread(c.spread_b)}"]
    return [*cells, c.verdict]


def _summary(result: RunComparison) -> str:
    n = result.counts()
    return (f"{len(result.cases)} cases compared: {n['slower']} slower, {n['faster']} faster, "
            f"{n['no change']} no change (threshold {100 * result.threshold:g}%, "
            f"alpha {result.alpha:g}"
            + (f", {len(result.runs_a)} runs of A, {len(result.runs_b)} of B)"
               if result.multi_run else ")"))


def _title(result: RunComparison) -> str:
    if result.multi_run:
        return f"B ({len(result.runs_b)} runs)  vs  A ({len(result.runs_a)} runs)"
    return f"B = {result.run_b}  vs  A = {result.run_a}"


def rich_table(result: RunComparison) -> Table:
    table = Table(title=_title(result), header_style="bold")
    for name in _head(result):
        table.add_column(name, justify="left" if name in ("kernel", "case", "dtype") else "right")
    for c in result.cases:
        cells = _cells(c, result.multi_run)
        cells[-1] = f"[{_STYLE[c.verdict]}]{c.verdict}[/]"
        table.add_row(*cells)
    return table


def _markdown(result: RunComparison) -> str:
    lines = [f"# B `{result.run_b}` vs A `{result.run_a}`", "", _summary(result), ""]
    if result.warnings:
        lines += [f"> warning: {w}" for w in result.warnings] + [""]
    head = _head(result)
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(x.replace("|", "\\|") for x in _cells(c, result.multi_run))
              + " |" for c in result.cases]
    if result.env_diff:
        lines += ["", "Environment differences:", "", "| key | A | B |", "|---|---|---|"]
        lines += [f"| {k} | {a} | {b} |" for k, a, b in result.env_diff]
    for title, keys in (("Only in A", result.only_a), ("Only in B", result.only_b)):
        if keys:
            lines += ["", f"{title}: " + ", ".join(" ".join(k) for k in keys)]
    return "\n".join(lines) + "\n"


def render(result: RunComparison, fmt: str, console: Console, err: Console) -> None:
    """Print the comparison in ``fmt`` (data on stdout, warnings on stderr)."""
    if fmt == "json":
        console.out(json.dumps(result.as_dict(), indent=2, sort_keys=False), highlight=False)
        return
    if fmt == "csv":
        console.out(result.frame().to_csv(index=False), end="", highlight=False)
        return
    if fmt == "markdown":
        console.out(_markdown(result), end="", highlight=False)
        return
    for w in result.warnings:
        err.print(f"warning: {w}", markup=False, highlight=False)
    for key, a, b in result.env_diff:
        err.print(f"  {key}: {a} -> {b}", markup=False, highlight=False)
    console.print(rich_table(result))
    console.print(_summary(result), markup=False, highlight=False)
    if result.multi_run:
        console.print(f"  A: {result.run_a}\n  B: {result.run_b}", markup=False,
                      highlight=False)
    for c in result.cases:
        if c.note:
            console.print(f"  note: {c.kernel} {c.case} {c.dtype}: {c.note}", markup=False,
                          highlight=False)
    for title, keys in (("only in A", result.only_a), ("only in B", result.only_b)):
        for k in keys:
            console.print(f"  {title}: {' '.join(k)}", markup=False, highlight=False)
    for nc in result.not_compared:
        console.print(f"  not compared: {' '.join(nc[:3])} ({nc[3]})", markup=False,
                      highlight=False)

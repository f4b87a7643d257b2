"""Human-readable tables: run summary, collectives, roofline, support, consistency, compiled.

Every table the CLI prints is built here, and printed on a :func:`console`:
on a terminal rich fits it to the window; in a pipe or a CI log it is
printed at its natural width (rich would otherwise cut it to 80 columns).
"""

from __future__ import annotations

import math
import os
import sys
from typing import IO, Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from accelbench.analysis.consistency import Consistency
from accelbench.analysis.roofline import is_set
from accelbench.kinds import Agreement, CIMethod, Status, StopReason
from accelbench.results.pooled import rerun_half_width
from accelbench.results.schema import as_float

__all__ = [
    "collectives_table",
    "compile_table",
    "consistency_table",
    "console",
    "fmt_bytes",
    "fmt_time",
    "print_errors",
    "roofline_table",
    "summary_table",
    "support_table",
]

_STATUS_STYLE: dict[str, str] = {
    Status.OK: "green", Status.UNSUPPORTED: "dim", Status.ERROR: "red",
    Status.CRASH: "bold red", Status.TIMEOUT: "red", Status.MISMATCH: "magenta",
    Status.COMPILE_ERROR: "red",
}
#: Width of a console that is not a terminal: wide enough for any table we print.
PIPE_WIDTH = 400


def console(stderr: bool = False, file: IO[str] | None = None, **kwargs: Any) -> Console:
    """A rich console that keeps tables whole when output goes to a pipe or file.

    On a terminal (or when ``COLUMNS`` is set) rich's own width applies;
    otherwise tables get :data:`PIPE_WIDTH` columns, so nothing is folded or
    cut, and lines end where the table ends.
    """
    stream = file or (sys.stderr if stderr else sys.stdout)
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, **kwargs)


def fmt_time(seconds: Any) -> str:
    """Seconds to a short string with a sensible unit (ns, µs, ms, s)."""
    value = as_float(seconds)
    if value is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def _fmt(value: Any, spec: str) -> str:
    num = as_float(value)
    return "-" if num is None else format(num, spec)


def _percent(value: Any) -> str:
    num = as_float(value)
    return "-" if num is None else f"{100 * num:.2f}%"


def summary_table(frame: pd.DataFrame, title: str = "") -> Table:
    """One line per case: median ± CI, throughput, stability, status."""
    table = Table(title=title or None, show_lines=False, header_style="bold")
    for name, justify in (
        ("kernel", "left"), ("case", "left"), ("dtype", "left"), ("status", "left"),
        ("median", "right"), ("±CI", "right"), ("TFLOP/s", "right"), ("GB/s", "right"),
        ("CV", "right"), ("n", "right"), ("rounds", "right"), ("conv", "center"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in frame.to_dict("records"):
        status = str(row["status"])
        conv = row.get("converged")
        table.add_row(
            str(row["kernel"]),
            str(row["case"]),
            str(row["dtype"]),
            f"[{_STATUS_STYLE.get(status, '')}]{status}[/]",
            fmt_time(row.get("median_s")),
            _ci_text(row),
            _fmt(row.get("tflops"), ".3g"),
            _fmt(row.get("gbps"), ".3g"),
            _fmt(row.get("cv"), ".3f"),
            _fmt(row.get("n_samples"), ".0f"),
            _rounds_text(row),
            _conv_text(row, conv),
        )
    table.caption = _int_caption(frame)
    return table


def _int_caption(frame: pd.DataFrame) -> str | None:
    """int8 rows count integer operations: their TFLOP/s column reads TOP/s."""
    if "dtype" in frame and (frame["dtype"] == "int8").any():
        return "int8 rows: TOP/s (integer multiply-adds, 2 operations each)"
    return None


def _ci_text(row: dict[Any, Any]) -> str:
    """The CI's half-width; an interval that is only (min, max) of < 6 samples says so."""
    text = _percent(row.get("rel_ci"))
    return f"{text} (min-max)" if row.get("ci_method") == CIMethod.MIN_MAX else text


def _rounds_text(row: dict[Any, Any]) -> str:
    """Rounds and how far their medians spread: ``3 ~12%``."""
    n = as_float(row.get("rounds"))
    if n is None:
        return "-"
    spread = as_float(row.get("round_spread"))
    return f"{n:.0f}" if spread is None else f"{n:.0f} ~{100 * spread:.0f}%"


def _conv_text(row: dict[Any, Any], conv: Any) -> str:
    if conv is None or conv is pd.NA:
        return "-"
    if conv:
        return "yes"
    return "[yellow]unstable[/]" if row.get("stop_reason") == StopReason.UNSTABLE else \
        "[yellow]no[/]"


def advice(frame: pd.DataFrame, target_rel_ci: float, drift_sd: float = 0.0) -> list[str]:
    """What the figures of a run mean when cases did not converge, and what to do (1-3 lines).
    ``drift_sd``: the machine's drift between runs the run's intervals include (log scale)."""
    if frame.empty or "converged" not in frame:
        return []
    ok = frame[frame["status"] == Status.OK]
    loose = ok[ok["converged"].eq(False)]  # booleans or NA (a case without the column)
    if loose.empty:
        return []
    unstable = int((loose["stop_reason"] == StopReason.UNSTABLE).sum())
    lines = [f"{len(loose)} of {len(ok)} measured cases did not reach the ±{100 * target_rel_ci:g}%"
             " target (conv no/unstable): their medians stand, but only within the ±CI shown."]
    floor = math.expm1(rerun_half_width(drift_sd**2, 0.95))
    if floor > target_rel_ci:
        lines.append(f"This machine's drift between runs alone moves a rerun by up to "
                     f"±{100 * floor:.1f}%, more than the target: no budget or rounds reach "
                     "it. Quiet the machine (no other load; fixed clocks where the device has "
                     "them), then accelbench calibrate again.")
    else:
        lines.append("For tighter figures: a longer --max-case-time, more --rounds"
                     + (f" ({unstable} unstable: their rounds disagree)" if unstable else "")
                     + ", and a quieter machine (no other load; fixed clocks where the "
                     "device has them).")
    if (ok.get("ci_method") == CIMethod.MIN_MAX).any():
        lines.append("(min-max): fewer than 6 samples, the CI is their range "
                     "(about 75% coverage at 3 samples); give --min-samples 6 or more.")
    return lines


def print_errors(frame: pd.DataFrame, out: Console) -> None:
    """List the reason of every case that is not ok."""
    bad = frame[frame["status"] != Status.OK]
    for row in bad.to_dict("records"):
        what = f"{row['kernel']} {row['case']} {row['dtype']}"
        out.print(f"  {row['status']}: {what}: {row['error']}",
                      markup=False, highlight=False)


def fmt_bytes(value: Any) -> str:
    """Bytes with a binary unit (``1 MiB``, ``4 KiB``, ``1000 B``)."""
    num = as_float(value)
    if num is None:
        return "-"
    for unit, scale in (("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10)):
        if num >= scale:
            return f"{num / scale:.4g} {unit}"
    return f"{num:.0f} B"


def collectives_table(frame: pd.DataFrame, title: str = "") -> Table:
    """Collective cases as nccl-tests prints them: size, time, algbw, busbw, plus rank skew."""
    table = Table(title=title or None, show_lines=False, header_style="bold")
    for name, justify in (
        ("case", "left"), ("dtype", "left"), ("ranks", "right"), ("size", "right"),
        ("time", "right"), ("±CI", "right"), ("algbw GB/s", "right"), ("busbw GB/s", "right"),
        ("rank medians min/med/max", "right"), ("skew", "right"), ("wrong", "right"),
        ("status", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    rows = frame[frame["kernel"] == "collectives"]
    for row in rows.to_dict("records"):
        status = str(row["status"])
        table.add_row(
            str(row["case"]), str(row["dtype"]), _fmt(row.get("world_size"), ".0f"),
            fmt_bytes(row.get("bytes")), fmt_time(row.get("median_s")),
            _percent(row.get("rel_ci")), _fmt(row.get("algbw_gbps"), ".3g"),
            _fmt(row.get("busbw_gbps"), ".3g"), _rank_spread(row),
            _fmt(row.get("rank_skew"), ".3f"), _percent(row.get("mismatch_frac")),
            f"[{_STATUS_STYLE.get(status, '')}]{status}[/]",
        )
    return table


def _rank_spread(row: dict[str, Any]) -> str:
    """The per-rank distribution of a collective: fastest, median and slowest rank's median."""
    if as_float(row.get("rank_min_s")) is None:
        return "-"
    parts = (row.get("rank_min_s"), row.get("rank_median_s"), row.get("median_s"))
    return "/".join(fmt_time(p) for p in parts)


def support_table(matrix: pd.DataFrame, title: str = "support matrix") -> Table:
    """The matrix as a small rich table (zero counts dimmed)."""
    table = Table(title=title, header_style="bold")
    names = matrix.index.names
    for name in names:
        table.add_column(str(name), justify="left")
    for col in matrix.columns:
        table.add_column(str(col), justify="right")
    for index, row in matrix.iterrows():
        labels = index if isinstance(index, tuple) else (index,)
        cells = [str(v) for v in labels]
        for col in matrix.columns:
            value = int(row[col])
            style = "" if col == "total" else ("dim" if value == 0 else (
                "green" if col == Status.OK else "" if col == Status.UNSUPPORTED else "red"))
            cells.append(f"[{style}]{value}[/]" if style else str(value))
        table.add_row(*cells)
    return table


def roofline_table(frame: pd.DataFrame, title: str = "roofline") -> Table | None:
    """Compact table of ok rows with a throughput: achieved vs peak vs best matmul."""
    if "pct_of_peak" not in frame or frame.empty:
        return None
    rows = frame[(frame["status"] == Status.OK) & (frame["tflops"].notna() | frame["gbps"].notna())]
    if rows.empty:
        return None
    table = Table(title=title or None, header_style="bold")
    for name in ("kernel", "case", "dtype", "TFLOP/s", "peak", "GB/s", "peak GB/s", "% peak",
                 "% best mm", "flag"):
        table.add_column(name, justify="left" if name in ("kernel", "case", "dtype", "flag")
                         else "right")
    for row in rows.to_dict("records"):
        suspect = row.get("suspect")
        flag = "[bold red]SUSPECT > peak[/]" if is_set(suspect) else ""
        if is_set(row.get("peak_estimated")) and not flag:
            flag = "[dim]est. peak[/]"
        table.add_row(
            str(row["kernel"]), str(row["case"]), str(row["dtype"]),
            _fmt(row.get("tflops"), ".3g"), _fmt(row.get("peak_tflops"), ".4g"),
            _fmt(row.get("gbps"), ".3g"), _fmt(row.get("peak_gbps"), ".4g"),
            _fmt(row.get("pct_of_peak"), ".1f"), _fmt(row.get("pct_of_best_matmul"), ".1f"),
            flag,
        )
    table.caption = _int_caption(rows)
    return table


def consistency_table(result: Consistency) -> Table:
    """Per-case agreement of each run with the baseline, coloured by class."""
    table = Table(title=f"consistency with {result.runs[0]}")
    for col in ("run", "kernel", "case", "dtype", "status", "ulp_max"):
        table.add_column(col, justify="right" if col == "ulp_max" else "left")
    style = {Agreement.BITWISE: "green", Agreement.WITHIN_TOLERANCE: "yellow",
             Agreement.DISCREPANT: "red"}
    for r in result.table.to_dict("records"):
        ulp = as_float(r["ulp_max"])  # missing when the case has no fingerprint to compare
        status = Agreement(r["status"])
        table.add_row(str(r["run"]), str(r["kernel"]), str(r["case"]), str(r["dtype"]),
                      f"[{style[status]}]{status}[/]", "" if ulp is None else f"{ulp:.0f}")
    return table


def consistency_lines(result: Consistency) -> list[str]:
    """One line per compared run: its consistency rate and class counts."""
    lines = []
    for name in result.runs[1:]:
        counts = result.table[result.table["run"] == name]["status"].value_counts()
        lines.append(f"{name}: consistency {100 * result.rate(name):.1f}% "
                     f"(bitwise {counts.get(Agreement.BITWISE, 0)}, within tolerance "
                     f"{counts.get(Agreement.WITHIN_TOLERANCE, 0)}, discrepant "
                     f"{counts.get(Agreement.DISCREPANT, 0)})")
    return lines


def consistency_text(result: Consistency, fmt: str) -> str:
    """CSV or markdown text of the per-case table plus the rate lines (markdown)."""
    t = result.table[["run", "kernel", "case", "dtype", "status", "ulp_max", "hash_base",
                      "hash_run"]]
    if fmt == "csv":
        return str(t.to_csv(index=False))
    lines = ["| run | kernel | case | dtype | status | ulp_max | hash (baseline) | hash (run) |",
             "|---|---|---|---|---|---:|---|---|"]
    for r in t.itertuples(index=False):
        ulp = "" if pd.isna(r.ulp_max) else f"{r.ulp_max:.0f}"
        lines.append(f"| {r.run} | {r.kernel} | {r.case} | {r.dtype} | {r.status} | {ulp} "
                     f"| {r.hash_base} | {r.hash_run} |")
    lines.append("")
    for name in result.runs[1:]:
        lines.append(f"consistency of {name} with {result.runs[0]}: "
                     f"{100 * result.rate(name):.1f}%")
    return "\n".join(lines) + "\n"


def compile_table(pairs: pd.DataFrame, title: str = "eager vs compiled") -> Table | None:
    """The blocks' eager/compiled pairs (:func:`accelbench.analysis.compiled.compile_pairs`)."""
    if pairs.empty or not pairs["compiled_status"].map(lambda s: isinstance(s, str)).any():
        return None
    table = Table(title=title or None, header_style="bold")
    for name in ("case", "dtype", "eager", "compiled", "speed-up", "compile", "break-even calls",
                 "f64 err eager", "f64 err compiled", "vs eager abs", "vs eager ULP", "status"):
        table.add_column(name, justify="left" if name in ("case", "dtype", "status")
                         else "right")
    for row in pairs.to_dict("records"):
        if not isinstance(row.get("compiled_status"), str):
            continue  # an eager case without its compiled partner in this run
        status = str(row["compiled_status"])
        breakeven = as_float(row.get("breakeven_calls"))
        calls = ("never" if row.get("breakeven_calls") == float("inf") else
                 "-" if breakeven is None else f"{breakeven:.3g}")
        table.add_row(
            str(row["case"]), str(row["dtype"]), fmt_time(row.get("eager_s")),
            fmt_time(row.get("compiled_s")), _fmt(row.get("speedup"), ".2f"),
            fmt_time(row.get("compile_s")), calls, _fmt(row.get("eager_max_abs_err"), ".2g"),
            _fmt(row.get("compiled_max_abs_err"), ".2g"),
            _fmt(row.get("vs_eager_max_abs_err"), ".2g"), _fmt(row.get("vs_eager_ulp_max"), ".0f"),
            f"[{_STATUS_STYLE.get(status, '')}]{status}[/]",
        )
    return table

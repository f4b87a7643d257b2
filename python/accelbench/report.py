"""Human-readable output: the end-of-run summary table and value formatting."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

__all__ = ["collectives_table", "fmt_bytes", "fmt_time", "summary_table"]

_STATUS_STYLE = {
    "ok": "green", "unsupported": "dim", "error": "red", "crash": "bold red",
    "timeout": "red", "mismatch": "magenta",
}


def as_float(value: Any) -> float | None:
    """A finite float, or None for missing, NA, non-numeric and non-finite values."""
    if value is None or value is pd.NA:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


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
        ("CV", "right"), ("n", "right"), ("conv", "center"),
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
            _percent(row.get("rel_ci")),
            _fmt(row.get("tflops"), ".3g"),
            _fmt(row.get("gbps"), ".3g"),
            _fmt(row.get("cv"), ".3f"),
            _fmt(row.get("n_samples"), ".0f"),
            "-" if conv is None or conv is pd.NA else ("yes" if conv else "[yellow]no[/]"),
        )
    return table


def print_errors(frame: pd.DataFrame, console: Console) -> None:
    """List the reason of every case that is not ok."""
    bad = frame[frame["status"] != "ok"]
    for row in bad.to_dict("records"):
        what = f"{row['kernel']} {row['case']} {row['dtype']}"
        console.print(f"  {row['status']}: {what}: {row['error']}",
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
        ("skew", "right"), ("wrong", "right"), ("status", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    rows = frame[frame["kernel"] == "collectives"]
    for row in rows.to_dict("records"):
        status = str(row["status"])
        table.add_row(
            str(row["case"]), str(row["dtype"]), _fmt(row.get("world_size"), ".0f"),
            fmt_bytes(row.get("bytes")), fmt_time(row.get("median_s")),
            _percent(row.get("rel_ci")), _fmt(row.get("algbw_gbps"), ".3g"),
            _fmt(row.get("busbw_gbps"), ".3g"), _fmt(row.get("rank_skew"), ".3f"),
            _percent(row.get("mismatch_frac")),
            f"[{_STATUS_STYLE.get(status, '')}]{status}[/]",
        )
    return table

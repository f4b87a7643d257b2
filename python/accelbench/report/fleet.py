"""The fleet table (people) and the fleet summary (schedulers) of a fleet run's rows."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from accelbench.report.tables import fmt_time
from accelbench.results.schema import as_float

__all__ = ["fleet_summary", "fleet_table"]

#: Above this many ranks the table lists flagged ranks only.
FULL_TABLE_RANKS = 64


def _ratio(row: pd.Series) -> str:
    ratio, lo, hi = (as_float(row.get(c)) for c in ("fleet_ratio", "fleet_ci_low",
                                                     "fleet_ci_high"))
    if ratio is None:
        return "-"
    ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{ratio:.3f}{ci}"


def fleet_table(frame: pd.DataFrame, title: str) -> Table:
    """One line per case and rank: host, device, median, fleet_ratio with CI, flags."""
    table = Table(title=title)
    for col in ("case", "rank", "host", "device", "median", "fleet_ratio [CI]", "flag"):
        table.add_column(col, justify="right" if col in ("rank", "median") else "left")
    big = frame["rank"].nunique() > FULL_TABLE_RANKS
    for _, row in frame.sort_values(["kernel", "case", "dtype", "rank"]).iterrows():
        flag = row.get("fleet_flag")
        flagged = isinstance(flag, str) and bool(flag)
        if big and not flagged:
            continue
        table.add_row(f"{row['kernel']} {row['case']} {row['dtype']}", str(row["rank"]),
                      str(row["host"]), str(row["device"]), fmt_time(row.get("median_s")),
                      _ratio(row), f"[red]{flag}[/red]" if flagged else "")
    return table


def fleet_summary(frame: pd.DataFrame, *, threshold: float, failure: str | None,
                  failed_ranks: dict[int, str | None]) -> dict[str, Any]:
    """The JSON summary: world, verdict, and each flagged (case, rank) with its evidence."""
    flagged: list[dict[str, Any]] = []
    for _, row in frame.iterrows():
        flag = row.get("fleet_flag")
        if isinstance(flag, str) and flag:
            flagged.append({
                "rank": int(row["rank"]), "host": str(row["host"]), "device": str(row["device"]),
                "case": f"{row['kernel']} {row['case']} {row['dtype']}", "flags": flag.split(","),
                "fleet_ratio": as_float(row.get("fleet_ratio")),
                "ci": [as_float(row.get("fleet_ci_low")), as_float(row.get("fleet_ci_high"))],
                "detail": None if pd.isna(row.get("error")) else str(row.get("error")),
            })
    ranks = sorted({int(f["rank"]) for f in flagged} | set(failed_ranks))
    hosts: dict[int, str | None] = dict(failed_ranks)
    if len(frame):
        hosts.update((int(r), str(h)) for r, h in zip(frame["rank"], frame["host"], strict=True))
    return {
        "world_size": int(frame["rank"].nunique()) if len(frame) else None,
        "cases": int(frame[["kernel", "case", "dtype"]].drop_duplicates().shape[0]),
        "threshold": threshold,
        "healthy": not ranks and failure is None,
        "flagged_ranks": [{"rank": r, "host": hosts.get(r)} for r in ranks],
        "flagged": flagged,
        "failure": failure,
    }

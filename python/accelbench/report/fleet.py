"""The fleet table and plot (people) and the fleet summary (schedulers) of a fleet run's rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from accelbench.report.tables import fmt_time
from accelbench.results.schema import as_float

__all__ = ["fleet_summary", "fleet_table", "plot_fleet"]

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


def _throughput(rows: pd.DataFrame) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(unit, per-rank throughput, CI low, CI high) of one case's rows.

    TFLOP/s when the case counts FLOPs, else GB/s when it counts bytes, else
    launches per second. The CI follows from the ratio's: throughput x ratio /
    ci_high .. throughput x ratio / ci_low (the world median cancels out).
    """
    unit, col = ("TFLOP/s", "tflops") if rows["tflops"].notna().all() else (
        ("GB/s", "gbps") if rows["gbps"].notna().all() else ("launches/s", ""))
    value = rows[col].to_numpy(float) if col else 1.0 / rows["median_s"].to_numpy(float)
    ratio = rows["fleet_ratio"].to_numpy(float)
    low = value * ratio / rows["fleet_ci_high"].to_numpy(float)
    high = value * ratio / rows["fleet_ci_low"].to_numpy(float)
    return unit, value, low, high


def plot_fleet(frame: pd.DataFrame, path: Path, threshold: float) -> Path | None:
    """``fleet.png``: every device's throughput with its CI, one panel per case.

    Flagged ranks are red; the line is the world median, the dashed line the
    flagging threshold (a rank is flagged when its whole CI is below it).
    Nothing is drawn when no case has per-rank medians (or matplotlib is missing).
    """
    ok = frame[frame["fleet_ratio"].notna() & frame["median_s"].notna()]
    cases = list(dict.fromkeys(zip(ok["kernel"], ok["case"], ok["dtype"], strict=True)))
    if not cases:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    cols = min(3, len(cases))
    nrows = -(-len(cases) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.2 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, cases, strict=False):
        rows = ok[(ok["kernel"] == key[0]) & (ok["case"] == key[1]) & (ok["dtype"] == key[2])]
        rows = rows.sort_values("rank")
        unit, value, low, high = _throughput(rows)
        flagged = rows["fleet_flag"].map(lambda f: isinstance(f, str) and bool(f)).to_numpy()
        ranks = rows["rank"].to_numpy(int)
        for mask, color in ((~flagged, "tab:blue"), (flagged, "tab:red")):
            ax.errorbar(ranks[mask], value[mask], yerr=[value[mask] - low[mask],
                                                        high[mask] - value[mask]],
                        fmt="o", color=color, ms=3, capsize=2)
        world = float(np.median(value * rows["fleet_ratio"].to_numpy(float)))
        ax.axhline(world, color="grey", lw=1)
        ax.axhline(world / (1 + threshold), color="grey", lw=1, ls="--")
        ax.set_title(" ".join(key), fontsize="small")
        ax.set_xlabel("rank")
        ax.set_ylabel(unit)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(cases):]:
        ax.set_visible(False)
    fig.suptitle("throughput per device with the CI of its median; red: flagged, "
                 "line: world median, dashed: threshold")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path

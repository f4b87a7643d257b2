"""Sustained-load outputs of a run: ``sustain.parquet`` and the ``sustain.png`` curve.

Reads the windows that :mod:`accelbench.measure.sustain` stored in the event
log; no torch.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from accelbench.results.rundir import RunDir

__all__ = ["sustain_frame", "write_outputs"]


def sustain_frame(run: RunDir) -> pd.DataFrame:
    """One row per window of every sustained case in ``run``."""
    records = []
    for ev in run.case_events().values():
        smp = ev.get("samples") or {}
        info = smp.get("sustain")
        if not info:
            continue
        row = ev["row"]
        flags = smp.get("throttled") or []
        for i, (t, sec) in enumerate(zip(info["t"], smp["seconds"], strict=False)):
            records.append({
                "kernel": row["kernel"], "case": row["case"], "dtype": row["dtype"],
                "t_s": t, "seconds": sec,
                "tflops": info["flops"] / sec / 1e12 if info.get("flops") and sec > 0 else None,
                "gbps": info["bytes"] / sec / 1e9 if info.get("bytes") and sec > 0 else None,
                "throttled": flags[i] if i < len(flags) else None,
            })
    return pd.DataFrame.from_records(records)


def write_outputs(run: RunDir) -> Path | None:
    """Write ``sustain.parquet`` and ``sustain.png`` (needs matplotlib); the plot's path."""
    frame = sustain_frame(run)
    if frame.empty:
        return None
    frame.to_parquet(run.path / "sustain.parquet", index=False)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    events = {ev["row"]["case"] + " " + ev["row"]["dtype"]: ev
              for ev in run.case_events().values() if (ev.get("samples") or {}).get("sustain")}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for (case, dtype), part in frame.groupby(["case", "dtype"], sort=False):
        y = part["tflops"] if part["tflops"].notna().all() else 1.0 / part["seconds"]
        top.plot(part["t_s"], y, label=f"{case} {dtype}")
        hot = part[part["throttled"] == True]  # noqa: E712 (nullable boolean)
        if not hot.empty:
            top.scatter(hot["t_s"], y[hot.index], color="red", s=8, zorder=3)
        tele = pd.DataFrame(events[f"{case} {dtype}"]["samples"]["sustain"]["telemetry"])
        if not tele.empty:
            bottom.plot(tele["t"], tele["sm_clock_mhz"], label=f"SM clock MHz ({case})")
            if tele["power_w"].notna().any():
                bottom.plot(tele["t"], tele["power_w"], label="power W")
            if tele["temp_c"].notna().any():
                bottom.plot(tele["t"], tele["temp_c"], label="temperature C")
    top.set_ylabel("TFLOP/s (launches/s without FLOP count)")
    top.set_title("sustained throughput (red: window overlapping a throttled reading)")
    top.legend(fontsize=8)
    bottom.set_xlabel("time since start of sustained run, s")
    if bottom.lines:
        bottom.legend(fontsize=8)
    fig.tight_layout()
    path = run.path / "sustain.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

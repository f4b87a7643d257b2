"""Plots of a published run (matplotlib, Agg backend, PNG).

Every function takes the results table (and, for the stability view, the raw
samples) and writes zero or one PNG, returning the path or None when the run
has nothing to draw. Which plots exist therefore depends only on the data:

* ``throughput_<kernel>.png``: throughput against problem size, one series
  per dtype (TFLOP/s against FLOPs when the family counts FLOPs, else GB/s
  against bytes); skipped for collectives, which get their own plot;
* ``attention_seqlen.png``: attention TFLOP/s against sequence length (the
  ``s=``/``seq=`` parameter), one series per variant and dtype;
* ``collectives_busbw.png``: bus bandwidth against message size per
  collective (nccl-tests' busbw);
* ``stability_<kernel>.png``: the distribution of every case's raw samples
  divided by the case's median (box: quartiles, whiskers: Tukey's 1.5 IQR),
  so a glance shows which cases are noisy, skewed or bimodal;
* ``roofline.png``: achieved TFLOP/s against arithmetic intensity
  (FLOPs / byte) under the device's compute and bandwidth roofs, read from
  the table's ``peak_tflops``/``peak_gbps`` columns (the roofline
  annotation decides the peaks once; the CPU gets its labelled estimate).

PNG metadata that would change between identical runs (the software
version stamp) is left out, so re-publishing the same data gives the same
files with the same matplotlib.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelbench.errors import UsageError
from accelbench.kinds import Status

__all__ = [
    "PLOT_EXTRA",
    "PlotFn",
    "make_plots",
    "require_matplotlib",
    "roofs_of",
    "seq_len",
    "series_name",
]

PlotFn = Callable[..., "Path | None"]
_DPI = 110
_SEQ = re.compile(r"(?:^|[\s,])(?:s|seq|seq_len|S)=(\d+)")
_SIZE_TOKEN = re.compile(r"\s*\b(?:s|seq|seq_len|S|T|M|size|bytes)=\S+")


#: The one command that installs what the plots need.
PLOT_EXTRA = "pip install 'accelbench[plot]'"


def require_matplotlib(what: str) -> None:
    """A one-line UsageError naming the extra to install when matplotlib is missing.

    matplotlib stays optional: only ``publish`` and ``run --sustain`` draw,
    and measuring machines and CI jobs need neither it nor its dependencies.
    Called before anything is written, so a missing package costs no work.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"{what} with matplotlib, which is not installed: {PLOT_EXTRA}") from None


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, metadata={"Software": None}, bbox_inches="tight")
    _plt().close(fig)
    return path


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == Status.OK]


def seq_len(row: pd.Series) -> float | None:
    """Sequence length of an attention case, from ``params`` or the case name."""
    for text in (row.get("params"), row.get("case")):
        m = _SEQ.search(str(text or ""))
        if m:
            return float(m.group(1))
    return None


def series_name(case: str) -> str:
    """A case name without its size token (``prefill s=4096`` -> ``prefill``)."""
    return _SIZE_TOKEN.sub("", case).strip() or case


def plot_throughput(frame: pd.DataFrame, kernel: str, out: Path) -> Path | None:
    rows = _ok(frame[frame["kernel"] == kernel])
    if rows.empty or rows["busbw_gbps"].notna().any():
        return None
    use_flops = rows["tflops"].notna().any()
    x_col, y_col = ("flops", "tflops") if use_flops else ("bytes", "gbps")
    rows = rows[rows[x_col].notna() & rows[y_col].notna()]
    if rows.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for dtype in sorted(rows["dtype"].unique()):
        d = rows[rows["dtype"] == dtype].sort_values([x_col, "case"])
        ax.plot(d[x_col], d[y_col], "o-" if len(d) > 1 else "o", label=dtype, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per launch" if use_flops else "bytes per launch")
    ax.set_ylabel("TFLOP/s" if use_flops else "GB/s")
    ax.set_title(f"{kernel}: throughput vs problem size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="dtype")
    return _save(fig, out / f"throughput_{_slug(kernel)}.png")


def plot_attention(frame: pd.DataFrame, out: Path) -> Path | None:
    rows = _ok(frame[frame["kernel"] == "attention"]).copy()
    if rows.empty:
        return None
    rows["seq"] = [seq_len(r) for _, r in rows.iterrows()]
    rows = rows[rows["seq"].notna() & rows["tflops"].notna()]
    if rows.empty:
        return None
    rows["series"] = [f"{series_name(c)} {d}" for c, d in zip(rows["case"], rows["dtype"],
                                                               strict=True)]
    return _series_plot(rows, "seq", "tflops", "sequence length", "TFLOP/s",
                        "attention: TFLOP/s vs sequence length", out / "attention_seqlen.png")


def plot_collectives(frame: pd.DataFrame, out: Path) -> Path | None:
    rows = _ok(frame)
    rows = rows[rows["busbw_gbps"].notna() & rows["bytes"].notna()]
    if rows.empty:
        return None
    rows = rows.assign(series=[f"{series_name(c)} {d}" for c, d in
                               zip(rows["case"], rows["dtype"], strict=True)])
    return _series_plot(rows, "bytes", "busbw_gbps", "message size per rank, bytes",
                        "bus bandwidth, GB/s (nccl-tests busbw)",
                        "collectives: bus bandwidth vs message size",
                        out / "collectives_busbw.png")


def _series_plot(rows: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str, title: str,
                 path: Path) -> Path | None:
    """One line per ``series`` value, y against x on a log2 x axis."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in sorted(rows["series"].unique()):
        d = rows[rows["series"] == name].sort_values(x)
        ax.plot(d[x], d[y], "o-", label=name, alpha=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_stability(frame: pd.DataFrame, samples: dict[tuple[str, str, str], np.ndarray],
                   kernel: str, out: Path) -> Path | None:
    rows = _ok(frame[frame["kernel"] == kernel])
    data, labels = [], []
    for _, r in rows.iterrows():
        x = samples.get((str(r["kernel"]), str(r["case"]), str(r["dtype"])))
        if x is None or len(x) == 0:
            continue
        data.append(x / np.median(x))
        labels.append(f"{r['case']} {r['dtype']}")
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.28 * len(data)))
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    # `orientation` replaced `vert` in matplotlib 3.10 (and `vert` warns from 3.11).
    horizontal: dict[str, Any] = ({"orientation": "horizontal"} if (major, minor) >= (3, 10)
                                  else {"vert": False})
    ax.boxplot(data[::-1], whis=1.5, widths=0.6, flierprops={"markersize": 2, "alpha": 0.4},
               **horizontal)
    ax.set_yticks(range(1, len(labels) + 1), labels[::-1], fontsize="small")
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("sample / median of the case")
    ax.set_title(f"{kernel}: stability (distribution of raw samples)")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, out / f"stability_{_slug(kernel)}.png")


def roofs_of(frame: pd.DataFrame) -> dict[str, tuple[float, float | None]]:
    """Per dtype, (peak TFLOP/s, peak GB/s) as the roofline annotation decided them.

    The peaks come from the results table's ``peak_tflops``/``peak_gbps``
    columns (:func:`accelbench.analysis.roofline.annotate`), so the plot
    shows exactly the ceilings the table reports; dtypes without a compute
    peak get no roof.
    """
    out: dict[str, tuple[float, float | None]] = {}
    if "peak_tflops" not in frame:
        return out
    for dtype, part in frame.groupby("dtype", sort=True):
        tflops = part["peak_tflops"].dropna()
        if tflops.empty:
            continue
        gbps = part["peak_gbps"].dropna() if "peak_gbps" in part else pd.Series(dtype="float64")
        out[str(dtype)] = (float(tflops.max()), float(gbps.max()) if not gbps.empty else None)
    return out


def plot_roofline(frame: pd.DataFrame, device_name: str, out: Path) -> Path | None:
    """Cases at their arithmetic intensity under the device's roofs (needs known peaks)."""
    rows = _ok(frame)
    rows = rows[rows["tflops"].notna() & rows["bytes"].notna() & (rows["bytes"] > 0)]
    if rows.empty:
        return None
    roofs = roofs_of(frame)
    if not roofs:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ai_all = (rows["flops"] / rows["bytes"]).to_numpy()
    grid = np.logspace(np.log10(ai_all.min() / 2), np.log10(ai_all.max() * 2), 200)
    for i, (dtype, (peak, bw)) in enumerate(roofs.items()):
        color = f"C{i}"
        roof = np.full_like(grid, peak) if bw is None else np.minimum(peak, bw * grid / 1e3)
        label = f"{dtype} roof ({peak:.3g} TFLOP/s" + (f", {bw:.3g} GB/s" if bw else "")
        estimated = frame.loc[frame["dtype"] == dtype, "peak_estimated"].fillna(False).any()
        label += ", estimate)" if estimated else ")"
        ax.plot(grid, roof, color=color, lw=1.2, label=label)
        d = rows[rows["dtype"] == dtype]
        ax.scatter(d["flops"] / d["bytes"], d["tflops"], color=color, s=14,
                   label=f"{dtype} cases")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity, FLOPs / byte")
    ax.set_ylabel("TFLOP/s")
    ax.set_title(f"roofline: {device_name}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, out / "roofline.png")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "kernel"


def make_plots(frame: pd.DataFrame, samples: dict[tuple[str, str, str], np.ndarray],
               device_name: str, out: Path) -> list[Path]:
    """Write every plot the data allows into ``out``; return their paths in a fixed order."""
    kernels = sorted(str(k) for k in frame["kernel"].dropna().unique())
    made: list[Path | None] = [plot_throughput(frame, k, out) for k in kernels]
    made += [plot_attention(frame, out), plot_collectives(frame, out)]
    made += [plot_stability(frame, samples, k, out) for k in kernels]
    made.append(plot_roofline(frame, device_name, out))
    return [p for p in made if p is not None]

"""`accelbench publish`: the results folder, determinism of its markdown, plots, the index."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelbench.report.plots import make_plots, seq_len, series_name
from accelbench.report.publish import INDEX_NOTE, publish, render_readme
from accelbench.results import load, read_meta, results_frame
from tests.conftest import FAST, Cli

FIXTURE = Path(__file__).parent / "data" / "published" / "cpu-fixture"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def _embedded(readme: str) -> list[str]:
    return IMAGE.findall(readme)


def test_publish_writes_device_folder_with_embedded_plots(cli: Cli, tiny_suite: Path,
                                                          tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--suite", str(tiny_suite), "--out", "runs", "-q", *FAST)
    assert proc.returncode == 0, proc.stderr
    (run,) = (tmp_path / "runs").iterdir()
    proc = cli("publish", str(run), "--results", "results")
    assert proc.returncode == 0, proc.stderr
    (folder,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    assert folder.name.startswith("cpu-")
    for name in ("README.md", "meta.json", "results.parquet", "results.csv", "samples.parquet"):
        assert (folder / name).is_file(), name
    readme = (folder / "README.md").read_text()
    pngs = sorted(p.relative_to(folder).as_posix() for p in (folder / "plots").glob("*.png"))
    frame = load(run)
    # the roofline is drawn wherever the table has a peak (the CPU's labelled estimate here)
    roofline = ["plots/roofline.png"] if frame["peak_tflops"].notna().any() else []
    assert pngs == [*roofline, "plots/stability_matmul.png", "plots/throughput_matmul.png"]
    assert sorted(_embedded(readme)) == pngs  # every plot embedded, nothing dangling
    assert "## matmul" in readme and "tiny 64" in readme and "TFLOP/s" in readme
    assert str(tmp_path) not in readme
    # where the run's output went on this machine is not recorded, nor published
    assert "--out" not in read_meta(run)["command"]
    meta = dict(read_meta(run), command=["accelbench", "run", "--out", str(tmp_path / "x"),
                                         "--results=" + str(tmp_path), "--suite", "quick"])
    (run / "meta.json").write_text(json.dumps(meta))
    assert cli("publish", str(run), "--results", "results").returncode == 0
    assert read_meta(folder)["command"] == ["accelbench", "run", "--suite", "quick"]
    assert frame.equals(load(folder))  # the published folder is itself a loadable run
    index = (tmp_path / "results" / "README.md").read_text()
    assert INDEX_NOTE in index and f"({folder.name}/README.md)" in index
    assert "best matmul" in index

    # determinism: publishing the published folder, or the run again, gives the same markdown
    first = readme
    assert cli("publish", str(folder), "--results", "results").returncode == 0
    assert (folder / "README.md").read_text() == first
    assert cli("publish", str(run), "--results", "again").returncode == 0
    assert (tmp_path / "again" / folder.name / "README.md").read_text() == first
    assert (tmp_path / "again" / "README.md").read_text() == index
    meta = json.loads((folder / "meta.json").read_text())
    assert render_readme(meta, load(folder), _embedded(first)) == first


def test_committed_fixture_regenerates_identically(tmp_path: Path) -> None:
    folder = tmp_path / "results" / FIXTURE.name
    shutil.copytree(FIXTURE, folder)
    committed = (FIXTURE / "README.md").read_text()
    published = publish(folder, tmp_path / "results")
    assert published == folder
    assert (folder / "README.md").read_text() == committed
    for rel in _embedded(committed):
        assert (folder / rel).is_file(), rel


def _synthetic() -> tuple[pd.DataFrame, dict[tuple[str, str, str], np.ndarray]]:
    rows = []
    for s in (512, 1024, 2048):
        rows.append({"kernel": "attention", "case": f"llama prefill causal s={s}",
                     "params": f"B=1 H=32 s={s} D=128", "dtype": "bf16", "status": "ok",
                     "median_s": 1e-3 * s / 512, "flops": 4e9 * (s / 512) ** 2,
                     "bytes": 1e6 * s, "tflops": 4.0 * s / 512})
    for size in (2**20, 2**24):
        rows.append({"kernel": "collectives", "case": f"all_reduce out-of-place size={size}",
                     "params": f"bytes={size} world=2", "dtype": "fp32", "status": "ok",
                     "median_s": size / 1e10, "bytes": float(size), "algbw_gbps": 10.0,
                     "busbw_gbps": 10.0})
    rows.append({"kernel": "attention", "case": "broken s=64", "params": "s=64", "dtype": "fp16",
                 "status": "unsupported", "error": "no fp16"})
    frame = results_frame(rows)
    rng = np.random.default_rng(0)
    samples = {(r["kernel"], r["case"], r["dtype"]): r["median_s"] * rng.lognormal(0, 0.02, 50)
               for r in rows if r["status"] == "ok"}
    return frame, samples


def test_plots_cover_attention_and_collectives_rows(tmp_path: Path) -> None:
    frame, samples = _synthetic()
    paths = make_plots(frame, samples, "Test Device", tmp_path)
    names = [p.name for p in paths]
    assert names == ["throughput_attention.png", "attention_seqlen.png", "collectives_busbw.png",
                     "stability_attention.png", "stability_collectives.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    meta = {"environment": {"device": {"name": "Test Device", "backend": "cuda"}}}
    readme = render_readme(meta, frame, [f"plots/{n}" for n in names])
    assert "busbw GB/s" in readme.split("## collectives")[1]
    assert "broken s=64 fp16: unsupported (no fp16)" in readme


def test_roofline_plot_is_drawn_from_the_annotated_peaks(tmp_path: Path) -> None:
    from accelbench.analysis.peaks import Peak
    from accelbench.analysis.roofline import annotate
    from accelbench.report.plots import plot_roofline, roofs_of

    rows = [{"run_id": "r", "device": "cuda:0", "device_name": "Roof GPU", "backend": "cuda",
             "kernel": "matmul", "case": f"sq {n}", "params": f"M={n}", "dtype": "bf16",
             "status": "ok", "median_s": 1e-3, "flops": 2.0 * n**3, "bytes": 6.0 * n * n,
             "tflops": 2.0 * n**3 / 1e-3 / 1e12, "gbps": 6.0 * n * n / 1e-3 / 1e9}
            for n in (256, 1024, 4096)]
    frame = results_frame(rows)
    assert roofs_of(frame) == {}  # not annotated: no peaks known, no roofline
    assert plot_roofline(frame, "Roof GPU", tmp_path) is None

    def peaks(name: str, kind: str) -> Peak | None:
        if kind == "memory":
            return Peak(3000.0, "GB/s", "test sheet", False, name)
        return Peak(900.0, "TFLOP/s", "test sheet", False, name) if kind == "bf16" else None

    annotated = annotate(frame, peaks)
    assert roofs_of(annotated) == {"bf16": (900.0, 3000.0)}
    path = plot_roofline(annotated, "Roof GPU", tmp_path)
    assert path is not None and path.name == "roofline.png" and path.stat().st_size > 1000


@pytest.mark.parametrize(("params", "case", "want"), [
    ("B=1 H=32 s=4096 D=128", "x", 4096.0),
    ("", "llama3-70b prefill causal seq=8192", 8192.0),
    ("M=1 N=2", "square 64", None),
])
def test_seq_len_parsing(params: str, case: str, want: float | None) -> None:
    assert seq_len(pd.Series({"params": params, "case": case})) == want


def test_series_name_drops_size_token() -> None:
    assert series_name("llama3-8b prefill causal s=4096") == "llama3-8b prefill causal"
    assert series_name("all_reduce out-of-place size=1048576") == "all_reduce out-of-place"


def test_republishing_keeps_the_ops_sweep_and_validation_log(tmp_path: Path) -> None:
    """Files other commands wrote into the device folder survive the swap of its results;
    nothing else of the old folder does."""
    source = tmp_path / "src" / FIXTURE.name
    shutil.copytree(FIXTURE, source)
    folder = publish(source, tmp_path / "results")
    for name in ("ops.md", "ops.csv", "validate-cpu.log", "stale.txt"):
        (folder / name).write_text(name)
    again = publish(source, tmp_path / "results")
    assert again == folder
    assert [(folder / n).read_text() for n in ("ops.md", "ops.csv", "validate-cpu.log")] == [
        "ops.md", "ops.csv", "validate-cpu.log"]
    assert not (folder / "stale.txt").exists()

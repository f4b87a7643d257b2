"""End to end: the quick suite's attention, memory and launch cases through the real CLI."""

from __future__ import annotations

from pathlib import Path

import accelbench
from tests.conftest import FAST, Cli


def test_quick_attention_memory_launch_reach_real_statuses(cli: Cli, tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--suite", "quick", "--kernels",
               "attention,memory,launch", "--out", "runs", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    frame = accelbench.load(run_dir)
    assert set(frame["kernel"]) == {"attention", "memory", "launch"}
    assert set(frame["status"]) == {"ok", "unsupported"}
    unsupported = frame[frame["status"] == "unsupported"]
    assert unsupported["error"].str.len().min() > 20  # every unsupported case says why
    by_case = frame.set_index("case")
    assert "no kernel" in by_case.loc["llama3-8b prefill causal s=512 efficient fwd", "error"]
    assert "no separate device memory" in by_case.loc["h2d pinned 16 MiB", "error"]
    ok = frame[frame["status"] == "ok"]
    attn = ok[ok["kernel"] == "attention"]
    assert (attn["tflops"] > 0).all() and (attn["gbps"] > 0).all()
    assert (ok[ok["kernel"] == "memory"]["gbps"] > 0).all()
    # the agreement figures at every scale are filled on every family's checked rows
    for column in ("cosine", "rel_rmse", "ulp_frac", "small_elements", "small_mismatches"):
        assert ok[column].notna().all(), column
    assert (attn["cosine"] > 0.9999).all() and (attn["rel_rmse"] < attn["cosine"]).all()
    assert by_case.loc["tiny add host-async", "median_s"] > 0
    # roofline columns were filled after the run and the table printed after the main one
    assert attn["pct_of_peak"].notna().all() == attn["peak_tflops"].notna().all()
    assert "roofline on" in proc.stdout
    assert proc.stdout.index("roofline on") > proc.stdout.index("quick on")

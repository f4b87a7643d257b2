"""The blocks family: eager/compiled pairs, counts, agreement, compile time and compile failures."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import accelbench
from accelbench.analysis.compiled import compile_pairs
from accelbench.devices import CpuDevice
from accelbench.errors import CatalogError
from accelbench.kinds import FAILED, Status
from accelbench.measure.case import measure_case
from accelbench.measure.core import Settings
from accelbench.numerics.checks import check_case
from accelbench.report.tables import compile_table, console
from accelbench.runner.compile_cache import CACHE_ENV, private_compile_cache
from accelbench.workloads import blocks
from accelbench.workloads.base import Case
from accelbench.workloads.block_ops import BLOCKS, layer_flops
from accelbench.workloads.catalog import load_family_file, load_suite
from tests.conftest import FAST

CATALOG = Path(__file__).resolve().parents[1] / "python" / "accelbench" / "kernels"

#: Tiny shapes of every block (same fields as the catalog).
TINY: dict[str, dict[str, object]] = {
    "rmsnorm": {"hidden": 64, "eps": 1e-6},
    "swiglu": {"hidden": 32, "intermediate": 48},
    "rotary": {"heads": 4, "kv_heads": 2, "head_dim": 16, "theta": 10000.0},
    "embedding": {"vocab": 500, "hidden": 32},
    "cross_entropy": {"vocab": 1000},
    "decoder_layer": {"hidden": 64, "heads": 4, "kv_heads": 2, "head_dim": 16,
                      "intermediate": 96, "eps": 1e-5, "theta": 10000.0, "qkv_bias": True},
}


def _cases(block: str, tokens: int = 8, **extra: object) -> list[Case]:
    entry = {"name": f"tiny {block}", "block": block, "tokens": tokens, **TINY[block], **extra}
    return blocks.FAMILY.expand(entry, "test")


def _one(block: str, mode: str, dtype: str = "fp32", tokens: int = 8) -> Case:
    (case,) = [c for c in _cases(block, tokens, dtypes=[dtype]) if c.param("mode") == mode]
    return case


def test_catalog_has_an_eager_and_a_compiled_case_of_every_block_shape() -> None:
    cases = load_family_file(CATALOG / "blocks.toml")
    assert {c.param("block") for c in cases} == set(BLOCKS)
    by_pair: dict[tuple[str, str], set[str]] = {}
    for c in cases:
        base, _, mode = c.case.rpartition(" ")
        assert mode == c.param("mode")
        assert c.model, f"{c.case}: shapes come from a named model"
        by_pair.setdefault((base, c.dtype), set()).add(mode)
    assert all(modes == {"eager", "compiled"} for modes in by_pair.values())
    vocabs = {c.param("V") for c in cases if c.param("block") == "cross_entropy"}
    assert vocabs and all(128_000 <= v <= 152_000 for v in vocabs)
    # both cases of a pair draw the same inputs; another shape draws others
    eager, compiled = _one("rmsnorm", "eager"), _one("rmsnorm", "compiled")
    assert blocks.pair_seed(eager) == blocks.pair_seed(compiled)
    assert blocks.pair_seed(eager) != blocks.pair_seed(_one("rmsnorm", "eager", tokens=9))


def test_quick_and_standard_suites_select_compiled_pairs() -> None:
    for suite in ("quick", "standard"):
        chosen = [c for c in load_suite(suite).cases if c.kernel == "blocks"]
        modes = {c.param("mode") for c in chosen}
        assert modes == {"eager", "compiled"}, suite
    quick = [c for c in load_suite("quick").cases if c.kernel == "blocks"]
    standard = [c for c in load_suite("standard").cases if c.kernel == "blocks"]
    assert {c.param("block") for c in standard} == set(BLOCKS)
    assert sum(c.param("mode") == "compiled" for c in quick) < sum(
        c.param("mode") == "compiled" for c in standard)


def test_bad_catalog_entries_name_the_field() -> None:
    with pytest.raises(CatalogError, match="'block' must be one of"):
        blocks.FAMILY.expand({"name": "x", "block": "layernorm", "tokens": 1}, "f.toml")
    with pytest.raises(CatalogError, match="missing field 'eps'"):
        blocks.FAMILY.expand({"name": "x", "block": "rmsnorm", "tokens": 1, "hidden": 8}, "f")
    with pytest.raises(CatalogError, match="unknown field 'vocab'"):
        _cases("rmsnorm", vocab=10)
    with pytest.raises(CatalogError, match="'modes'"):
        _cases("rmsnorm", modes=["jit"])
    with pytest.raises(CatalogError, match="multiple of kv_heads"):
        _cases("rotary", kv_heads=3)


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_eager_blocks_agree_with_float64_and_react_to_their_inputs(block: str,
                                                                   dtype: str) -> None:
    case = _one(block, "eager", dtype)
    prepared = blocks.FAMILY.prepare(case, CpuDevice())
    prepared.fn()
    result = check_case(case, prepared, CpuDevice())
    assert result.mismatch is None, result.mismatch
    assert result.columns["flags"] == "", result.columns["flags"]
    assert result.columns["ref_elements"] > 1
    assert prepared.bytes and prepared.bytes > 0
    assert prepared.columns == {} and prepared.eager_output is None  # nothing compiled


def test_matmul_flops_match_torch_flop_counter() -> None:
    """The matmul part of SwiGLU and of a decoder layer, counted independently by PyTorch."""
    for block, tokens in (("swiglu", 8), ("decoder_layer", 8)):
        case = _one(block, "eager", tokens=tokens)
        p = dict(case.params)
        prepared = blocks.FAMILY.prepare(case, CpuDevice())
        counter = FlopCounterMode(display=False)
        with counter:
            prepared.fn()
        counted = counter.get_total_flops()
        if block == "swiglu":
            assert prepared.flops == counted + 5 * tokens * p["I"]
        else:  # PyTorch counts the whole T x T score matrix; ours keeps the causal half
            full = dict(p, T=tokens)
            attn_causal = 2 * p["Hq"] * (tokens * (tokens + 1) // 2) * 2 * p["D"]
            attn_full = 2 * p["Hq"] * tokens * tokens * 2 * p["D"]
            elementwise = layer_flops(full) - attn_causal - (counted - attn_full)
            t, h, i, d = tokens, p["H"], p["I"], p["D"]
            qkv = (p["Hq"] + 2 * p["Hkv"]) * d
            assert elementwise == (2 * (4 * t * h + 3 * t) + t * qkv + 3 * t * (p["Hq"] + p["Hkv"])
                                   * d + 5 * t * i + 2 * t * h)


def test_memory_bound_blocks_count_the_bytes_that_must_move() -> None:
    t, h = 8, 64
    rms = blocks.FAMILY.prepare(_one("rmsnorm", "eager", "bf16"), CpuDevice())
    assert rms.bytes == (2 * t * h + h) * 2
    assert rms.flops == 4 * t * h + 3 * t
    emb = blocks.FAMILY.prepare(_one("embedding", "eager", "fp32"), CpuDevice())
    assert emb.flops is None and emb.bytes == 2 * t * 32 * 4 + 8 * t
    ce = blocks.FAMILY.prepare(_one("cross_entropy", "eager", "bf16"), CpuDevice())
    assert ce.bytes == t * 1000 * 2 + 8 * t + 4 * t


def test_compile_reason_names_the_innermost_cause() -> None:
    try:
        try:
            raise FileNotFoundError("No such file or directory: 'cc-missing'")
        except FileNotFoundError as inner:
            raise RuntimeError("backend='inductor' raised:\nlong story") from inner
    except RuntimeError as exc:
        reason = blocks.compile_reason(exc)
    assert reason == ("torch.compile failed: RuntimeError: FileNotFoundError: "
                      "No such file or directory: 'cc-missing'")


def test_compile_pairs_put_eager_and_compiled_side_by_side() -> None:
    frame = pd.DataFrame([
        {"kernel": "blocks", "case": "b T=8 eager", "dtype": "fp32", "status": "ok",
         "median_s": 2e-3, "max_abs_err": 4e-7},
        {"kernel": "blocks", "case": "b T=8 compiled", "dtype": "fp32", "status": "ok",
         "median_s": 1e-3, "compile_s": 3.0, "vs_eager_max_rel_err": 1e-7,
         "vs_eager_ulp_max": 2.0, "max_abs_err": 2e-7},
        {"kernel": "blocks", "case": "c T=8 eager", "dtype": "fp32", "status": "ok",
         "median_s": 2e-3},
        {"kernel": "blocks", "case": "c T=8 compiled", "dtype": "fp32",
         "status": "compile_error", "error": "torch.compile failed: X"},
        {"kernel": "matmul", "case": "square 8", "dtype": "fp32", "status": "ok",
         "median_s": 1e-6},
    ])
    pairs = compile_pairs(frame).set_index("case")
    assert list(pairs.index) == ["b T=8", "c T=8"]
    assert pairs.loc["b T=8", "speedup"] == pytest.approx(2.0)
    assert pairs.loc["b T=8", "breakeven_calls"] == pytest.approx(3000.0)
    assert pairs.loc["b T=8", "eager_max_abs_err"] == 4e-7
    assert pairs.loc["b T=8", "compiled_max_abs_err"] == 2e-7
    assert pd.isna(pairs.loc["c T=8", "speedup"])
    assert pairs.loc["c T=8", "compiled_status"] == "compile_error"
    assert pairs.loc["c T=8", "error"] == "torch.compile failed: X"
    # the table shows pairs with a compiled case only (an eager-only case has no partner)
    frame.loc[len(frame)] = {"kernel": "blocks", "case": "d T=8 eager", "dtype": "fp32",
                             "status": "ok", "median_s": 1e-3}
    text = io.StringIO()
    console(file=text).print(compile_table(compile_pairs(frame)))
    assert "b T=8" in text.getvalue() and "compile_error" in text.getvalue()
    assert "d T=8" not in text.getvalue() and "2.00" in text.getvalue()
    assert compile_table(compile_pairs(frame[frame["kernel"] == "matmul"])) is None


def test_private_compile_cache_is_fresh_restored_and_removed(monkeypatch:
                                                             pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "/somewhere/else")
    with private_compile_cache("run-x") as path:
        assert os.environ[CACHE_ENV] == str(path)
        assert path.is_dir() and not any(path.iterdir())
        (path / "entry").write_text("compiled")
    assert os.environ[CACHE_ENV] == "/somewhere/else"
    assert not path.exists()


@pytest.mark.slow
def test_compiled_case_reports_compile_time_outside_its_samples() -> None:
    device = CpuDevice()
    case = _one("rmsnorm", "compiled")
    settings = Settings(warmup=0.02, max_case_time=0.2, min_samples=5)
    with private_compile_cache("test"):
        outcome = measure_case(case, device, settings, "test")
        row = outcome.row
        assert row["status"] == Status.OK, row.get("error")
        # compiled once, in prepare: launching the prepared function never compiles again
        prepared = blocks.FAMILY.prepare(case, device)
        frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        for _ in range(5):
            prepared.fn()
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == frames
    assert row["compile_s"] > row["median_s"] > 0
    assert row["n_samples"] >= 5 and len(outcome.samples["seconds"]) == row["n_samples"]
    assert row["mismatch_frac"] == 0 and row["flags"] == ""
    assert row["vs_eager_max_rel_err"] < 1e-5 and row["vs_eager_ulp_max"] <= 64
    assert isinstance(row["vs_eager_bitwise"], bool)


@pytest.mark.slow
def test_a_compile_failure_is_the_case_status_and_the_run_goes_on(tmp_path: Path) -> None:
    """Inductor pointed at a C++ compiler that does not exist: the compiled case fails to
    compile, the eager case of the pair (and the run) carry on."""
    suite = tmp_path / "pair.toml"
    suite.write_text('family = "blocks"\n[[case]]\nname = "tiny rmsnorm"\nmodel = "test"\n'
                     'block = "rmsnorm"\ntokens = 8\nhidden = 64\neps = 1e-6\n'
                     'dtypes = ["fp32"]\n')
    env = dict(os.environ, CXX=str(tmp_path / "no-such-c++"), COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "--device", "cpu", "--suite", str(suite),
         "--out", "runs", "--rounds", "1", *FAST],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    frame = accelbench.load(run_dir).set_index("case")
    compiled = frame.loc["tiny rmsnorm T=8 compiled"]
    assert compiled["status"] == Status.COMPILE_ERROR and Status.COMPILE_ERROR in FAILED
    assert compiled["error"].startswith("torch.compile failed: ")
    assert "no-such-c++" in compiled["error"], compiled["error"]
    assert frame.loc["tiny rmsnorm T=8 eager", "status"] == Status.OK
    assert "compile_error" in proc.stdout and "eager vs compiled" in proc.stdout
    leftovers = list(Path(tempfile.gettempdir()).glob(f"accelbench-compile-{run_dir.name}-*"))
    assert leftovers == []  # the run's private compile cache is gone

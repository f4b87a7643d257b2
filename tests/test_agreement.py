"""Agreement figures at every scale (cosine, rel_rmse, ulp_frac, small values) and the pass rule.

Each figure against a plain numpy float64 computation; the same bits whatever
the thread count; a correct bf16 SDPA case passes with sane figures while
outputs made wrong on purpose (scaled, one row swapped) fail.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

from accelbench import _core
from accelbench.devices import CpuDevice
from accelbench.measure.case import measure_case
from accelbench.measure.core import Settings
from accelbench.numerics.agreement import failures, worst_of
from accelbench.numerics.checks import check_case
from accelbench.numerics.tensors import as_numpy
from accelbench.numerics.tolerance import AGREEMENT, tolerance_for
from accelbench.workloads import FAMILIES
from accelbench.workloads.base import Case, Prepared

SETTINGS = Settings(warmup=0.01, max_case_time=0.05, min_samples=3)
NEW_COLUMNS = ("cosine", "rel_rmse", "ulp_frac", "small_elements", "small_max_abs_err",
               "small_mismatches")


def _numpy_figures(out: torch.Tensor, ref: np.ndarray[Any, Any], small: float, atol: float,
                   ulp: int) -> dict[str, float]:
    """The figures the plain way: float64 numpy, ULP distances from integer views."""
    o = out.double().numpy().reshape(-1)
    r = ref.reshape(-1)
    err = o - r
    is_small = np.abs(r) < small
    rounded = torch.from_numpy(r).to(out.dtype)
    iv = torch.int16 if out.element_size() == 2 else torch.int32
    sign = -(2 ** (8 * out.element_size() - 1))

    def ordered(t: torch.Tensor) -> np.ndarray[Any, Any]:
        i = t.contiguous().view(iv).numpy().astype(np.int64).reshape(-1)
        return np.where(i < 0, sign - i, i)

    dist = np.abs(ordered(out) - ordered(rounded))
    return {
        "cosine": float(o @ r / (np.linalg.norm(o) * np.linalg.norm(r))),
        "rel_rmse": float(np.sqrt(np.sum(err**2) / np.sum(r**2))),
        "ulp_frac": float(np.mean(dist > ulp)),
        "small_elements": int(is_small.sum()),
        "small_max_abs_err": float(np.abs(err[is_small]).max()),
        "small_mismatches": int((np.abs(err[is_small]) > atol).sum()),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_each_figure_matches_numpy_float64(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(3)
    ref = torch.randn(150_001, generator=gen, dtype=torch.float64) * 0.05
    noise = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    out = (ref * (1 + 3e-3 * noise)).to(dtype)
    arr, name = as_numpy(out)
    ref_np = ref.numpy()
    tol = tolerance_for(name, 1, ref_np)
    cmp = _core.compare_to_reference(arr, ref_np, dtype=name, rtol=tol.rtol, atol=tol.atol,
                                     small_threshold=tol.small, small_atol=tol.small_atol,
                                     ulp_threshold=tol.ulp)
    want = _numpy_figures(out, ref_np, tol.small, tol.small_atol, tol.ulp)
    assert cmp.cosine == pytest.approx(want["cosine"], abs=1e-13)
    assert cmp.rel_rmse == pytest.approx(want["rel_rmse"], rel=1e-10)
    assert cmp.ulp_frac == want["ulp_frac"] > 0
    assert cmp.small_elements == want["small_elements"] > 0
    assert cmp.small_max_abs_err == want["small_max_abs_err"]
    assert cmp.small_mismatches == want["small_mismatches"]
    assert (tol.small, tol.ulp) == AGREEMENT[name]


_THREADS_SCRIPT = """
import json, sys
import numpy as np
from accelbench import _core
rng = np.random.default_rng(9)
ref = rng.standard_normal(600_007)
out = (ref * (1 + 1e-3 * rng.standard_normal(ref.size))).astype(np.float32)
c = _core.compare_to_reference(out, ref, dtype="fp32", rtol=1e-4, atol=1e-6,
                               small_threshold=0.01, small_atol=1e-6, ulp_threshold=32)
print(json.dumps([c.cosine.hex(), c.rel_rmse.hex(), c.ulp_frac, c.small_elements,
                  c.small_max_abs_err.hex(), c.small_mismatches]))
"""


def test_figures_are_bit_identical_across_thread_counts() -> None:
    """The float sums are taken in a fixed order: 1 and 4 rayon threads give the same bits."""
    results = []
    for threads in ("1", "4"):
        env = {**os.environ, "RAYON_NUM_THREADS": threads}
        proc = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], env=env, check=True,
                              capture_output=True, text=True, timeout=60)
        results.append(json.loads(proc.stdout))
    assert results[0] == results[1]
    assert float.fromhex(results[0][1]) > 0


def _attention_case(backend: str, causal: bool = True) -> Case:
    params = (("B", 1), ("Hq", 4), ("Hkv", 2), ("Sq", 256), ("Skv", 256), ("Dqk", 64),
              ("Dv", 64), ("causal", int(causal)), ("sdpa", backend), ("pass", "fwd"))
    return Case("attention", f"agreement causal={causal} s=256 {backend} fwd", "bf16", params)


def _check(prepared: Prepared, case: Case) -> tuple[dict[str, Any], str | None]:
    result = check_case(case, prepared, CpuDevice())
    return result.columns, result.mismatch


@pytest.mark.parametrize("backend", ["math", "flash"])
def test_correct_bf16_attention_passes_with_sane_figures(backend: str) -> None:
    case = _attention_case(backend)
    row = measure_case(case, CpuDevice(), SETTINGS, "test-run").row
    assert row["status"] == "ok", row.get("error")
    assert row["cosine"] > 0.9999 and 0 < row["rel_rmse"] < 0.01
    assert row["small_mismatches"] == 0 and row["small_elements"] > 0
    assert 0 <= row["ulp_frac"] < 0.5
    assert all(row[c] is not None for c in NEW_COLUMNS)


def _wrong(prepared: Prepared, how: str) -> Prepared:
    assert prepared.output is not None
    output = prepared.output

    def wrong() -> torch.Tensor:
        out = output().clone()
        if how.startswith("scale"):
            return out * float(how.removeprefix("scale"))
        out[:, :, [10, 200]] = out[:, :, [200, 10]]  # two query rows swapped
        return out

    return dataclasses.replace(prepared, output=wrong)


@pytest.mark.parametrize("how", ["scale1.05", "swap"])
def test_wrong_bf16_attention_fails(how: str) -> None:
    case = _attention_case("flash")
    prepared = _wrong(FAMILIES["attention"].prepare(case, CpuDevice()), how)
    prepared.fn()
    columns, mismatch = _check(prepared, case)
    assert mismatch is not None and "outside rtol" in mismatch, mismatch
    assert columns["rel_rmse"] > 0.0161 if how == "scale1.05" else columns["cosine"] < 0.9999


def test_a_bias_inside_every_element_tolerance_fails_the_rms_rule() -> None:
    """bf16 values in [-1, 1] scaled by 1.02: each element is within rtol * (|ref| + rms)
    (1.6% of up to 1.58 |ref|), so only ``rel_rmse > rtol`` sees the bias."""
    ref = np.linspace(-1, 1, 4001)
    out = torch.from_numpy(ref * 1.02).to(torch.bfloat16)
    arr, name = as_numpy(out)
    tol = tolerance_for(name, 1, ref)
    cmp = _core.compare_to_reference(arr, ref, dtype=name, rtol=tol.rtol, atol=tol.atol,
                                     small_threshold=tol.small, small_atol=tol.small_atol,
                                     ulp_threshold=tol.ulp)
    assert cmp.mismatches == 0 and cmp.cosine > 0.9999
    assert failures(cmp, tol) == [f"rel_rmse {cmp.rel_rmse:.3g} above rtol={tol.rtol:.3g}"]


def test_pass_rule_reasons() -> None:
    ref = np.linspace(-1, 1, 1001)
    out = ref.copy()
    out[3], out[500] = np.nan, 1e-2  # ref[500] == 0: a small value off by 1e-2
    tol = tolerance_for("fp64", override=(1e-6, 1e-6))
    cmp = _core.compare_to_reference(out, ref, dtype="fp64", rtol=tol.rtol, atol=tol.atol,
                                     small_threshold=tol.small, small_atol=tol.small_atol,
                                     ulp_threshold=tol.ulp)
    reasons = failures(cmp, tol)
    assert reasons[0].startswith("NaN/Inf pattern differs (1 NaN")
    assert "1 of 1 small values" in reasons[1]
    assert "rel_rmse" in reasons[2]
    clean = _core.compare_to_reference(ref, ref, dtype="fp64", rtol=tol.rtol, atol=tol.atol)
    assert failures(clean, tol) == [] and clean.cosine == 1.0 and clean.rel_rmse == 0.0
    zero = np.zeros(4)
    noisy = _core.compare_to_reference(zero + 1e-9, zero, dtype="fp64", rtol=1e-6, atol=1e-6)
    assert noisy.rel_rmse == float("inf") and failures(noisy, tol) == []


def test_worst_of_ranks() -> None:
    a = {c: 0.0 for c in ("rel_rmse", "ulp_frac", "small_max_abs_err", "max_abs_err",
                          "max_rel_err", "ulp_max", "ulp_mean", "mismatch_frac")}
    a |= {"cosine": 1.0, "small_elements": 2, "small_mismatches": 0, "nan_mismatch": 0,
          "inf_mismatch": 0, "ref_elements": 10, "tolerance": "rtol=0 atol=0"}
    b = a | {"cosine": 0.5, "rel_rmse": 0.1, "small_mismatches": 1}
    w = worst_of([a, b])
    assert (w["cosine"], w["rel_rmse"], w["small_mismatches"], w["ref_elements"]) == \
        (0.5, 0.1, 1, 20)
    assert worst_of([]) == {}


@pytest.mark.parametrize("kernel, params", [
    ("matmul", (("M", 64), ("N", 64), ("K", 64))),
    ("memory", (("op", "copy"), ("memory", "device"), ("bytes", 1 << 16))),
    ("launch", (("elements", 64), ("timing", "host-async"))),
])
def test_every_family_row_carries_the_new_columns(kernel: str, params: Any) -> None:
    case = Case(kernel, f"{kernel} agreement", "fp32", params)
    row = measure_case(case, CpuDevice(), SETTINGS, "test-run").row
    assert row["status"] == "ok", row.get("error")
    for column in NEW_COLUMNS:
        assert row[column] is not None, column
    assert row["cosine"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"ulp_threshold": 3}, "power of two up to 2\\^20, got 3"),
    ({"small_threshold": -1.0}, "small-value thresholds must be finite"),
    ({"small_atol": float("nan")}, "small-value thresholds must be finite"),
])
def test_bad_thresholds_are_input_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(_core.InputError, match=message):
        _core.compare_to_reference(np.zeros(3), np.zeros(3), dtype="fp64", rtol=0.0, atol=0.0,
                                   **kwargs)

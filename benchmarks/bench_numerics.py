"""Throughput of the native output comparison against its baselines, in one run.

For 2**26-element float32 and bfloat16 pairs (an output and a reference of
the same dtype, as in the determinism and cross-device checks) it times:

* ``accelbench._core.compare``: one parallel pass giving max abs/rel error,
  ULP max/mean/histogram, the tolerance count, NaN/Inf pattern mismatches,
  bitwise equality and the agreement figures (cosine, rel_rmse, small-value
  error, ulp_frac);
* the equivalent numpy pipeline: abs error, rel error, ULP distance through
  an integer view (sign-magnitude to two's complement), tolerance count,
  NaN pattern, cosine, rel_rmse, small values and ULP share, each a
  vectorised whole-array expression;
* ``torch.testing.assert_close`` on the same pair (which computes less: no
  ULP distance);
* ``np.copyto`` of the same bytes: the machine's copy bandwidth, the limit a
  single pass over the inputs cannot beat.

Throughput is GB/s of input (both arrays' bytes), with the time per element
pair (wall clock, all threads). Each figure is the best of a few
repetitions. Run: ``python benchmarks/bench_numerics.py [--log2n 26]``.
To see what the agreement figures cost, run the same command with the
extension built from the commit before them: only the native line changes.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from accelbench import _core
from accelbench.numerics.tolerance import AGREEMENT


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_pipeline(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], bf16: bool,
                   rtol: float, atol: float) -> dict[str, float]:
    """The comparison the native pass does, as a numpy user would write it."""
    if bf16:
        ia, ib = a.view(np.int16), b.view(np.int16)
        fa = (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        fb = (b.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        sign = np.int64(-(2**15))
    else:
        ia, ib = a.view(np.int32), b.view(np.int32)
        fa, fb = a, b
        sign = np.int64(-(2**31))
    x, y = fa.astype(np.float64), fb.astype(np.float64)
    err = np.abs(x - y)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(y != 0, err / np.abs(y), 0.0)
    oa = ia.astype(np.int64)
    ob = ib.astype(np.int64)
    oa = np.where(oa < 0, sign - oa, oa)
    ob = np.where(ob < 0, sign - ob, ob)
    ulp = np.abs(oa - ob)
    outside = int(np.count_nonzero(err > atol + rtol * np.abs(y)))
    nan_mismatch = int(np.count_nonzero(np.isnan(x) != np.isnan(y)))
    small_threshold, ulp_threshold = AGREEMENT["bf16" if bf16 else "fp32"]
    small = np.abs(y) < small_threshold
    return {
        "max_abs": float(np.nanmax(err)), "max_rel": float(np.nanmax(rel)),
        "ulp_max": float(ulp.max()), "ulp_mean": float(ulp.mean()),
        "outside": outside, "nan_mismatch": nan_mismatch,
        "cosine": float(x @ y / np.sqrt((x @ x) * (y @ y))),
        "rel_rmse": float(np.sqrt(np.sum(np.square(x - y)) / (y @ y))),
        "small": int(np.count_nonzero(small)),
        "small_fail": int(np.count_nonzero(small & (err > atol))),
        "ulp_over": int(np.count_nonzero(ulp > ulp_threshold)),
    }


def bench_one(name: str, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], ta: torch.Tensor,
              tb: torch.Tensor, rtol: float, atol: float, repeat: int) -> None:
    """Times the four contenders on one pair and prints their figures."""
    nbytes = a.nbytes + b.nbytes

    small, ulp = AGREEMENT[name]

    def native_pass() -> Any:
        return _core.compare(a, b, dtype=name, rtol=rtol, atol=atol, small_threshold=small,
                             small_atol=atol, ulp_threshold=ulp)

    native = native_pass()
    ref = numpy_pipeline(a, b, name == "bf16", rtol, atol)
    assert native.ulp_max == ref["ulp_max"], (native.ulp_max, ref["ulp_max"])
    assert native.mismatches == ref["outside"] + ref["nan_mismatch"]
    assert native.max_abs_err == ref["max_abs"]
    assert abs(native.cosine - ref["cosine"]) < 1e-12
    assert abs(native.rel_rmse / ref["rel_rmse"] - 1) < 1e-9
    assert (native.small_elements, native.small_mismatches, native.ulp_over) == \
        (ref["small"], ref["small_fail"], ref["ulp_over"])

    t_native = best_of(native_pass, repeat)
    t_numpy = best_of(lambda: numpy_pipeline(a, b, name == "bf16", rtol, atol), 1)

    def torch_close() -> None:
        with contextlib.suppress(AssertionError):
            torch.testing.assert_close(ta, tb, rtol=rtol, atol=atol)

    t_torch = best_of(torch_close, repeat)
    src = np.concatenate([a.view(np.uint8), b.view(np.uint8)])
    dst = np.empty_like(src)
    t_copy = best_of(lambda: np.copyto(dst, src), repeat)

    def gbps(t: float) -> float:
        return nbytes / t / 1e9

    def ns(t: float) -> str:
        return f"{t / a.size * 1e9:6.2f} ns/elem"

    print(f"\n{name}: {nbytes / 2**20:.0f} MiB of input, ulp_max={native.ulp_max}, "
          f"mismatches={native.mismatches}, cosine={native.cosine:.9f}, "
          f"rel_rmse={native.rel_rmse:.3g}, ulp_frac={native.ulp_frac:.3g}, "
          f"small={native.small_elements}")
    print(f"  accelbench._core.compare     {t_native * 1e3:9.1f} ms {gbps(t_native):8.2f} GB/s"
          f" {ns(t_native)}")
    print(f"  numpy pipeline               {t_numpy * 1e3:9.1f} ms {gbps(t_numpy):8.2f} GB/s"
          f" {ns(t_numpy)}   native is {t_numpy / t_native:6.1f}x faster")
    print(f"  torch.testing.assert_close   {t_torch * 1e3:9.1f} ms {gbps(t_torch):8.2f} GB/s"
          f" {ns(t_torch)}   native is {t_torch / t_native:6.1f}x faster")
    print(f"  np.copyto (same bytes)       {t_copy * 1e3:9.1f} ms {gbps(t_copy):8.2f} GB/s"
          f" {ns(t_copy)}   native reaches {100 * t_copy / t_native:5.1f}% of copy bandwidth")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2n", type=int, default=26)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = 1 << args.log2n
    rng = np.random.default_rng(0)
    base = rng.standard_normal(n, dtype=np.float32)
    noise = (1 + rng.standard_normal(n, dtype=np.float32) * 1e-6).astype(np.float32)
    print(f"n = 2^{args.log2n} = {n} elements per array; torch threads {torch.get_num_threads()}; "
          "GB/s of input (both arrays)")
    for name in ("fp32", "bf16"):
        if name == "fp32":
            a, b = base, base * noise
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            rtol, atol = 1.3e-6, 1e-5
        else:
            ta = torch.from_numpy(base).bfloat16()
            tb = torch.from_numpy(base * (1 + (noise - 1) * 1e4)).bfloat16()
            a, b = ta.view(torch.int16).numpy(), tb.view(torch.int16).numpy()
            rtol, atol = 1.6e-2, 1e-5
        bench_one(name, a, b, ta, tb, rtol, atol, args.repeat)


if __name__ == "__main__":
    main()

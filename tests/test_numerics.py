"""Native numerics against known ULP pairs and numpy on random data (all four dtypes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from accelbench import _core
from accelbench.numerics.tensors import as_numpy
from accelbench.numerics.tolerance import tolerance_for

# (sign bit, +0, smallest subnormal, largest subnormal, smallest normal, 1.0, max finite, +inf, NaN)
LANDMARKS = {
    "fp64": (1 << 63, 0, 1, (1 << 52) - 1, 1 << 52, 0x3FF0000000000000, 0x7FEFFFFFFFFFFFFF,
             0x7FF0000000000000, 0x7FF8000000000000),
    "fp32": (1 << 31, 0, 1, (1 << 23) - 1, 1 << 23, 0x3F800000, 0x7F7FFFFF, 0x7F800000,
             0x7FC00000),
    "fp16": (1 << 15, 0, 1, 0x3FF, 0x400, 0x3C00, 0x7BFF, 0x7C00, 0x7E00),
    "bf16": (1 << 15, 0, 1, 0x7F, 0x80, 0x3F80, 0x7F7F, 0x7F80, 0x7FC0),
}
BITS = {"fp64": np.uint64, "fp32": np.uint32, "fp16": np.uint16, "bf16": np.uint16}
FLOATS = {"fp64": np.float64, "fp32": np.float32, "fp16": np.float16}


def _arr(dtype: str, bits: list[int]) -> np.ndarray[Any, Any]:
    a = np.array(bits, dtype=np.uint64).astype(BITS[dtype])
    return a.view(FLOATS[dtype]) if dtype in ("fp64", "fp32") else a


@pytest.mark.parametrize("dtype", list(LANDMARKS))
def test_ulp_distance_known_pairs(dtype: str) -> None:
    s, zero, tiny, big_sub, min_norm, one, big, inf, nan = LANDMARKS[dtype]
    pairs = [
        (one, one + 1, 1),  # adjacent floats
        (zero, s | zero, 0),  # +0 vs -0
        (tiny, s | tiny, 2),  # across zero: smallest subnormals of both signs
        (zero, tiny, 1),  # zero to the first subnormal
        (big_sub, min_norm, 1),  # subnormal to normal
        (big, inf, 1),  # max finite to +inf
        (inf, inf, 0),
        (s | inf, inf, 2 * inf),  # -inf to +inf
        (nan, nan, 0),  # NaN vs NaN: the pattern matches
        (s | one, one, 2 * one),
    ]
    a = _arr(dtype, [p[0] for p in pairs] + [nan])
    b = _arr(dtype, [p[1] for p in pairs] + [one])
    d = _core.ulp_distance(a, b, dtype=dtype)
    assert d[:-1].tolist() == [p[2] for p in pairs]
    assert int(d[-1]) == 2**64 - 1  # NaN vs number: undefined


def test_fp16_accepts_float16_and_bits_alike() -> None:
    x = np.array([1.0, 2.0, -0.0], dtype=np.float16)
    y = np.nextafter(x, np.float16(np.inf))
    assert _core.ulp_distance(x, y, dtype="fp16").tolist() == [1, 1, 1]
    bits = _core.ulp_distance(x.view(np.int16), y.view(np.int16), dtype="fp16")
    assert bits.tolist() == [1, 1, 1]


def _numpy_metrics(out: np.ndarray[Any, Any], ref: np.ndarray[Any, Any], dtype: str,
                   rtol: float, atol: float) -> dict[str, float]:
    """The same metrics the native pass computes, the slow way (finite data)."""
    o = out.astype(np.float64)
    err = np.abs(o - ref)
    nz = ref != 0
    rounded = ref.astype(FLOATS[dtype])
    ib = {"fp64": np.int64, "fp32": np.int32, "fp16": np.int16}[dtype]
    sign = np.iinfo(ib).min

    def ordered(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        i = x.view(ib).astype(np.int64)
        return np.where(i < 0, -(i - sign), i)  # sign-magnitude -> two's complement

    ulp = np.abs(ordered(out) - ordered(rounded))
    return {
        "max_abs_err": float(err.max()),
        "max_rel_err": float((err[nz] / np.abs(ref[nz])).max()),
        "ulp_max": float(ulp.max()),
        "ulp_mean": float(ulp.mean()),
        "mismatches": float((err > atol + rtol * np.abs(ref)).sum()),
    }


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_metrics_match_numpy_on_random_data(dtype: str) -> None:
    rng = np.random.default_rng(5)
    ref = rng.standard_normal(200_001) * 3.0
    noise = 1 + rng.standard_normal(ref.size) * (1e-6 if dtype == "fp32" else 1e-3)
    out = (ref * noise).astype(FLOATS[dtype])
    rtol, atol = tolerance_for(dtype).rtol, 1e-5
    c = _core.compare_to_reference(out, ref, dtype=dtype, rtol=rtol, atol=atol)
    want = _numpy_metrics(out, ref, dtype, rtol, atol)
    assert c.max_abs_err == want["max_abs_err"]
    assert c.max_rel_err == want["max_rel_err"]
    assert c.ulp_max == want["ulp_max"]
    assert c.ulp_mean == pytest.approx(want["ulp_mean"], rel=1e-12)
    assert c.mismatches == want["mismatches"] > 0
    assert c.n == ref.size and sum(c.ulp_hist) == ref.size
    assert c.mismatch_frac == c.mismatches / ref.size


def test_bf16_metrics_match_torch() -> None:
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(100_000, generator=g, dtype=torch.float64)
    out = (ref * (1 + 1e-2 * torch.randn(ref.shape, generator=g, dtype=torch.float64))).bfloat16()
    arr, name = as_numpy(out)
    assert name == "bf16" and arr.dtype == np.int16
    c = _core.compare_to_reference(arr, ref.numpy(), dtype="bf16", rtol=1.6e-2, atol=1e-5)
    err = (out.double() - ref).abs()
    assert c.max_abs_err == err.max().item()
    assert c.max_rel_err == (err / ref.abs()).max().item()
    assert c.mismatches == int((err > 1e-5 + 1.6e-2 * ref.abs()).sum())
    # ULP: bf16 bits are the top half of the float32 bits; compare with torch's own rounding
    rounded = ref.bfloat16().view(torch.int16).numpy()
    assert c.ulp_max == int(_core.ulp_distance(arr, rounded, dtype="bf16").max())
    # Our float64 -> bf16 rounding is one step; torch's goes through float32
    # (double rounding): where they differ, ours must be strictly nearer.
    ours = _core.round_bits(ref.numpy(), dtype="bf16").astype(np.uint16)
    theirs = rounded.view(np.uint16)

    def value(b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)

    differ = ours != theirs
    assert differ.sum() < 10  # rare: only values near a bf16 midpoint
    r = ref.numpy()[differ]
    assert (np.abs(value(ours[differ]) - r) < np.abs(value(theirs[differ]) - r)).all()


@pytest.mark.parametrize("dtype", list(LANDMARKS))
def test_perturbed_output_is_detected_and_classified(dtype: str) -> None:
    rng = np.random.default_rng(2)
    ref = rng.uniform(1.0, 2.0, 10_000)
    bits = _core.round_bits(ref, dtype=dtype).astype(BITS[dtype])
    bits[77] += 3  # three ULP off (positive values: +3 in the bits)
    nan = LANDMARKS[dtype][-1]
    bits[4242] = nan
    out = bits.view(FLOATS[dtype]) if dtype in ("fp64", "fp32") else bits
    loose = _core.compare_to_reference(out, ref, dtype=dtype, rtol=0.1, atol=0.0)
    assert loose.ulp_max == 3
    assert loose.ulp_hist[3] == 1  # the "3-4" bucket
    assert _core.ulp_histogram_labels()[3] == "3-4"
    assert loose.nan_mismatch == 1 and loose.inf_mismatch == 0
    assert loose.mismatches == 1 and loose.first_mismatch == 4242  # only the NaN
    assert loose.bitwise_equal == ref.size - 2 and not loose.identical
    strict = _core.compare_to_reference(out, ref, dtype=dtype, rtol=0.0, atol=0.0)
    assert strict.first_mismatch is not None and strict.first_mismatch <= 77


def test_same_dtype_comparison_and_fingerprint() -> None:
    a = np.linspace(-1, 1, 4097, dtype=np.float32)
    b = a.copy()
    assert _core.compare(a, b, dtype="fp32").identical
    fa = _core.fingerprint(a, dtype="fp32")
    assert fa.hash == _core.fingerprint(b, dtype="fp32").hash
    assert fa.positions == _core.sample_positions(a.size)
    assert fa.values == [float(a[p]) for p in fa.positions]
    b[100] = np.nextafter(b[100], np.float32(2))
    c = _core.compare(a, b, dtype="fp32")
    assert not c.identical and c.ulp_max == 1 and c.bitwise_equal == a.size - 1
    assert _core.fingerprint(b, dtype="fp32").hash != fa.hash
    assert _core.fingerprint(np.full(10, 3.0), dtype="fp64").all_equal
    # strided input is accepted (copied to C order once)
    assert _core.compare(a[::2], b[::2], dtype="fp32").n == 2049


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros(3, np.float32), np.zeros(3)), "dtype fp32 expects float32"),
        ((np.zeros(3, np.float32), np.zeros(4, np.float32)), "shapes differ"),
        (([1.0, 2.0], [1.0, 2.0]), "must be a numpy array"),
    ],
)
def test_bad_input_is_an_input_error(args: tuple[Any, Any], message: str) -> None:
    with pytest.raises(_core.InputError, match=message):
        _core.compare(*args, dtype="fp32")
    with pytest.raises(_core.InputError, match="unknown dtype"):
        _core.compare(np.zeros(1), np.zeros(1), dtype="int8")  # type: ignore[arg-type]

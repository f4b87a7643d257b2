"""The matmul family: FLOP and byte formulas, inputs and outputs of real torch kernels."""

from __future__ import annotations

import pytest
import torch

from accelbench.devices import CpuDevice
from accelbench.errors import UnsupportedError
from accelbench.workloads.base import Case
from accelbench.workloads.matmul import FAMILY, matmul_bytes, matmul_flops


@pytest.mark.parametrize(
    ("m", "n", "k", "flops"),
    [(1, 1, 1, 2), (2, 3, 4, 48), (1024, 1024, 1024, 2_147_483_648), (1, 6144, 4096, 50_331_648)],
)
def test_flops_are_two_m_n_k(m: int, n: int, k: int, flops: int) -> None:
    assert matmul_flops(m, n, k) == flops


def test_bytes_count_each_operand_once() -> None:
    # A 2x4, B 4x3, C 2x3 -> 8 + 12 + 6 = 26 elements
    assert matmul_bytes(2, 3, 4, 2) == 52
    assert matmul_bytes(4096, 4096, 4096, 4) == 3 * 4096 * 4096 * 4


def _case(m: int, n: int, k: int, dtype: str) -> Case:
    return Case("matmul", f"t {m}x{n}x{k}", dtype, (("M", m), ("N", n), ("K", k)))


@pytest.mark.parametrize(("dtype", "tol"), [("fp64", 1e-12), ("fp32", 1e-4), ("bf16", 3e-2)])
def test_output_matches_float64_reference(dtype: str, tol: float) -> None:
    prepared = FAMILY.prepare(_case(33, 17, 65, dtype), CpuDevice())
    prepared.fn()
    assert prepared.output is not None and prepared.reference is not None
    out = prepared.output().double()
    ref = prepared.reference()
    assert out.shape == (33, 17)
    scale = ref.abs().max().item()
    assert (out - ref).abs().max().item() <= tol * scale
    assert prepared.flops == 2 * 33 * 17 * 65


def test_inputs_are_seeded_identically_and_not_trivial() -> None:
    one = FAMILY.prepare(_case(8, 8, 8, "fp32"), CpuDevice())
    two = FAMILY.prepare(_case(8, 8, 8, "fp32"), CpuDevice())
    one.fn()
    two.fn()
    assert one.output is not None and two.output is not None
    out = one.output()
    assert torch.equal(out, two.output())
    assert out.std().item() > 0.5  # standard-normal inputs, not zeros or ones


class _TinyDevice(CpuDevice):
    def memory_bytes(self) -> int | None:
        return 1024


def test_shape_too_large_for_device_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match=r"needs .* GiB"):
        FAMILY.prepare(_case(64, 64, 64, "fp32"), _TinyDevice())

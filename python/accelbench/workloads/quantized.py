"""Quantized matrix multiplication: the ``quantized`` family.

``C[M,N] = A[M,K] @ B[K,N]`` with low-precision inputs, on the LLM projection
shapes of the matmul catalog:

* **fp8** (``dtype`` ``fp8_e4m3`` or ``fp8_e5m2``): ``torch._scaled_mm`` with
  bf16 output and float32 scales, either ``tensorwise`` (one scale per
  operand: ``amax(|A|) / fp8_max``) or ``rowwise`` (one per row of A and one
  per column of B, as DeepSeek-V3-style fine-grained scaling starts from).
  The operands are quantized once, when the case is prepared (clamped to the
  format's range: no overflow to NaN); only the scaled GEMM is timed.
  B is held as ``[N, K]`` row-major and passed transposed (column-major), the
  layout the fp8 tensor-core kernels require.
* **int8** (``dtype`` ``int8``, scaling ``none``): ``torch._int_mm``, int8 x int8
  -> int32, inputs uniform over ``[-128, 127]``.

**Counts.** ``flops = 2*M*N*K`` (for int8 these are integer operations: the
``tflops`` column then reads TOP/s). Bytes: A and B at one byte per element,
the output (bf16 or int32) and the scales, each once.

**Agreement.** fp8: the float64 product of the *dequantized* inputs
(``A_q * scale_a @ (B_q * scale_b)``), so the check measures the GEMM's own
error (accumulation and the bf16 output rounding), not the quantization's.
int8: the float64 product of the int8 inputs, which is exact (every partial
sum is an integer below 2**53); the check demands equality. The int32 output
is handed to the checks converted to float64, which is exact as well.

A backend without the kernel, or whose kernel refuses the case (fp8 on a GPU
before Hopper/MI300, e5m2 with row-wise scales, a row count below a kernel's
minimum), makes the case ``unsupported`` with the backend's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from accelbench.errors import UnsupportedError
from accelbench.workloads.base import (
    QUANT_DTYPES,
    Case,
    Prepared,
    check_fields,
    choices,
    dtypes_of,
    probe_kernel,
    torch_dtype,
)
from accelbench.workloads.matmul import FAMILY as MATMUL
from accelbench.workloads.matmul import matmul_flops, reference_rows

__all__ = ["FAMILY", "SCALINGS", "QuantizedFamily", "quantize_fp8"]

#: fp8 scalings, each its own case; int8 cases are ``none``.
SCALINGS: tuple[str, ...] = ("tensorwise", "rowwise")
_SHAPE_FIELDS = ("name", "model", "size", "m", "tokens", "n", "k")

Kernel = Callable[[], object]


def quantize_fp8(x: torch.Tensor, dtype: torch.dtype,
                 rowwise: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_q, scale)`` with ``x ~ x_q * scale``: amax scaling per tensor or per row (float32)."""
    fmax = torch.finfo(dtype).max
    amax = x.abs().amax(dim=1, keepdim=True) if rowwise else x.abs().amax()
    scale = (amax.float() / fmax).clamp(min=torch.finfo(torch.float32).tiny)
    x_q = (x.float() / scale).clamp(-fmax, fmax).to(dtype)
    return x_q, scale




class QuantizedFamily:
    """The quantized kernel family: fp8 scaled matmul and int8 matmul."""

    name = "quantized"
    default_dtypes: tuple[str, ...] = QUANT_DTYPES
    _fields = (*_SHAPE_FIELDS, "scaling", "dtypes", "description")

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        check_fields(entry, self._fields, where, required=("name",))
        # The shape fields mean what they mean in the matmul catalog: one parser for both.
        shapes = MATMUL.expand({f: entry[f] for f in _SHAPE_FIELDS if f in entry} |
                               {"dtypes": ["fp32"]}, where)
        scalings = choices(entry, "scaling", SCALINGS, where)
        dtypes = dtypes_of(entry, self.default_dtypes, where, allowed=QUANT_DTYPES)
        cases = []
        for shape in shapes:
            for dtype in dtypes:
                for scaling in (["none"] if dtype == "int8" else scalings):
                    params = (*shape.params, ("scaling", scaling))
                    name = f"{shape.case} {'int_mm' if scaling == 'none' else scaling}"
                    cases.append(Case(kernel=self.name, case=name, dtype=dtype, params=params,
                                      model=shape.model, source=where))
        return cases

    def prepare(self, case: Case, device: Any) -> Prepared:
        m, n, k = case.param("M"), case.param("N"), case.param("K")
        dtype = torch_dtype(case.dtype)
        reason = device.unsupported_dtype(dtype)
        if reason:
            raise UnsupportedError(reason)
        out_size = 4 if dtype == torch.int8 else 2
        need = (m * k + k * n) + m * n * out_size
        capacity = device.memory_bytes()
        if capacity is not None and 5 * need > 0.8 * capacity:  # float32 draws on the host
            raise UnsupportedError(
                f"needs {5 * need / 2**30:.1f} GiB, device has {capacity / 2**30:.1f} GiB")
        gen = torch.Generator().manual_seed(case.seed)
        if dtype == torch.int8:
            return _int8(m, n, k, gen, device.torch_device)
        return _fp8(m, n, k, dtype, case.param("scaling") == "rowwise", gen,
                    device.torch_device)


def _int8(m: int, n: int, k: int, gen: torch.Generator, tdev: torch.device) -> Prepared:
    if not hasattr(torch, "_int_mm"):
        raise UnsupportedError(f"torch {torch.__version__} has no torch._int_mm")
    a_host = torch.randint(-128, 128, (m, k), generator=gen, dtype=torch.int8)
    b_host = torch.randint(-128, 128, (k, n), generator=gen, dtype=torch.int8)

    def build(a: torch.Tensor, b: torch.Tensor) -> tuple[Kernel, torch.Tensor]:
        c = torch.empty((m, n), dtype=torch.int32, device=tdev)
        return lambda: torch._int_mm(a, b, out=c), c

    a, b = a_host.to(tdev), b_host.to(tdev)
    launch, c = build(a, b)
    probe_kernel(launch, "torch._int_mm")
    rows = reference_rows(m, n, k)

    def reference() -> torch.Tensor:
        a_ref = a_host if rows is None else a_host[rows]
        return a_ref.double() @ b_host.double()

    return Prepared(
        fn=launch,
        flops=float(matmul_flops(m, n, k)),
        bytes=float(m * k + k * n + 4 * m * n),
        output=lambda: c.to(torch.float64),  # exact: |values| < 2**31
        reference=reference,
        clone=lambda: build(a.clone(), b.clone())[0],
        reference_slice=rows,
        tolerance=(0.0, 0.0),
    )


def _fp8(m: int, n: int, k: int, dtype: torch.dtype, rowwise: bool, gen: torch.Generator,
         tdev: torch.device) -> Prepared:
    if not hasattr(torch, "_scaled_mm"):
        raise UnsupportedError(f"torch {torch.__version__} has no torch._scaled_mm")
    a_q, scale_a = quantize_fp8(torch.randn((m, k), generator=gen), dtype, rowwise)
    b_q, scale_b = quantize_fp8(torch.randn((n, k), generator=gen), dtype, rowwise)
    scale_b_t = scale_b.t() if rowwise else scale_b  # [1, N]: one scale per column of B

    def build(a: torch.Tensor, b: torch.Tensor) -> tuple[Kernel, torch.Tensor]:
        sa, sb = scale_a.to(tdev), scale_b_t.to(tdev)
        c = torch.empty((m, n), dtype=torch.bfloat16, device=tdev)
        bt = b.t()  # [K, N], column-major

        def run() -> torch.Tensor:
            return torch._scaled_mm(a, bt, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16,
                                    out=c)

        return run, c

    a, b = a_q.to(tdev), b_q.to(tdev)
    launch, c = build(a, b)
    probe_kernel(launch, f"torch._scaled_mm ({'rowwise' if rowwise else 'tensorwise'})")
    rows = reference_rows(m, n, k)

    def reference() -> torch.Tensor:
        a_deq = a_q.double() * scale_a.double()
        b_deq = b_q.double() * scale_b.double()
        return (a_deq if rows is None else a_deq[rows]) @ b_deq.t()

    scales = (m + n) * 4 if rowwise else 8
    return Prepared(
        fn=launch,
        flops=float(matmul_flops(m, n, k)),
        bytes=float(m * k + k * n + 2 * m * n + scales),
        output=lambda: c,
        reference=reference,
        clone=lambda: build(a.clone(), b.clone())[0],
        reference_slice=rows,
        reduction_length=k,
    )


FAMILY = QuantizedFamily()

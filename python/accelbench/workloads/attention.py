"""Attention through ``torch.nn.functional.scaled_dot_product_attention`` (SDPA).

Shapes follow PyTorch's layout: Q ``[B, Hq, Sq, Dqk]``, K ``[B, Hkv, Skv, Dqk]``,
V ``[B, Hkv, Skv, Dv]``, O ``[B, Hq, Sq, Dv]``. Grouped-query attention
(``Hq != Hkv``, ``Hq`` a multiple of ``Hkv``) is run with SDPA's native
``enable_gqa=True`` (PyTorch >= 2.5), not by expanding K and V: the kernel
reads each KV head once, as a serving engine does. A backend that refuses GQA
is recorded as ``unsupported`` with PyTorch's reason.

**Variants.** ``prefill`` runs Sq = Skv = s (causal or not); ``decode`` runs one
query token per sequence against a KV cache of length L (Sq = 1, Skv = L,
never causal: the new token attends to the whole cache). The SDPA backend
(``math``, ``flash``, ``efficient``, ``cudnn``) is a case parameter, forced
with ``torch.nn.attention.sdpa_kernel`` around every launch (the context
costs about 10 µs of host time per launch, hidden on accelerators whenever the
kernel is longer); a backend with no kernel for the case on this device is
``unsupported``, with the reasons PyTorch gives. ``fwd+bwd`` launches the
forward and ``torch.autograd.grad`` of Q, K, V (no accumulation into ``.grad``).

**FLOPs** (exact, per launch). Let P be the number of (query, key) pairs that
are computed: ``P = Sq*Skv`` without a mask. With ``is_causal`` PyTorch keeps
the *top-left* aligned lower triangle (query i sees keys j <= i), so::

    P = sum_{i<Sq} min(i+1, Skv)
      = Sq*(Sq+1)/2                          if Sq <= Skv
      = Skv*(Skv+1)/2 + (Sq-Skv)*Skv         if Sq >  Skv

Each pair costs one Dqk dot product (QK^T) and one Dv-wide multiply-add (PV)::

    forward  = 2 * B * Hq * P * (Dqk + Dv)       (= 4*B*H*Sq*Skv*D when Dqk = Dv = D)
    fwd+bwd  = 3.5 * forward                     (backward = 2.5 x forward)

The backward factor is FlashAttention's convention (its benchmarks count
5 matmuls backward against 2 forward). The causal count is exact rather than
FlashAttention's ``/2``; the two differ by (s+1)/s (0.2% at s = 512). Softmax
and scaling are not counted.

**Bytes** (the minimum traffic, in the case's dtype)::

    forward  = (|Q| + |K| + |V| + |O|) * itemsize
    fwd+bwd  = forward + (|Q|+|K|+|V|+|O|+|dO| + |dQ|+|dK|+|dV|) * itemsize
             = 3 * (|Q| + |K| + |V| + |O|) * itemsize

For decode this is reading Q, the K cache and the V cache and writing O; decode
is memory-bound, so its GB/s is the figure to read.

**Inputs** are standard-normal values drawn on the CPU in float32 and cast,
seeded by :func:`input_seed` (the shape without the backend and pass, so
all backends of a shape see identical inputs), then moved to the device.

**Reference.** ``reference()`` recomputes the attention in float64 on the CPU
from the same CPU-generated inputs. To bound its cost it covers a slice of the
output: batch 0, the query heads of KV group 0, and the last query rows (all
rows when they fit a budget of ``REF_BUDGET`` scores). ``Prepared.reference_slice``
is the index tuple such that ``output()[reference_slice]`` is comparable with
``reference()``; for ``fwd+bwd`` cases the output is the forward's O.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from accelbench.errors import CatalogError, UnsupportedError
from accelbench.workloads.base import (
    Case,
    Prepared,
    check_fields,
    choices,
    dtypes_of,
    positive_ints,
    sweep,
    torch_dtype,
    variant_seed,
)

__all__ = [
    "BACKENDS",
    "FAMILY",
    "REF_BUDGET",
    "AttentionFamily",
    "AttnShape",
    "attention_bytes",
    "attention_flops",
    "attention_memory",
    "causal_pairs",
    "input_seed",
    "reference_attention",
]

#: SDPA backends by case-parameter name, as ``torch.nn.attention.SDPBackend`` members.
BACKENDS: dict[str, str] = {
    "math": "MATH",
    "flash": "FLASH_ATTENTION",
    "efficient": "EFFICIENT_ATTENTION",
    "cudnn": "CUDNN_ATTENTION",
}
PASSES = ("fwd", "fwd+bwd")
#: Largest number of (query, key) scores the float64 reference computes.
REF_BUDGET = 1 << 22


@dataclass(frozen=True)
class AttnShape:
    """One attention problem (PyTorch's [B, H, S, D] layout)."""

    batch: int
    heads_q: int
    heads_kv: int
    seq_q: int
    seq_kv: int
    dim_qk: int
    dim_v: int
    causal: bool

    def numels(self) -> tuple[int, int, int, int]:
        """Elements of Q, K, V and O."""
        b = self.batch
        return (
            b * self.heads_q * self.seq_q * self.dim_qk,
            b * self.heads_kv * self.seq_kv * self.dim_qk,
            b * self.heads_kv * self.seq_kv * self.dim_v,
            b * self.heads_q * self.seq_q * self.dim_v,
        )


def causal_pairs(seq_q: int, seq_kv: int) -> int:
    """(query, key) pairs kept by PyTorch's top-left causal mask: sum_i min(i+1, Skv)."""
    if seq_q <= seq_kv:
        return seq_q * (seq_q + 1) // 2
    return seq_kv * (seq_kv + 1) // 2 + (seq_q - seq_kv) * seq_kv


def attention_flops(shape: AttnShape, backward: bool = False) -> int:
    """Exact FLOPs: 2*B*Hq*P*(Dqk+Dv) forward, 3.5x that for forward+backward."""
    pairs = causal_pairs(shape.seq_q, shape.seq_kv) if shape.causal else shape.seq_q * shape.seq_kv
    forward = 2 * shape.batch * shape.heads_q * pairs * (shape.dim_qk + shape.dim_v)
    return forward * 7 // 2 if backward else forward  # forward is even: exact


def attention_bytes(shape: AttnShape, itemsize: int, backward: bool = False) -> int:
    """Minimum bytes: read Q, K, V, write O (x3 with the backward's reads and writes)."""
    total = sum(shape.numels()) * itemsize
    return 3 * total if backward else total


def attention_memory(shape: AttnShape, itemsize: int, backend: str, backward: bool) -> int:
    """Device bytes a launch needs (an estimate used to refuse cases that cannot fit).

    Tensors: Q, K, V, O (plus dO, dQ, dK, dV and the saved O for the backward).
    The math backend also materialises the Sq x Skv scores and probabilities in
    at least float32 (twice more for the backward) and, for GQA, K and V
    expanded to Hq heads; fused backends need only O(B*H*Sq) extra.
    """
    tensors = sum(shape.numels()) * itemsize * (3 if backward else 1)
    extra = 0
    if backend == "math":
        scores = shape.batch * shape.heads_q * shape.seq_q * shape.seq_kv * max(itemsize, 4)
        extra = scores * (4 if backward else 2)
        if shape.heads_q != shape.heads_kv:
            expanded = shape.batch * shape.heads_q * shape.seq_kv * (shape.dim_qk + shape.dim_v)
            extra += expanded * itemsize * (2 if backward else 1)
    return tensors + extra


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, row_offset: int = 0
) -> torch.Tensor:
    """Softmax(Q K^T / sqrt(Dqk)) V in float64, KV heads repeated for GQA.

    ``q`` may hold only query rows ``row_offset ..`` of the full problem; the
    top-left causal mask is placed accordingly.
    """
    q64, k64, v64 = q.double(), k.double(), v.double()
    group = q64.shape[1] // k64.shape[1]
    if group > 1:
        k64 = k64.repeat_interleave(group, dim=1)
        v64 = v64.repeat_interleave(group, dim=1)
    scores = q64 @ k64.transpose(-2, -1) / float(q64.shape[-1]) ** 0.5
    if causal:
        rows = torch.arange(q64.shape[-2]).unsqueeze(1) + row_offset
        cols = torch.arange(k64.shape[-2]).unsqueeze(0)
        scores = scores.masked_fill(cols > rows, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v64


def _one_int(entry: Mapping[str, Any], key: str, where: str) -> int:
    """A positive int that is not a sweep (model dimensions are fixed per entry)."""
    if isinstance(entry[key], list):
        raise CatalogError(f"{where}: field {key!r} takes one value, not a list")
    return positive_ints(entry, key, where)[0]


def _bools(entry: Mapping[str, Any], key: str, where: str, default: bool) -> list[bool]:
    value = entry.get(key, default)
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, bool) for v in values):
        raise CatalogError(f"{where}: field {key!r} must be true/false or a list of them")
    return list(values)



def _check_fits(shape: AttnShape, dtype: torch.dtype, backend: str, backward: bool,
                device: Any) -> None:
    """UnsupportedError when the device lacks the dtype or the memory the case needs."""
    reason = device.unsupported_dtype(dtype)
    if reason:
        raise UnsupportedError(reason)
    need = attention_memory(shape, torch.finfo(dtype).bits // 8, backend, backward)
    capacity = device.memory_bytes()
    if capacity is not None and need > 0.8 * capacity:
        why = " (the math backend materialises the Sq x Skv scores)" * (backend == "math")
        raise UnsupportedError(f"needs {need / 2**30:.1f} GiB{why}, "
                               f"device has {capacity / 2**30:.1f} GiB")


def _sdp_backend(name: str) -> Any:
    try:
        from torch.nn.attention import SDPBackend
    except ImportError:  # pragma: no cover - PyTorch < 2.3
        raise UnsupportedError("this PyTorch has no torch.nn.attention.sdpa_kernel") from None
    member = getattr(SDPBackend, BACKENDS[name], None)
    if member is None:
        raise UnsupportedError(f"this PyTorch ({torch.__version__}) has no SDPA backend {name!r}")
    return member


def _no_kernel(exc: BaseException) -> bool:
    text = str(exc)
    return "No available kernel" in text or "No viable backend" in text


def _reasons(messages: Iterable[str]) -> list[str]:
    """PyTorch's warnings about refused kernels, without the C++ source locations."""
    out: list[str] = []
    for message in messages:
        text = re.sub(r"\s*\(Triggered internally at [^)]*\)\.?", "", message).strip()
        text = text.splitlines()[0] if text else ""
        if text.endswith("because:") or "has been runtime disabled" in text:
            continue  # headers, and the other backends that sdpa_kernel switched off
        if text and text not in out:
            out.append(text)
    return out


def _first_launch(fn: Callable[[], object], backend: str, device: Any) -> None:
    """Run the kernel once; a refusal of the backend or a too-large case becomes unsupported."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
            device.synchronize()
        except RuntimeError as exc:
            if _no_kernel(exc):
                detail = "; ".join(_reasons(str(w.message) for w in caught))
                detail = detail or str(exc).splitlines()[0]
                raise UnsupportedError(
                    f"SDPA backend {backend!r} has no kernel for this case on "
                    f"{device.backend}: {detail[:400]}"
                ) from None
            if "out of memory" in str(exc).lower():
                raise UnsupportedError(f"does not fit in device memory: "
                                       f"{str(exc).splitlines()[0][:200]}") from None
            raise


def input_seed(case: Case) -> int:
    """Seed of a case's inputs: the shape alone, not the SDPA backend or the pass.

    Every backend (and forward vs forward+backward) of one shape then sees
    bit-identical inputs, so their outputs can be compared with each other,
    on one device and across devices.
    """
    shape = " ".join(f"{k}={v}" for k, v in case.params if k not in ("sdpa", "pass"))
    return variant_seed(f"{case.kernel}|{shape}", case.input_variant)


class AttentionFamily:
    """The attention kernel family (prefill and decode through SDPA)."""

    name = "attention"
    default_dtypes: tuple[str, ...] = ("bf16", "fp16", "fp32")
    _fields = ("name", "model", "mode", "batch", "heads_q", "heads_kv", "head_dim",
               "head_dim_qk", "head_dim_v", "seq", "kv_len", "causal", "backends", "passes",
               "dtypes", "description")

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        check_fields(entry, self._fields, where, required=("name", "mode", "heads_q"))
        base, model = str(entry["name"]), entry.get("model")
        mode = entry["mode"]
        if mode not in ("prefill", "decode"):
            raise CatalogError(f"{where}: field 'mode' must be 'prefill' or 'decode', got {mode!r}")
        hq = _one_int(entry, "heads_q", where)
        hkv = _one_int(entry, "heads_kv", where) if "heads_kv" in entry else hq
        if hq % hkv:
            raise CatalogError(f"{where}: heads_q ({hq}) must be a multiple of heads_kv ({hkv})")
        if "head_dim" in entry:
            if "head_dim_qk" in entry or "head_dim_v" in entry:
                raise CatalogError(f"{where}: 'head_dim' excludes 'head_dim_qk'/'head_dim_v'")
            dqk = dv = _one_int(entry, "head_dim", where)
        elif "head_dim_qk" in entry and "head_dim_v" in entry:
            dqk = _one_int(entry, "head_dim_qk", where)
            dv = _one_int(entry, "head_dim_v", where)
        else:
            raise CatalogError(f"{where}: give 'head_dim' or both 'head_dim_qk' and 'head_dim_v'")
        length_key = "seq" if mode == "prefill" else "kv_len"
        other = "kv_len" if mode == "prefill" else "seq"
        if other in entry:
            raise CatalogError(f"{where}: mode {mode!r} takes {length_key!r}, not {other!r}")
        if length_key not in entry:
            raise CatalogError(f"{where}: missing field {length_key!r}")
        if mode == "decode" and "causal" in entry:
            raise CatalogError(f"{where}: decode is never causal (one query sees the whole cache)")
        axes: dict[str, list[Any]] = {
            "length": positive_ints(entry, length_key, where),
            "batch": positive_ints(entry, "batch", where) if "batch" in entry else [1],
            "causal": _bools(entry, "causal", where, True) if mode == "prefill" else [False],
            "backend": choices(entry, "backends", BACKENDS, where),
            "pass": choices(entry, "passes", PASSES, where, default=["fwd"]),
        }
        dtypes = dtypes_of(entry, self.default_dtypes, where)
        cases = []
        for combo in sweep(axes):
            n, b = combo["length"], combo["batch"]
            words = [base, mode]
            if mode == "prefill":
                words.append("causal" if combo["causal"] else "non-causal")
                words.append(f"s={n}")
            else:
                words.append(f"L={n}")
            if mode == "decode" or b != 1 or len(axes["batch"]) > 1:
                words.append(f"b={b}")
            words += [combo["backend"], combo["pass"]]
            sq = n if mode == "prefill" else 1
            params = (("B", b), ("Hq", hq), ("Hkv", hkv), ("Sq", sq), ("Skv", n), ("Dqk", dqk),
                      ("Dv", dv), ("causal", int(combo["causal"])), ("sdpa", combo["backend"]),
                      ("pass", combo["pass"]))
            for dtype in dtypes:
                cases.append(Case(kernel=self.name, case=" ".join(words), dtype=dtype,
                                  params=params, model=str(model) if model else None,
                                  source=where))
        return cases

    @staticmethod
    def shape(case: Case) -> AttnShape:
        p = dict(case.params)
        return AttnShape(p["B"], p["Hq"], p["Hkv"], p["Sq"], p["Skv"], p["Dqk"], p["Dv"],
                         bool(p["causal"]))

    def prepare(self, case: Case, device: Any) -> Prepared:
        shape = self.shape(case)
        backend, backward = str(case.param("sdpa")), case.param("pass") == "fwd+bwd"
        dtype = torch_dtype(case.dtype)
        itemsize = torch.finfo(dtype).bits // 8
        _check_fits(shape, dtype, backend, backward, device)
        sdp = _sdp_backend(backend)
        from torch.nn.attention import sdpa_kernel

        gen = torch.Generator().manual_seed(input_seed(case))

        def draw(*dims: int) -> torch.Tensor:
            return torch.randn(dims, generator=gen, dtype=torch.float32).to(dtype)

        b, hq, hkv = shape.batch, shape.heads_q, shape.heads_kv
        q_host = draw(b, hq, shape.seq_q, shape.dim_qk)
        k_host = draw(b, hkv, shape.seq_kv, shape.dim_qk)
        v_host = draw(b, hkv, shape.seq_kv, shape.dim_v)
        tdev = device.torch_device
        q, k, v = (t.to(tdev) for t in (q_host, k_host, v_host))
        kwargs: dict[str, Any] = {"is_causal": shape.causal}
        if hq != hkv:
            kwargs["enable_gqa"] = True
        last: list[torch.Tensor] = []

        def attend() -> torch.Tensor:
            with sdpa_kernel(sdp):
                return F.scaled_dot_product_attention(q, k, v, **kwargs)

        if backward:
            for t in (q, k, v):
                t.requires_grad_(True)
            grad_out = draw(b, hq, shape.seq_q, shape.dim_v).to(tdev)

            def run() -> object:
                out = attend()
                grads = torch.autograd.grad(out, (q, k, v), grad_out)
                last[:] = [out.detach()]
                return grads
        else:

            def run() -> object:
                last[:] = [attend()]
                return last[0]

        _first_launch(run, backend, device)
        ref_slice, ref_fn = self._reference(shape, q_host, k_host, v_host)
        return Prepared(
            fn=run,
            flops=float(attention_flops(shape, backward)),
            bytes=float(attention_bytes(shape, itemsize, backward)),
            output=lambda: last[0],
            reference=ref_fn,
            reference_slice=ref_slice,
        )

    @staticmethod
    def _reference(
        shape: AttnShape, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[tuple[slice, ...], Callable[[], torch.Tensor]]:
        """Bounded float64 reference: batch 0, KV group 0's query heads, the last rows."""
        group = shape.heads_q // shape.heads_kv
        rows = min(shape.seq_q, max(1, REF_BUDGET // (group * shape.seq_kv)))
        start = shape.seq_q - rows
        index = (slice(0, 1), slice(0, group), slice(start, shape.seq_q))

        def reference() -> torch.Tensor:
            return reference_attention(
                q[0:1, 0:group, start:].detach(), k[0:1, 0:1].detach(), v[0:1, 0:1].detach(),
                shape.causal, start,
            )

        return index, reference


FAMILY = AttentionFamily()

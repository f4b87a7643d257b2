"""The model blocks of the ``blocks`` family: their math, inputs, FLOP and byte counts.

Each block is a plain PyTorch function written as a model's forward pass
writes it (the Hugging Face Llama/Qwen2 modules), so ``torch.compile`` sees
what it sees in a real model. Half-precision inputs are computed the way
those models compute them: RMSNorm and the loss in float32, everything else
in the input dtype; float64 inputs stay in float64 throughout, which makes
the same function the float64 reference.

**Counting.** FLOPs count every arithmetic operation on the values once, with
an exponential, reciprocal square root, logarithm or division as one FLOP;
the matmuls count 2 per multiply-add, the attention core as the ``attention``
family counts it (its two matmuls; softmax not counted). Bytes are the least
a fused kernel must move: the block's inputs read once and its output written
once (intermediates such as the SwiGLU activations or the log-probabilities
need not leave the chip, so they are not counted). The embedding lookup does
no arithmetic (FLOPs are not reported); its bytes are the rows it gathers.

======================  =====================================  =================================
block                   FLOPs                                  bytes (s = itemsize)
======================  =====================================  =================================
rmsnorm                 4*T*H + 3*T                            (2*T*H + H)*s
swiglu                  6*T*H*I + 5*T*I                        (2*T*H + 3*H*I)*s
rotary                  3*T*(Hq+Hkv)*D                         2*T*(Hq+Hkv)*D*s + 2*T*D*s
embedding               (none)                                 2*T*H*s + 8*T
cross_entropy           4*T*V + 3*T                            T*V*s + 8*T + 4*T (fp64: 8*T)
decoder_layer           the sum of its parts (see layer_flops) weights + 2*T*H*s + 2*T*D*s
======================  =====================================  =================================

RMSNorm per element: square, add to the sum, scale, weight (4); per row:
mean, add eps, rsqrt (3). SwiGLU: three matmuls plus silu(g)*u per
activation: exp, add, divide (the sigmoid), two multiplies (5). Rotary: a
pair (x1, x2) becomes (x1*c - x2*s, x2*c + x1*s), 6 FLOPs per pair. Cross
entropy per logit: max, subtract, exp, add to the sum (4); per row: log and
two subtractions (3); ``8*T`` bytes are the int64 targets, ``4*T`` the float32
losses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from accelbench.workloads.attention import causal_pairs

__all__ = [
    "BLOCKS",
    "Block",
    "Inputs",
    "Params",
    "cross_entropy",
    "decoder_layer",
    "embedding",
    "layer_flops",
    "rms_norm",
    "rotary",
    "swiglu",
]

Params = dict[str, Any]
Inputs = tuple[torch.Tensor | None, ...]


def _acc(dtype: torch.dtype) -> torch.dtype:
    """The precision a model computes norms and losses in: float32, float64 for float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# -- the blocks ------------------------------------------------------------------------------

def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """``weight * x / sqrt(mean(x^2) + eps)``, the statistics in float32 (LlamaRMSNorm)."""
    h = x.to(_acc(x.dtype))
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def swiglu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor,
           w_down: torch.Tensor) -> torch.Tensor:
    """``down(silu(gate(x)) * up(x))`` with ``nn.Linear`` weights ``[out, in]`` (LlamaMLP)."""
    return F.linear(F.silu(F.linear(x, w_gate)) * F.linear(x, w_up), w_down)


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of ``x [T, heads, D]`` with ``cos, sin [T, D]`` (rotate_half)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1)


def embedding(ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rows of the token embedding table: ``table[ids]``."""
    return F.embedding(ids, table)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-token loss over the vocabulary, logits upcast to float32 first (as HF's loss does)."""
    return F.cross_entropy(logits.to(_acc(logits.dtype)), targets, reduction="none")


def decoder_layer(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, ln1: torch.Tensor,
                  w_qkv: torch.Tensor, b_qkv: torch.Tensor | None, w_o: torch.Tensor,
                  ln2: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor,
                  w_down: torch.Tensor, *, eps: float, heads: int, kv_heads: int) -> torch.Tensor:
    """One pre-norm decoder layer on a prefill of T tokens (Llama/Qwen2 layout).

    RMSNorm, fused QKV projection (with Qwen2's bias when given), rotary on Q
    and K, causal grouped-query SDPA, output projection and residual, then
    RMSNorm, SwiGLU MLP and residual.
    """
    tokens = x.shape[0]
    dim = cos.shape[-1]
    h = rms_norm(x, ln1, eps)
    q, k, v = torch.split(F.linear(h, w_qkv, b_qkv), [heads * dim, kv_heads * dim, kv_heads * dim],
                          -1)
    q = rotary(q.reshape(tokens, heads, dim), cos, sin).transpose(0, 1).unsqueeze(0)
    k = rotary(k.reshape(tokens, kv_heads, dim), cos, sin).transpose(0, 1).unsqueeze(0)
    v = v.reshape(tokens, kv_heads, dim).transpose(0, 1).unsqueeze(0)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=heads != kv_heads)
    x = x + F.linear(o.squeeze(0).transpose(0, 1).reshape(tokens, heads * dim), w_o)
    return x + swiglu(rms_norm(x, ln2, eps), w_gate, w_up, w_down)


# -- inputs --------------------------------------------------------------------------------

def _normal(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator,
            scale: float = 1.0) -> torch.Tensor:
    """Standard-normal values (times ``scale``) drawn in float32 on the CPU, then cast."""
    return (torch.randn(shape, generator=gen, dtype=torch.float32) * scale).to(dtype)


def _linear(out_f: int, in_f: int, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    """A weight ``[out, in]`` with variance 1/in, so activations keep unit scale."""
    return _normal((out_f, in_f), dtype, gen, 1.0 / math.sqrt(in_f))


def _norm_weight(h: int, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    return (1.0 + 0.1 * torch.randn(h, generator=gen, dtype=torch.float32)).to(dtype)


def rope_tables(tokens: int, dim: int, theta: float, dtype: torch.dtype) -> Inputs:
    """cos and sin ``[T, D]`` of positions 0..T-1 (computed in float64, cast as models do)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    freqs = torch.outer(torch.arange(tokens, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def _rmsnorm_inputs(p: Params, dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    return _normal((p["T"], p["H"]), dtype, gen), _norm_weight(p["H"], dtype, gen)


def _swiglu_inputs(p: Params, dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    h, i = p["H"], p["I"]
    return (_normal((p["T"], h), dtype, gen), _linear(i, h, dtype, gen),
            _linear(i, h, dtype, gen), _linear(h, i, dtype, gen))


def _rotary_inputs(p: Params, dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    heads = p["Hq"] + p["Hkv"]
    return (_normal((p["T"], heads, p["D"]), dtype, gen),
            *rope_tables(p["T"], p["D"], p["theta"], dtype))


def _embedding_inputs(p: Params, dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    ids = torch.randint(0, p["V"], (p["T"],), generator=gen, dtype=torch.int64)
    return ids, _normal((p["V"], p["H"]), dtype, gen)


def _cross_entropy_inputs(p: Params, dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    logits = _normal((p["T"], p["V"]), dtype, gen, 2.0)
    return logits, torch.randint(0, p["V"], (p["T"],), generator=gen, dtype=torch.int64)


def _layer_inputs(p: Params, dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    t, h, d, i = p["T"], p["H"], p["D"], p["I"]
    qkv = (p["Hq"] + 2 * p["Hkv"]) * d
    cos, sin = rope_tables(t, d, p["theta"], dtype)
    return (_normal((t, h), dtype, gen), cos, sin, _norm_weight(h, dtype, gen),
            _linear(qkv, h, dtype, gen), _normal((qkv,), dtype, gen, 0.1) if p["bias"] else None,
            _linear(h, p["Hq"] * d, dtype, gen), _norm_weight(h, dtype, gen),
            _linear(i, h, dtype, gen), _linear(i, h, dtype, gen), _linear(h, i, dtype, gen))


# -- counts -----------------------------------------------------------------------------------

def _rmsnorm_flops(t: int, h: int) -> int:
    return 4 * t * h + 3 * t


def _swiglu_flops(t: int, h: int, i: int) -> int:
    return 6 * t * h * i + 5 * t * i


def layer_flops(p: Params) -> int:
    """FLOPs of :func:`decoder_layer`: its norms, projections, rotary, attention, MLP, residuals."""
    t, h, d, hq, hkv = p["T"], p["H"], p["D"], p["Hq"], p["Hkv"]
    qkv = (hq + 2 * hkv) * d
    return (2 * _rmsnorm_flops(t, h) + 2 * t * h * qkv + (t * qkv if p["bias"] else 0)
            + 3 * t * (hq + hkv) * d + 2 * hq * causal_pairs(t, t) * 2 * d
            + 2 * t * hq * d * h + _swiglu_flops(t, h, p["I"]) + 2 * t * h)


def _layer_bytes(p: Params, s: int) -> int:
    h, d, i = p["H"], p["D"], p["I"]
    qkv = (p["Hq"] + 2 * p["Hkv"]) * d
    weights = h * qkv + (qkv if p["bias"] else 0) + p["Hq"] * d * h + 3 * h * i + 2 * h
    return (weights + 2 * p["T"] * h + 2 * p["T"] * d) * s


def _loss_bytes(p: Params, s: int) -> int:
    return p["T"] * p["V"] * s + 8 * p["T"] + (8 if s == 8 else 4) * p["T"]


@dataclass(frozen=True)
class Block:
    """One block: catalog fields, inputs, the function, its counts and its reference cost.

    ``fields`` maps catalog field -> (param name, type); ``static`` names the
    params passed to ``fn`` as keywords (not tensors). ``rowwise``: output row
    t depends on row t of the inputs numbered in ``row_inputs`` only, so the float64
    reference may cover a subset of the rows (empty: it may not). ``reduction``
    is the longest sum behind an output element. ``reference`` replaces ``fn``
    on float64 inputs where that would be wasteful (the embedding gathers its
    rows first: exactly the same values, without a float64 copy of the table).
    """

    name: str
    fields: dict[str, tuple[str, type]]
    inputs: Callable[[Params, torch.dtype, torch.Generator], Inputs]
    fn: Callable[..., torch.Tensor]
    flops: Callable[[Params], int | None]
    nbytes: Callable[[Params, int], int]
    reduction: Callable[[Params], int]
    row_inputs: tuple[int, ...] = (0,)
    static: dict[str, str] | None = None  # keyword of fn -> param name
    reference: Callable[..., torch.Tensor] | None = None


_HIDDEN = {"hidden": ("H", int)}
_HEADS = {"heads": ("Hq", int), "kv_heads": ("Hkv", int), "head_dim": ("D", int)}

#: The blocks by the name used in the catalog's ``block`` field.
BLOCKS: dict[str, Block] = {b.name: b for b in (
    Block("rmsnorm", {**_HIDDEN, "eps": ("eps", float)}, _rmsnorm_inputs, rms_norm,
          lambda p: _rmsnorm_flops(p["T"], p["H"]),
          lambda p, s: (2 * p["T"] * p["H"] + p["H"]) * s, lambda p: p["H"],
          static={"eps": "eps"}),
    Block("swiglu", {**_HIDDEN, "intermediate": ("I", int)}, _swiglu_inputs, swiglu,
          lambda p: _swiglu_flops(p["T"], p["H"], p["I"]),
          lambda p, s: (2 * p["T"] * p["H"] + 3 * p["H"] * p["I"]) * s,
          lambda p: max(p["H"], p["I"])),
    Block("rotary", {**_HEADS, "theta": ("theta", float)}, _rotary_inputs, rotary,
          lambda p: 3 * p["T"] * (p["Hq"] + p["Hkv"]) * p["D"],
          lambda p, s: (2 * p["T"] * (p["Hq"] + p["Hkv"]) * p["D"] + 2 * p["T"] * p["D"]) * s,
          lambda p: 2, row_inputs=(0, 1, 2)),
    Block("embedding", {"vocab": ("V", int), **_HIDDEN}, _embedding_inputs, embedding,
          lambda p: None, lambda p, s: 2 * p["T"] * p["H"] * s + 8 * p["T"], lambda p: 1,
          reference=lambda ids, table: F.embedding(ids, table).double()),
    Block("cross_entropy", {"vocab": ("V", int)}, _cross_entropy_inputs, cross_entropy,
          lambda p: 4 * p["T"] * p["V"] + 3 * p["T"], _loss_bytes, lambda p: p["V"],
          row_inputs=(0, 1)),
    Block("decoder_layer",
          {**_HIDDEN, **_HEADS, "intermediate": ("I", int), "eps": ("eps", float),
           "theta": ("theta", float), "qkv_bias": ("bias", bool)},
          _layer_inputs, decoder_layer, layer_flops, _layer_bytes,
          lambda p: max(p["H"], p["I"], p["T"]), row_inputs=(),
          static={"eps": "eps", "heads": "Hq", "kv_heads": "Hkv"}),
)}

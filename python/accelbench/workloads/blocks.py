"""Model blocks, eager and compiled: the small pieces of a decoder between (and around) the matmuls.

Each catalog entry names a ``block`` (RMSNorm, SwiGLU MLP, rotary embedding,
embedding lookup, softmax + cross-entropy, one decoder layer; see
:mod:`accelbench.workloads.block_ops` for their math and counts) with the
shapes of a real model, and expands into a *pair* of cases per token count
and dtype: ``eager`` (the function as PyTorch runs it op by op) and
``compiled`` (``torch.compile(fn)`` in its default mode). Both cases of a
pair draw their inputs from one seed (the case without its mode), so they
compute on bit-identical inputs.

**Compiling.** A compiled case compiles in ``prepare``, never inside the
samples. The compiler is started once per worker process on a tiny unrelated
function (imports, compile workers, the CPU's ISA probe: costs of no case);
then the compiler's state is reset (``torch._dynamo.reset()``) and the first
call of the case's compiled function is timed to its result, device
synchronised: that is ``compile_s`` (tracing, code generation, the C++ or
Triton compile, loading and one run).
Warm-up and sampling then time the compiled function only. If the compiler
fails, the case's status is ``compile_error`` and its ``error`` the
compiler's reason (the innermost exception, one line); the run goes on.
Inductor's on-disk cache is private to the run (the runner points
``TORCHINDUCTOR_CACHE_DIR`` at a temporary directory it removes at the end),
so ``compile_s`` of a run's first round is a cold compile that no earlier
run can shorten; later rounds of the run reuse that cache, and the row keeps
the first round's ``compile_s``.

**Agreement.** Every case is checked against the float64 reference like any
other (the same function on float64 inputs; for row-wise blocks over an even
subset of the rows when all rows would cost more than
:data:`REFERENCE_MAX_FLOPS`). A compiled case also hands the eager function's
result on the same inputs to the checks (``Prepared.eager_output``), which
compare its output with it: ``vs_eager_max_abs_err``,
``vs_eager_max_rel_err``, ``vs_eager_ulp_max`` and ``vs_eager_bitwise``
(reordered or fused arithmetic makes small differences legitimate; they are
reported, not judged).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from accelbench.errors import CatalogError, CompileError, UnsupportedError
from accelbench.workloads.base import (
    Case,
    Prepared,
    check_fields,
    dtypes_of,
    positive_ints,
    torch_dtype,
    variant_seed,
)
from accelbench.workloads.block_ops import BLOCKS, Block, Inputs, Params

__all__ = ["FAMILY", "MODES", "REFERENCE_MAX_FLOPS", "BlocksFamily", "compile_reason",
           "pair_seed"]

#: How a case runs its block: op by op, or through ``torch.compile``.
MODES = ("eager", "compiled")
#: FLOPs the float64 reference of a row-wise block may cost (well under a second on one core).
REFERENCE_MAX_FLOPS = 1 << 28


def pair_seed(case: Case) -> int:
    """Input seed of a case without its mode: both cases of a pair get the same inputs."""
    shape = " ".join(f"{k}={v}" for k, v in case.params if k != "mode")
    return variant_seed(f"{case.kernel}|{shape}", case.input_variant)


def compile_reason(exc: BaseException) -> str:
    """One line saying why compiling failed: the innermost cause, named, with its first line."""
    inner = exc
    seen = {id(inner)}
    while True:
        nxt = getattr(inner, "inner_exception", None) or inner.__cause__
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        inner = nxt
    lines = [ln.strip() for ln in str(inner).splitlines() if ln.strip()]
    text = f"{type(inner).__name__}: {lines[0][:300]}" if lines else type(inner).__name__
    if inner is not exc:
        text = f"{type(exc).__name__}: {text}"
    return f"torch.compile failed: {text}"


def _field(entry: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = entry[key]
    if kind is bool:
        if not isinstance(value, bool):
            raise CatalogError(f"{where}: field {key!r} must be true or false, got {value!r}")
        return value
    if isinstance(value, list):
        raise CatalogError(f"{where}: field {key!r} takes one value, not a list")
    if kind is int:
        return positive_ints({key: value}, key, where)[0]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise CatalogError(f"{where}: field {key!r} must be a positive number, got {value!r}")
    return float(value)


def _modes(entry: Mapping[str, Any], where: str) -> list[str]:
    raw = entry.get("modes", list(MODES))
    modes = raw if isinstance(raw, list) else [raw]
    if not modes or any(m not in MODES for m in modes):
        raise CatalogError(f"{where}: field 'modes' must list some of {', '.join(MODES)}, "
                           f"got {raw!r}")
    return [str(m) for m in modes]


class BlocksFamily:
    """The blocks kernel family: model blocks, each as an eager and a compiled case."""

    name = "blocks"
    default_dtypes: tuple[str, ...] = ("bf16", "fp32")
    _common = ("name", "model", "block", "tokens", "modes", "dtypes", "description")

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        check_fields(entry, (*self._common, *(f for b in BLOCKS.values() for f in b.fields)),
                     where, required=("name", "block", "tokens"))
        block = BLOCKS.get(str(entry["block"]))
        if block is None:
            raise CatalogError(f"{where}: field 'block' must be one of {', '.join(BLOCKS)}, "
                               f"got {entry['block']!r}")
        check_fields(entry, (*self._common, *block.fields), where, required=tuple(block.fields))
        fixed = tuple((param, _field(entry, key, kind, where))
                      for key, (param, kind) in block.fields.items())
        self._check_heads(dict(fixed), where)
        model = entry.get("model")
        return [
            Case(kernel=self.name, case=f"{entry['name']} T={t} {mode}", dtype=dtype,
                 params=(("block", block.name), ("T", t), *fixed, ("mode", mode)),
                 model=str(model) if model else None, source=where)
            for t in positive_ints(entry, "tokens", where)
            for mode in _modes(entry, where)
            for dtype in dtypes_of(entry, self.default_dtypes, where)
        ]

    @staticmethod
    def _check_heads(p: Params, where: str) -> None:
        if "Hq" in p and p["Hq"] % p["Hkv"]:
            raise CatalogError(f"{where}: heads ({p['Hq']}) must be a multiple of kv_heads "
                               f"({p['Hkv']})")
        if "D" in p and p["D"] % 2:
            raise CatalogError(f"{where}: head_dim must be even (rotary pairs), got {p['D']}")

    def prepare(self, case: Case, device: Any) -> Prepared:
        p: Params = dict(case.params)
        block = BLOCKS[p["block"]]
        dtype = torch_dtype(case.dtype)
        reason = device.unsupported_dtype(dtype)
        if reason:
            raise UnsupportedError(reason)
        itemsize = torch.finfo(dtype).bits // 8
        nbytes = block.nbytes(p, itemsize)
        capacity = device.memory_bytes()
        if capacity is not None and 3 * nbytes > 0.8 * capacity:
            raise UnsupportedError(f"needs about {3 * nbytes / 2**30:.1f} GiB, "
                                   f"device has {capacity / 2**30:.1f} GiB")
        host = block.inputs(p, dtype, torch.Generator().manual_seed(pair_seed(case)))
        tdev = device.torch_device
        args = tuple(None if t is None else t.to(tdev) for t in host)
        static = {kw: p[name] for kw, name in (block.static or {}).items()}

        def eager(*xs: torch.Tensor | None) -> torch.Tensor:
            return block.fn(*xs, **static)

        last: list[torch.Tensor] = []
        columns: dict[str, Any] = {}
        fn: Callable[..., torch.Tensor] = eager
        eager_output = None
        if p["mode"] == "compiled":
            fn, first, columns["compile_s"] = _compile(eager, args, device)
            eager_output = eager(*args)
            last.append(first)

        def run() -> torch.Tensor:
            last[:] = [fn(*args)]
            return last[0]

        rows, reference = _reference(block, p, host, eager)
        flops = block.flops(p)
        return Prepared(
            fn=run, flops=None if flops is None else float(flops), bytes=float(nbytes),
            output=lambda: last[0], reference=reference, reference_slice=rows,
            reduction_length=block.reduction(p), columns=columns, eager_output=eager_output,
        )


def _warm_up_compiler(device: Any) -> None:
    """Start the compiler once per process and device type, outside every ``compile_s``.

    The first compilation in a process (with a fresh cache directory) pays costs
    that belong to no case: importing the compiler stack, starting its pool of
    compile workers, probing the CPU's vector ISA by compiling test programs.
    A tiny unrelated function compiled first pays them, so that ``compile_s``
    of the case that happens to come first is comparable with the others'.
    """
    kind = device.torch_device.type
    if kind in _WARM:
        return
    x = torch.arange(8, dtype=torch.float32, device=device.torch_device)
    try:
        torch.compile(_warm_up_fn)(x)
        device.synchronize()
    except Exception as exc:  # the compiler does not work at all here: every case says why
        raise CompileError(compile_reason(exc)) from None
    _WARM.add(kind)


def _warm_up_fn(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(x) * 2.0 + 1.0


#: Device types whose compiler this process has started (:func:`_warm_up_compiler`).
_WARM: set[str] = set()


def _compile(eager: Callable[..., torch.Tensor], args: Inputs,
             device: Any) -> tuple[Callable[..., torch.Tensor], torch.Tensor, float]:
    """``torch.compile(eager)`` from a clean compiler state, its first result and its time."""
    _warm_up_compiler(device)
    torch._dynamo.reset()
    compiled = torch.compile(eager)
    started = time.perf_counter()
    try:
        first = compiled(*args)
        device.synchronize()
    except Exception as exc:  # any failure of the first compiled call: the compiler's reason
        raise CompileError(compile_reason(exc)) from None
    return compiled, first, time.perf_counter() - started


def _reference(block: Block, p: Params, host: Inputs, eager: Callable[..., torch.Tensor]
               ) -> tuple[torch.Tensor | None, Callable[[], torch.Tensor]]:
    """The float64 reference, over an evenly spaced subset of rows when all would cost too much."""
    tokens = int(p["T"])
    flops = block.flops(p) or 0
    rows: torch.Tensor | None = None
    if block.row_inputs and flops > REFERENCE_MAX_FLOPS:
        count = max(1, min(tokens, REFERENCE_MAX_FLOPS * tokens // flops))
        rows = torch.unique(torch.linspace(0, tokens - 1, count).round().long())
    fn = block.reference or eager

    def reference() -> torch.Tensor:
        xs: list[torch.Tensor | None] = []
        for i, t in enumerate(host):
            if t is not None and rows is not None and i in block.row_inputs:
                t = t[rows]
            if t is not None and block.reference is None and t.is_floating_point():
                t = t.double()
            xs.append(t)
        return fn(*xs)

    return rows, reference


FAMILY = BlocksFamily()

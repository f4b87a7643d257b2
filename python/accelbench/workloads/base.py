"""The interface every kernel family implements, and the frozen case spec.

A *family* (matmul, attention, ...) turns catalog entries into :class:`Case`
objects (``expand``) and a case into something runnable on a device
(``prepare``). Families are plain objects listed explicitly in
:mod:`accelbench.workloads`; nothing registers itself at import time.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from accelbench.errors import CatalogError, UnsupportedError

__all__ = [
    "DTYPES",
    "FLOAT_DTYPES",
    "QUANT_DTYPES",
    "Case",
    "Family",
    "Prepared",
    "canonical_dtype",
    "check_fields",
    "choices",
    "probe_kernel",
    "sweep",
    "torch_dtype",
]

#: Canonical dtype names (used in catalogs, the CLI and the `dtype` column).
DTYPES: dict[str, torch.dtype] = {
    "fp64": torch.float64,
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "fp8_e4m3": torch.float8_e4m3fn,
    "fp8_e5m2": torch.float8_e5m2,
    "int8": torch.int8,
}
#: The floating-point types every float family takes (the default of :func:`dtypes_of`).
FLOAT_DTYPES: tuple[str, ...] = ("fp64", "fp32", "bf16", "fp16")
#: The quantized input types (``quantized`` family): fp8 through scaled matmuls, int8.
QUANT_DTYPES: tuple[str, ...] = ("fp8_e4m3", "fp8_e5m2", "int8")
_ALIASES = {
    "float64": "fp64", "double": "fp64",
    "float32": "fp32", "float": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16", "half": "fp16",
    "float8_e4m3fn": "fp8_e4m3", "e4m3": "fp8_e4m3",
    "float8_e5m2": "fp8_e5m2", "e5m2": "fp8_e5m2",
}


def canonical_dtype(name: str) -> str:
    """``'bfloat16'`` -> ``'bf16'``; raises ValueError for unknown names."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DTYPES:
        raise ValueError(f"unknown dtype {name!r} (known: {', '.join(DTYPES)})")
    return key


def torch_dtype(name: str) -> torch.dtype:
    return DTYPES[canonical_dtype(name)]


def variant_seed(text: str, variant: int = 0) -> int:
    """Seed for the inputs named by ``text``; variant 0 keeps the historic seed (CRC-32 of text)."""
    return zlib.crc32(text.encode() if variant == 0 else f"{text}|variant={variant}".encode())


@dataclass(frozen=True)
class Case:
    """One measurable case: a kernel family, a shape, a dtype.

    ``params`` keeps the family's parameters in catalog order; ``case`` is the
    readable name that carries the variant (``llama3-8b qkv_proj T=2048``).
    ``input_variant`` selects another set of inputs for the same case (0, the
    default, is what every run measures; the input-sensitivity check prepares
    variant 1): families seed their inputs from :attr:`seed`, which mixes it in.
    """

    kernel: str
    case: str
    dtype: str
    params: tuple[tuple[str, Any], ...]
    model: str | None = None
    source: str = ""
    options: tuple[tuple[str, Any], ...] = ()
    input_variant: int = 0

    @property
    def key(self) -> str:
        """Identity of the case inside a run (used by resume and comparisons)."""
        return f"{self.kernel}|{self.case}|{self.dtype}"

    @property
    def seed(self) -> int:
        """Per-case input seed: the same on every machine, so inputs are bit-identical."""
        return variant_seed(f"{self.kernel}|{self.case}", self.input_variant)

    def param(self, name: str) -> Any:
        return dict(self.params)[name]

    @property
    def params_text(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.params)


@dataclass
class Prepared:
    """A case made runnable on one device.

    ``fn`` launches the kernel once (asynchronously on accelerators).
    ``flops``/``bytes`` are per launch: the exact FLOP count and the bytes the
    kernel must move at least once. ``output`` returns the result tensor of
    the last launch; ``reference`` computes the float64 CPU reference.
    ``clone`` (optional) makes an independent copy of the device inputs and
    outputs and returns a launch function over it: cold cache in graph mode
    rotates over such copies.

    What the numerical checks and the timer need to know about the case:
    ``reference_slice`` indexes the part of the output the reference covers
    (when it covers only part); ``reduction_length`` is the length of the
    sums behind each output element (it widens the dtype tolerance);
    ``tolerance`` = ``(rtol, atol)`` replaces the dtype tolerance;
    ``input_independent`` says the output does not depend on the inputs (a
    fill), so the input-sensitivity check is skipped; ``host_timing`` asks
    for the host's view of a launch (synchronised host clock) instead of the
    device's timer. ``columns`` are result columns the family measured while
    preparing (a compiled case's ``compile_s``), merged into the case's row.
    ``eager_output`` is the result of the same computation run op by op on the
    same inputs (a compiled case's partner); the checks report the output's
    distance from it (the ``vs_eager_*`` columns).

    ``extra`` is the older spelling of those fields (a dict with the same
    keys, ``"timing": "host"`` for ``host_timing``); its known keys are moved
    into the fields.
    """

    fn: Callable[[], object]
    flops: float | None = None
    bytes: float | None = None
    output: Callable[[], torch.Tensor] | None = None
    reference: Callable[[], torch.Tensor] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    clone: Callable[[], Callable[[], object]] | None = None
    reference_slice: Any = None
    reduction_length: int = 1
    tolerance: tuple[float, float] | None = None
    input_independent: bool = False
    host_timing: bool = False
    columns: dict[str, Any] = field(default_factory=dict)
    eager_output: torch.Tensor | None = None

    def __post_init__(self) -> None:
        extra = self.extra
        if "reference_slice" in extra:
            self.reference_slice = extra.pop("reference_slice")
        if "reduction_length" in extra:
            self.reduction_length = int(extra.pop("reduction_length"))
        if "tolerance" in extra:
            rtol, atol = extra.pop("tolerance")
            self.tolerance = (float(rtol), float(atol))
        if "input_independent" in extra:
            self.input_independent = bool(extra.pop("input_independent"))
        if extra.get("timing") == "host":
            del extra["timing"]
            self.host_timing = True


class Family(Protocol):
    """What a kernel family provides (built-in or user-defined).

    A family whose cases run in a world of ranks sets a class attribute
    ``needs_world = True`` (the collectives): the runner then launches or
    joins the world and every rank measures the case; such a family's
    ``prepare`` is not called.
    """

    name: str
    default_dtypes: tuple[str, ...]

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        """Validate one catalog entry and expand its sweeps into cases."""
        ...

    def prepare(self, case: Case, device: Any) -> Prepared:
        """Build inputs on the CPU from ``case.seed``, move them to ``device``."""
        ...


def check_fields(
    entry: Mapping[str, Any], allowed: Iterable[str], where: str, required: Iterable[str] = ()
) -> None:
    """Reject unknown or missing fields with a message naming file and field."""
    allowed_set = set(allowed)
    for key in entry:
        if key not in allowed_set:
            raise CatalogError(
                f"{where}: unknown field {key!r} (allowed: {', '.join(sorted(allowed_set))})"
            )
    for key in required:
        if key not in entry:
            raise CatalogError(f"{where}: missing field {key!r}")


def positive_ints(entry: Mapping[str, Any], key: str, where: str) -> list[int]:
    """A field that is a positive int or a list of them (a sweep)."""
    value = entry[key]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise CatalogError(f"{where}: field {key!r} is an empty list")
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise CatalogError(f"{where}: field {key!r} must be positive integers, got {v!r}")
    return list(values)


def sweep(axes: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the axes, in the order given."""
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())]


def dtypes_of(entry: Mapping[str, Any], default: Iterable[str], where: str,
              allowed: Iterable[str] = FLOAT_DTYPES) -> list[str]:
    """The entry's ``dtypes`` (canonical names), each one the family takes (``allowed``)."""
    raw = entry.get("dtypes", list(default))
    if not isinstance(raw, list) or not raw:
        raise CatalogError(f"{where}: field 'dtypes' must be a non-empty list")
    try:
        names = [canonical_dtype(str(d)) for d in raw]
    except ValueError as exc:
        raise CatalogError(f"{where}: field 'dtypes': {exc}") from None
    permitted = tuple(allowed)
    for name in names:
        if name not in permitted:
            raise CatalogError(f"{where}: field 'dtypes': {name!r} is not a dtype of this "
                               f"family (choose from {', '.join(permitted)})")
    return names


def choices(entry: Mapping[str, Any], key: str, allowed: Iterable[str], where: str,
            default: Iterable[str] | None = None) -> list[str]:
    """A field that is one of ``allowed`` or a list of them (a sweep); when absent,
    ``default`` (all of ``allowed`` unless given)."""
    permitted = tuple(allowed)
    raw = entry.get(key, list(permitted if default is None else default))
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise CatalogError(f"{where}: field {key!r} is an empty list")
    for v in values:
        if v not in permitted:
            raise CatalogError(f"{where}: field {key!r}: {v!r} is not one of "
                               f"{', '.join(permitted)}")
    return [str(v) for v in values]


def probe_kernel(run: Callable[[], object], what: str) -> None:
    """Run a kernel once; a backend that refuses it makes the case unsupported, with the
    backend's reason."""
    try:
        run()
    except (RuntimeError, NotImplementedError, TypeError) as exc:
        text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise UnsupportedError(f"{what}: {text}") from None

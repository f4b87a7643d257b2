"""Collective communication through ``torch.distributed``: the ``collectives`` family.

Operations (case names read ``all_reduce sum in-place 1MiB``):

* ``all_reduce`` (``sum``, ``max``; in-place, the only form the API has),
* ``all_gather`` into one tensor (out-of-place, and in-place where the
  rank's input is its own slice of the output, as nccl-tests' in-place mode),
* ``reduce_scatter`` of one tensor (sum; out-of-place and in-place, where
  the output is the rank's slice of the input),
* ``all_to_all`` (``all_to_all_single``: the MoE token-dispatch pattern),
* ``all_to_allv``: ``all_to_all_single`` with the uneven splits of an MoE
  dispatch from a seeded routing (:mod:`accelbench.workloads.dispatch`; cases
  read ``all_to_allv dispatch deepseek-v3 T=128 skewed``),
* ``broadcast`` from rank 0 (in-place),
* ``send_recv``: every rank sends to ``rank+1`` and receives from
  ``rank-1`` at once (a ring of point-to-point pairs, nccl-tests' sendrecv).

**Sizes** follow nccl-tests' "size" column: the bytes of the whole buffer a
rank holds, which for all_gather is the gathered output and for
reduce_scatter the input before scattering (each rank's share is
``size / world_size``). Element counts are rounded down to a multiple of the
world size where the operation splits the buffer, so ``bytes`` in the result
row is the size actually moved. ``algbw = bytes / time``; ``busbw`` multiplies
it by nccl-tests' bus factor (:func:`bus_factor`), which makes the figure
comparable with the hardware's link bandwidth whatever the world size.

**Data check**: inputs are small integers that depend on rank and index
(:func:`pattern`), chosen so that every sum an operation forms is exact in
the dtype (integers up to 256 in bf16). The expected output is therefore
known analytically (:func:`expected_output`) and compared exactly; every
element that differs counts as wrong (``mismatch_frac``).

Cases run in a world of ranks, not through :meth:`CollectivesFamily.prepare`:
the family says so (``needs_world = True``), and the runner hands its cases
to :mod:`accelbench.distributed`, which spawns a local world or joins the one
torchrun/Slurm started; every rank builds a :class:`CollectiveOp` from this
module and measures it (:mod:`accelbench.distributed.rank`). This module
defines the work and imports nothing above the workloads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

from accelbench.errors import CatalogError, UnsupportedError
from accelbench.workloads.base import (
    Case,
    Prepared,
    check_fields,
    choices,
    dtypes_of,
    torch_dtype,
)
from accelbench.workloads.dispatch import Dispatch, expand_dispatch

__all__ = [
    "FAMILY",
    "OPS",
    "CollectiveOp",
    "CollectiveSpec",
    "CollectivesFamily",
    "bus_factor",
    "count_wrong",
    "expected_output",
    "fmt_size",
    "parse_size",
    "pattern",
]

#: Operation -> (placements the torch API offers, reductions it takes).
OPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "all_reduce": (("in-place",), ("sum", "max")),
    "all_gather": (("out-of-place", "in-place"), ()),
    "reduce_scatter": (("out-of-place", "in-place"), ("sum",)),
    "all_to_all": (("out-of-place",), ()),
    "broadcast": (("in-place",), ()),
    "send_recv": (("out-of-place",), ()),
}
#: Operations whose buffer is split into one chunk per rank.
SPLIT_OPS = ("all_gather", "reduce_scatter", "all_to_all")

_UNITS = {"": 1, "B": 1, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(value: Any) -> int:
    """``"4MiB"`` -> 4194304; an int is bytes. Binary units only (KiB, MiB, GiB)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"size must be positive, got {value}")
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", str(value))
    if not match or match.group(2).upper() not in _UNITS:
        raise ValueError(f"bad size {value!r} (e.g. 1024, \"64KiB\", \"1GiB\")")
    size = int(match.group(1)) * _UNITS[match.group(2).upper()]
    if size <= 0:
        raise ValueError(f"size must be positive, got {value!r}")
    return size


def fmt_size(nbytes: int) -> str:
    """4194304 -> ``4MiB``; sizes that are not whole units stay in bytes (``1000B``)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale}{unit}"
    return f"{nbytes}B"


def bus_factor(op: str, world_size: int) -> float:
    """nccl-tests' bus-bandwidth factor: busbw = algbw * factor.

    all_reduce moves each byte ``2(n-1)/n`` times over the busiest link
    (reduce-scatter then all-gather); all_gather, reduce_scatter and
    all_to_all ``(n-1)/n`` (a rank receives all chunks but its own);
    broadcast and send/recv ``1``.
    """
    n = world_size
    if n < 1:
        raise ValueError(f"world size must be >= 1, got {n}")
    if op == "all_reduce":
        return float(Fraction(2 * (n - 1), n))
    if op in SPLIT_OPS:
        return float(Fraction(n - 1, n))
    if op in ("broadcast", "send_recv"):
        return 1.0
    raise ValueError(f"unknown collective {op!r}")


#: Largest integer up to which every integer is exactly representable.
_EXACT_INT = {torch.float32: 2**24, torch.float64: 2**53, torch.bfloat16: 256, torch.float16: 2048}


def _spread(op: str, world_size: int, dtype: torch.dtype) -> int:
    """Values lie in ``[0, spread)``: a sum over all ranks stays an exact integer."""
    limit = _EXACT_INT.get(dtype, 256)
    if op in ("all_reduce", "reduce_scatter"):
        return max(2, min(11, limit // max(world_size, 1) + 1))
    return min(251, limit)


def pattern(rank: int, index: torch.Tensor, spread: int) -> torch.Tensor:
    """Input value of element ``index`` on ``rank``: ``(7*index + 3*rank) mod spread``.

    Integer valued (exact in every dtype up to ``spread``), different for
    neighbouring elements and for different ranks, so a misplaced chunk or a
    missing contribution changes the result. Returns int64.
    """
    return (index * 7 + 3 * rank) % spread


@dataclass(frozen=True)
class CollectiveSpec:
    """One collective as a case describes it; ``count`` depends on the world size."""

    op: str
    placement: str
    reduce: str | None
    size: int  # requested bytes (nccl-tests' size)
    dtype: str
    dispatch: Dispatch | None = None  # all_to_allv: the routing its splits come from

    @classmethod
    def of(cls, case: Case) -> CollectiveSpec:
        p = dict(case.params)
        if p["op"] == "all_to_allv":
            d = Dispatch.of(case)
            return cls(op="all_to_allv", placement="out-of-place", reduce=None,
                       size=d.nbytes(), dtype=case.dtype, dispatch=d)
        return cls(op=str(p["op"]), placement=str(p["placement"]),
                   reduce=None if p.get("reduce") in (None, "-") else str(p["reduce"]),
                   size=int(p["size"]), dtype=case.dtype)

    def bus_factor(self, world_size: int) -> float:
        """busbw / algbw: nccl-tests' factor, or the bytes actually sent for all_to_allv."""
        if self.dispatch is not None:
            return self.dispatch.bus_factor(world_size)
        return bus_factor(self.op, world_size)

    def count(self, world_size: int) -> int:
        """Elements of the whole buffer (a multiple of the world size for split ops)."""
        if self.dispatch is not None:
            return self.dispatch.send_rows() * self.dispatch.hidden
        itemsize = torch.tensor([], dtype=torch_dtype(self.dtype)).element_size()
        count = self.size // itemsize
        if self.op in SPLIT_OPS:
            count -= count % world_size
        return count

    def nbytes(self, world_size: int) -> int:
        itemsize = torch.tensor([], dtype=torch_dtype(self.dtype)).element_size()
        return self.count(world_size) * itemsize

    def buffer_bytes(self, world_size: int) -> int:
        """Device bytes one rank allocates (inputs and outputs), for the memory bound."""
        if self.dispatch is not None:
            return self.dispatch.buffer_bytes(world_size)
        full = self.nbytes(world_size)
        chunk = full // max(world_size, 1)
        if self.op == "all_gather":
            return full + (chunk if self.placement == "out-of-place" else 0)
        if self.op == "reduce_scatter":
            return full + (chunk if self.placement == "out-of-place" else 0)
        if self.op in ("all_to_all", "send_recv"):
            return 2 * full
        return full


def expected_output(spec: CollectiveSpec, rank: int, world_size: int) -> torch.Tensor:
    """The analytically known output of ``rank`` (int64, on the CPU)."""
    n = world_size
    count = spec.count(n)
    chunk = count // n if spec.op in SPLIT_OPS else count
    spread = _spread(spec.op, n, torch_dtype(spec.dtype))
    if spec.dispatch is not None:
        return spec.dispatch.expected(rank, n, spread, pattern)
    if spec.op == "all_reduce":
        idx = torch.arange(count)
        parts = torch.stack([pattern(r, idx, spread) for r in range(n)])
        return parts.sum(0) if spec.reduce == "sum" else parts.amax(0)
    if spec.op == "all_gather":
        return torch.cat([pattern(r, torch.arange(chunk), spread) for r in range(n)])
    if spec.op == "reduce_scatter":
        idx = torch.arange(rank * chunk, (rank + 1) * chunk)
        return torch.stack([pattern(r, idx, spread) for r in range(n)]).sum(0)
    if spec.op == "all_to_all":
        idx = torch.arange(rank * chunk, (rank + 1) * chunk)
        return torch.cat([pattern(src, idx, spread) for src in range(n)])
    if spec.op == "broadcast":
        return pattern(0, torch.arange(count), spread)
    if spec.op == "send_recv":
        return pattern((rank - 1) % n, torch.arange(count), spread)
    raise ValueError(f"unknown collective {spec.op!r}")


def count_wrong(output: torch.Tensor, expected: torch.Tensor) -> tuple[int, str]:
    """Elements of ``output`` that differ from ``expected`` and a note on the first one."""
    got = output.detach().to("cpu", torch.float64).reshape(-1)
    want = expected.to(torch.float64).reshape(-1)
    if got.numel() != want.numel():
        return max(got.numel(), want.numel()), f"{got.numel()} elements, expected {want.numel()}"
    bad = got != want
    wrong = int(bad.sum().item())
    if not wrong:
        return 0, ""
    first = int(torch.nonzero(bad)[0].item())
    return wrong, f"index {first}: got {got[first].item():g}, expected {want[first].item():g}"


class CollectiveOp:
    """Buffers and the launch of one collective on one rank of a world.

    ``launch`` runs the collective once (synchronously on gloo, enqueued on
    the current stream on device backends); ``reset`` refills the inputs
    with :func:`pattern` so ``output`` can be checked against
    :func:`expected_output` (in-place operations overwrite their input
    while they are timed).
    """

    def __init__(self, spec: CollectiveSpec, rank: int, world_size: int,
                 device: torch.device, group: Any = None) -> None:
        import torch.distributed as dist

        self.spec, self.rank, self.world_size, self.group = spec, rank, world_size, group
        n, dtype = world_size, torch_dtype(spec.dtype)
        count = spec.count(n)
        if count < (n if spec.op in SPLIT_OPS else 1):
            raise UnsupportedError(f"size {spec.size} B holds fewer than one element per rank")
        self.chunk = count // n if spec.op in SPLIT_OPS else count
        self.spread = _spread(spec.op, n, dtype)
        self.count = count

        def empty(numel: int) -> torch.Tensor:
            return torch.empty(numel, dtype=dtype, device=device)

        op, inplace = spec.op, spec.placement == "in-place"
        red = dist.ReduceOp.MAX if spec.reduce == "max" else dist.ReduceOp.SUM
        c = self.chunk
        self.launch: Callable[[], object]
        if op == "all_reduce":
            self.inp = self.out = empty(count)
            self.launch = lambda: dist.all_reduce(self.out, op=red, group=group)
        elif op == "all_gather":
            self.out = empty(count)
            self.inp = self.out.narrow(0, rank * c, c) if inplace else empty(c)
            self.launch = lambda: dist.all_gather_into_tensor(self.out, self.inp, group=group)
        elif op == "reduce_scatter":
            self.inp = empty(count)
            self.out = self.inp.narrow(0, rank * c, c) if inplace else empty(c)
            self.launch = lambda: dist.reduce_scatter_tensor(self.out, self.inp, op=red,
                                                             group=group)
        elif op == "all_to_all":
            self.inp, self.out = empty(count), empty(count)
            self.launch = lambda: dist.all_to_all_single(self.out, self.inp, group=group)
        elif op == "all_to_allv" and spec.dispatch is not None:
            s = spec.dispatch.splits(n)
            h, sends, recvs = spec.dispatch.hidden, list(s[rank]), [row[rank] for row in s]
            self.inp, self.out = empty(sum(sends) * h), empty(sum(recvs) * h)
            self.launch = lambda: dist.all_to_all_single(
                self.out.view(-1, h), self.inp.view(-1, h), output_split_sizes=recvs,
                input_split_sizes=sends, group=group)
        elif op == "broadcast":
            self.inp = self.out = empty(count)
            self.launch = lambda: dist.broadcast(self.out, src=0, group=group)
        elif op == "send_recv":
            self.inp, self.out = empty(count), empty(count)
            self.launch = self._send_recv
        else:
            raise ValueError(f"unknown collective {op!r}")
        self.reset()

    def _send_recv(self) -> None:
        import torch.distributed as dist

        n, r = self.world_size, self.rank
        ops = [dist.P2POp(dist.isend, self.inp, (r + 1) % n, group=self.group),
               dist.P2POp(dist.irecv, self.out, (r - 1) % n, group=self.group)]
        for work in dist.batch_isend_irecv(ops):
            work.wait()

    def reset(self) -> None:
        """Known inputs; outputs that are not inputs are set to -1 (never a valid value)."""
        spec, r = self.spec, self.rank
        if spec.op == "all_gather":
            values = pattern(r, torch.arange(self.chunk), self.spread)
        else:
            values = pattern(r, torch.arange(self.inp.numel()), self.spread)
        if self.out is not self.inp:
            self.out.fill_(-1)
        self.inp.copy_(values.to(self.inp.dtype))

    def output(self) -> torch.Tensor:
        return self.out

    def check(self) -> tuple[int, int, str]:
        """Run the collective once on fresh inputs: (wrong elements, elements, first wrong)."""
        self.reset()
        self.launch()
        if self.out.device.type != "cpu":
            torch.accelerator.synchronize()
        expected = expected_output(self.spec, self.rank, self.world_size)
        wrong, note = count_wrong(self.out, expected)
        return wrong, expected.numel(), note


class CollectivesFamily:
    """The collectives family: catalog expansion here, measurement in a world of ranks."""

    name = "collectives"
    default_dtypes: tuple[str, ...] = ("fp32", "bf16")
    #: cases run in a torch.distributed world that the runner launches or joins
    needs_world = True
    _fields = ("op", "name", "reduce", "placement", "sizes", "dtypes", "description")

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        if entry.get("op") == "all_to_allv":
            return expand_dispatch(entry, where, self.name, self.default_dtypes)
        check_fields(entry, self._fields, where, required=("op", "sizes"))
        op = str(entry["op"])
        if op not in OPS:
            raise CatalogError(f"{where}: field 'op': unknown collective {op!r} "
                               f"(known: {', '.join([*OPS, 'all_to_allv'])})")
        placements, reductions = OPS[op]
        chosen_places = choices(entry, "placement", placements, where)
        chosen_reds: Sequence[str | None] = (
            choices(entry, "reduce", reductions, where) if reductions else [None])
        if not reductions and "reduce" in entry:
            raise CatalogError(f"{where}: field 'reduce': {op} takes no reduction")
        sizes = _sizes(entry.get("sizes"), where)
        label = str(entry.get("name", op))
        dtypes = dtypes_of(entry, self.default_dtypes, where)
        cases = []
        for red in chosen_reds:
            for place in chosen_places:
                for size in sizes:
                    words = [label] + ([red] if red and op != "reduce_scatter" else [])
                    name = " ".join([*words, place, fmt_size(size)])
                    params = (("op", op), ("reduce", red or "-"), ("placement", place),
                              ("size", size))
                    cases += [Case(kernel=self.name, case=name, dtype=d, params=params,
                                   source=where) for d in dtypes]
        return cases

    def prepare(self, case: Case, device: Any) -> Prepared:
        """Collectives need a world of ranks (``needs_world``): the runner launches one."""
        raise UnsupportedError("collectives run in a torch.distributed world "
                               "(accelbench run spawns one; see --world-size)")




def _sizes(raw: Any, where: str) -> list[int]:
    """A list of sizes, or ``{min = "1KiB", max = "1GiB", factor = 4}`` (a geometric sweep)."""
    try:
        if isinstance(raw, dict):
            unknown = set(raw) - {"min", "max", "factor"}
            if unknown or not {"min", "max"} <= set(raw):
                raise ValueError("a size range needs min and max (and optionally factor)")
            lo, hi = parse_size(raw["min"]), parse_size(raw["max"])
            factor = raw.get("factor", 2)
            if not isinstance(factor, int) or isinstance(factor, bool) or factor < 2:
                raise ValueError(f"factor must be an integer >= 2, got {factor!r}")
            if hi < lo:
                raise ValueError(f"max {raw['max']!r} is below min {raw['min']!r}")
            out = [lo]
            while out[-1] * factor <= hi:
                out.append(out[-1] * factor)
            return out
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise ValueError("empty list")
        return [parse_size(v) for v in values]
    except ValueError as exc:
        raise CatalogError(f"{where}: field 'sizes': {exc}") from None


FAMILY = CollectivesFamily()

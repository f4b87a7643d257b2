"""The expert GEMMs of one mixture-of-experts layer: the ``moe`` family.

A routed MoE layer sends each of T tokens to its top-k of E experts; after
the dispatch, expert e holds ``n_e`` token rows (``sum n_e = T * topk``) and
multiplies them by its own weights. One case is one projection of that layer
over the per-expert counts of a seeded routing
(:mod:`accelbench.workloads.routing`):

* ``gate_up``: ``[n_e, hidden] @ [hidden, 2 * inter]`` (gate and up fused),
* ``down``: ``[n_e, inter] @ [inter, hidden]``.

Two implementations, each its own case on the same inputs:

* ``grouped_mm``: one ``torch._grouped_mm`` over all groups (``offs`` = the
  cumulative counts), the kernel MoE frameworks call;
* ``loop``: for each expert, ``torch.matmul`` of its rows into its slice of
  the output: the baseline users write. The counts are known on the host,
  so the loop has no device synchronisation (a real layer reads them back
  from the router first).

The groups are the experts that received tokens (in expert order); experts
with none are left out of both implementations, since their weights are
never read. Weights are stored as ``nn.Linear`` stores them,
``[experts, N, K]``, and multiplied through the transposed view
``[experts, K, N]`` (the column-major right operand grouped GEMM kernels take).

**Counts.** FLOPs are exactly ``2 * T * topk * K * N`` (each routed token slot
is one row of one GEMM). Bytes: activations, the weights of the experts with
tokens, and the output, each once. ``params`` carry ``T E topk K N routing
impl``.

**Agreement.** The float64 reference is ``x[rows] @ W_e^T`` for each row's
expert ``e``, computed on the CPU from the same rounded inputs; above
:data:`~accelbench.workloads.matmul.REFERENCE_MAX_MACS` multiply-adds an evenly
spaced subset of rows (as for matmul). The tolerance grows with K.

A backend without ``torch._grouped_mm``, or whose kernel refuses the case
(dtype, layout), makes the case ``unsupported`` with the backend's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from accelbench.errors import CatalogError, UnsupportedError
from accelbench.kinds import Routing
from accelbench.workloads.base import (
    Case,
    Prepared,
    check_fields,
    choices,
    dtypes_of,
    positive_ints,
    probe_kernel,
    sweep,
    torch_dtype,
    variant_seed,
)
from accelbench.workloads.matmul import random_input, reference_rows
from accelbench.workloads.routing import expert_counts

__all__ = ["FAMILY", "IMPLS", "PROJECTIONS", "MoeFamily", "MoeSpec", "moe_flops"]

#: Projection -> (K, N) from (hidden, inter).
PROJECTIONS: dict[str, Callable[[int, int], tuple[int, int]]] = {
    "gate_up": lambda hidden, inter: (hidden, 2 * inter),
    "down": lambda hidden, inter: (inter, hidden),
}
#: Implementations, each its own case.
IMPLS: tuple[str, ...] = ("grouped_mm", "loop")


def moe_flops(tokens: int, topk: int, k: int, n: int) -> int:
    """Exact FLOPs of one projection: ``2 * T * topk * K * N``."""
    return 2 * tokens * topk * k * n


@dataclass(frozen=True)
class MoeSpec:
    """One case's shape: T tokens, E experts, top-k, the GEMM's K and N, routing, impl."""

    tokens: int
    experts: int
    topk: int
    k: int
    n: int
    routing: Routing
    impl: str
    routing_seed: int  # the routing depends on the shape, never on the input variant
    input_seed: int  # the same for both implementations of a shape

    @classmethod
    def of(cls, case: Case) -> MoeSpec:
        """The spec of a case; both implementations of one shape get the same seeds."""
        p = dict(case.params)
        shape = " ".join(f"{k}={v}" for k, v in case.params if k != "impl")
        return cls(int(p["T"]), int(p["E"]), int(p["topk"]), int(p["K"]), int(p["N"]),
                   Routing(p["routing"]), str(p["impl"]),
                   variant_seed(f"{case.kernel}|{shape}"),
                   variant_seed(f"{case.kernel}|{shape}|inputs", case.input_variant))

    def counts(self) -> torch.Tensor:
        """Token rows per expert (int64, ``[E]``)."""
        return expert_counts(self.tokens, self.experts, self.topk, self.routing,
                             self.routing_seed)




class MoeFamily:
    """The moe kernel family: grouped GEMM vs the per-expert loop over a routing."""

    name = "moe"
    default_dtypes: tuple[str, ...] = ("bf16",)
    _fields = ("name", "model", "hidden", "inter", "experts", "topk", "tokens", "proj",
               "routing", "impl", "dtypes", "description")

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        check_fields(entry, self._fields, where,
                     required=("name", "hidden", "inter", "experts", "topk", "tokens"))
        hidden, inter, experts, topk = (positive_ints(entry, f, where)[0]
                                        for f in ("hidden", "inter", "experts", "topk"))
        if topk > experts:
            raise CatalogError(f"{where}: field 'topk': {topk} exceeds the {experts} experts")
        axes: dict[str, list[Any]] = {
            "proj": choices(entry, "proj", tuple(PROJECTIONS), where),
            "tokens": positive_ints(entry, "tokens", where),
            "routing": choices(entry, "routing", Routing.values(), where),
            "impl": choices(entry, "impl", IMPLS, where),
        }
        dtypes = dtypes_of(entry, self.default_dtypes, where)
        model = entry.get("model")
        cases = []
        for combo in sweep(axes):
            k, n = PROJECTIONS[combo["proj"]](hidden, inter)
            name = (f"{entry['name']} {combo['proj']} T={combo['tokens']} {combo['routing']} "
                    f"{combo['impl']}")
            params = (("T", combo["tokens"]), ("E", experts), ("topk", topk), ("K", k),
                      ("N", n), ("routing", combo["routing"]), ("impl", combo["impl"]))
            cases += [Case(kernel=self.name, case=name, dtype=d, params=params,
                           model=str(model) if model else None, source=where)
                      for d in dtypes]
        return cases

    def prepare(self, case: Case, device: Any) -> Prepared:
        spec = MoeSpec.of(case)
        dtype = torch_dtype(case.dtype)
        reason = device.unsupported_dtype(dtype)
        if reason:
            raise UnsupportedError(reason)
        if spec.impl == "grouped_mm" and not hasattr(torch, "_grouped_mm"):
            raise UnsupportedError(f"torch {torch.__version__} has no torch._grouped_mm")
        counts = spec.counts()
        active = torch.nonzero(counts).reshape(-1)
        sizes = counts[active]
        rows, groups, k, n = int(sizes.sum()), int(active.numel()), spec.k, spec.n
        itemsize = torch.empty((), dtype=dtype).element_size()
        need = (rows * k + groups * k * n + rows * n) * itemsize
        capacity = device.memory_bytes()
        if capacity is not None and need > 0.8 * capacity:
            raise UnsupportedError(
                f"needs {need / 2**30:.1f} GiB, device has {capacity / 2**30:.1f} GiB")
        gen = torch.Generator().manual_seed(spec.input_seed)
        x_host = random_input((rows, k), dtype, gen)
        w_host = torch.empty((groups, n, k), dtype=dtype)
        for g in range(groups):  # one expert at a time: the float32 draw stays small
            w_host[g] = random_input((n, k), dtype, gen)
        ends = torch.cumsum(sizes, 0)
        launch, output, clone = _kernel(spec.impl, x_host, w_host, ends, device.torch_device)
        probe_kernel(launch, "torch._grouped_mm" if spec.impl == "grouped_mm" else "torch.matmul")
        ref_rows = reference_rows(rows, n, k)

        def reference() -> torch.Tensor:
            idx = torch.arange(rows) if ref_rows is None else ref_rows
            group = torch.searchsorted(ends, idx, right=True)
            out = torch.empty((idx.numel(), n), dtype=torch.float64)
            for g in torch.unique(group).tolist():
                sel = group == g
                out[sel] = x_host[idx[sel]].double() @ w_host[g].double().t()
            return out

        return Prepared(
            fn=launch,
            flops=float(moe_flops(spec.tokens, spec.topk, k, n)),
            bytes=float(need),
            output=output,
            reference=reference,
            clone=clone,
            reduction_length=k,
            reference_slice=ref_rows,
        )


Kernel = Callable[[], object]


def _kernel(impl: str, x_host: torch.Tensor, w_host: torch.Tensor, ends: torch.Tensor,
            tdev: torch.device) -> tuple[Kernel, Callable[[], torch.Tensor], Callable[[], Kernel]]:
    """(launch, output of the last launch, clone) of one implementation on the device."""
    bounds = list(zip([0, *ends.tolist()[:-1]], ends.tolist(), strict=True))
    rows, n = x_host.shape[0], w_host.shape[1]

    def build(x: torch.Tensor, w: torch.Tensor) -> tuple[Kernel, Callable[[], torch.Tensor]]:
        wt = w.transpose(-2, -1)  # [G, K, N], column-major: nn.Linear's weights, transposed
        if impl == "grouped_mm":
            offs = ends.to(device=tdev, dtype=torch.int32)
            last: list[torch.Tensor] = [torch.empty(0)]

            def grouped() -> torch.Tensor:
                last[0] = torch._grouped_mm(x, wt, offs=offs)
                return last[0]

            return grouped, lambda: last[0]
        out = torch.empty((rows, n), dtype=x.dtype, device=tdev)

        def loop() -> torch.Tensor:
            for g, (start, end) in enumerate(bounds):
                torch.matmul(x[start:end], wt[g], out=out[start:end])
            return out

        return loop, lambda: out

    x, w = x_host.to(tdev), w_host.to(tdev)
    launch, output = build(x, w)

    def clone() -> Kernel:
        return build(x.clone(), w.clone())[0]

    return launch, output, clone




FAMILY = MoeFamily()

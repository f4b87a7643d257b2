"""Launch latency: the time of a tiny kernel, seen from the host and from the device.

The kernel is ``torch.add(x, 1, out=y)`` on a few elements: its arithmetic is
nothing, so what is measured is the cost of getting a kernel to run. Three
ways of timing it, a case parameter each:

* ``host-async``: the host clock around k launches followed by one
  synchronize, divided by k. For a tiny kernel the host is the bottleneck,
  so this is the host-side cost of one launch (Python, dispatcher, driver
  enqueue) in a steady stream of launches.
* ``host-sync``: each launch followed by a synchronize, host clock around
  the pair: the round trip from issuing a kernel to seeing it finished
  (what a host waiting on every step pays).
* ``device-events``: device events around k back-to-back launches on the
  stream, the backend's normal timer: the device-side time per kernel,
  which includes the gaps the host leaves between kernels.

On the CPU there is no queue and no device: ``host-async`` is the host-side
time of a tiny torch op (timed by the sampler's own loop), and the two other
modes are ``unsupported`` with the reason. ``flops`` and ``bytes`` are not
reported (the work is not the point). ``output()`` is ``y`` and
``reference()`` is ``x + 1`` in float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from accelbench.errors import CatalogError, UnsupportedError
from accelbench.workloads.base import (
    Case,
    Prepared,
    check_fields,
    dtypes_of,
    positive_ints,
    torch_dtype,
)

__all__ = ["FAMILY", "MODES", "LaunchFamily"]

MODES = ("host-async", "host-sync", "device-events")


class LaunchFamily:
    """The launch-latency kernel family."""

    name = "launch"
    default_dtypes: tuple[str, ...] = ("fp32",)
    _fields = ("name", "elements", "timing", "dtypes", "description")

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        check_fields(entry, self._fields, where, required=("name",))
        raw = entry.get("timing", list(MODES))
        modes = raw if isinstance(raw, list) else [raw]
        for mode in modes:
            if mode not in MODES:
                raise CatalogError(f"{where}: field 'timing': unknown mode {mode!r} "
                                   f"(allowed: {', '.join(MODES)})")
        sizes = positive_ints(entry, "elements", where) if "elements" in entry else [1]
        base = str(entry["name"])
        return [
            Case(kernel=self.name,
                 case=f"{base} {mode}" + (f" n={n}" if len(sizes) > 1 or n != 1 else ""),
                 dtype=dtype, params=(("elements", n), ("timing", mode)), source=where)
            for mode in modes
            for n in sizes
            for dtype in dtypes_of(entry, self.default_dtypes, where)
        ]

    def prepare(self, case: Case, device: Any) -> Prepared:
        n, mode = int(case.param("elements")), str(case.param("timing"))
        dtype = torch_dtype(case.dtype)
        reason = device.unsupported_dtype(dtype)
        if reason:
            raise UnsupportedError(reason)
        on_cpu = device.backend == "cpu"
        if on_cpu and mode == "host-sync":
            raise UnsupportedError("the cpu runs ops synchronously: host-sync equals host-async")
        if mode == "device-events" and device.timing_method != "device-events":
            raise UnsupportedError(f"{device.backend} has no device event timer "
                                   f"(timing method: {device.timing_method})")
        gen = torch.Generator().manual_seed(case.seed)
        x_host = torch.randn(n, generator=gen, dtype=torch.float32).to(dtype)
        x = x_host.to(device.torch_device)
        y = torch.empty_like(x)
        sync = device.synchronize

        if mode == "host-sync":

            def run() -> object:
                torch.add(x, 1, out=y)
                sync()
                return y
        else:

            def run() -> object:
                return torch.add(x, 1, out=y)

        # off the CPU, the host modes time with the host clock and a final synchronize
        return Prepared(fn=run, output=lambda: y, reference=lambda: x_host.double() + 1,
                        host_timing=mode != "device-events" and not on_cpu)


FAMILY = LaunchFamily()

"""Device backends: discovery, synchronisation, timing hooks and device facts.

A backend answers one question for the Rust sampler: "run the kernel k times
and tell me the elapsed seconds". Two ways exist:

* host timing (CPU): the sampler itself calls the zero-argument kernel k
  times and reads the monotonic clock around the whole batch, in Rust;
* device timing (accelerators): :meth:`Device.timer` returns a *batch*
  callable ``fn(k) -> seconds`` that records a device event before and after
  the k launches on the stream the work runs on and synchronises once per
  sample, so the sampler never reads a clock while the device is still busy.

Each backend also says which dtypes it supports and describes itself for the
run's ``meta.json`` (name, memory, versions).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from accelbench.devices.backends import (
    load_entry_points,
    not_registered,
    privateuse1_backend,
)
from accelbench.devices.facts import (
    DEFAULT_LLC_BYTES,
    accelerator_facts,
    event_api,
    probe_events,
)
from accelbench.devices.telemetry import Monitor, monitor_for
from accelbench.devices.timers import (
    CACHE_STATES,
    BatchTimer,
    ColdEventTimer,
    EventApi,
    EventTimer,
    GraphTimer,
    HostColdTimer,
    HostSyncTimer,
)
from accelbench.errors import DeviceError, UnsupportedError, UsageError
from accelbench.kinds import CacheState, TimingMethod

__all__ = [
    "BACKENDS",
    "AcceleratorDevice",
    "CpuDevice",
    "Device",
    "PrivateUse1Device",
    "available_backends",
    "resolve_device",
    "rotating_copies",
    "unavailable_reason",
]

#: In-tree backends in the order ``--device auto`` prefers them; a registered
#: PrivateUse1 backend (``npu``, ``mlu``, ``musa``, ...) comes after ``xpu``.
BACKENDS: tuple[str, ...] = ("cuda", "xpu", "mps", "cpu")

Kernel = Callable[[], object]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


@dataclass
class Device:
    """One device as accelbench sees it (base class of the backends)."""

    backend: str
    index: int | None
    name: str
    timing_method: TimingMethod = TimingMethod.HOST_MONOTONIC
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> str:
        """The ``--device`` text that selects this device (``cpu``, ``cuda:0``)."""
        return self.backend if self.index is None else f"{self.backend}:{self.index}"

    @property
    def slug(self) -> str:
        """Short filesystem-safe name, e.g. ``cpu-amd-epyc`` or ``cuda-nvidia-h100``."""
        return f"{self.backend}-{_slug(self.name)}"[:60].rstrip("-")

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.spec)

    def synchronize(self) -> None:
        """Wait until all work submitted to the device has finished."""

    def timer(
        self,
        fn: Kernel,
        *,
        cache: CacheState = CacheState.WARM,
        graph: bool = False,
        clone: Callable[[], Kernel] | None = None,
    ) -> tuple[Kernel | BatchTimer, bool]:
        """Return what the sampler should drive and whether it is a batch timer.

        ``cache`` is ``warm`` (back-to-back launches) or ``cold`` (the
        last-level cache is flushed before every launch, outside the timed
        region); ``graph`` replays the launches from a captured device graph;
        ``clone`` makes a launch function over a fresh copy of the inputs
        (needed for cold cache in graph mode). The base class times on the host.
        """
        _check_cache(cache)
        if graph:
            raise UnsupportedError(f"graph mode: {self.backend} has no device graphs")
        if cache == CacheState.COLD:
            nbytes = 2 * self.llc_bytes()
            return HostColdTimer(fn, self.make_flush(nbytes), nbytes), True
        return fn, False

    def llc_bytes(self) -> int:
        """Last-level cache size used to size cold-cache flushes."""
        value = self.facts.get("llc_bytes")
        return int(value) if value else DEFAULT_LLC_BYTES

    def make_flush(self, nbytes: int) -> Kernel:
        """A launch that reads and writes ``nbytes`` (evicts the caches)."""
        buf = torch.zeros(nbytes, dtype=torch.uint8, device=self.torch_device)

        def flush() -> object:
            return buf.add_(1)

        return flush

    def monitor(self) -> Monitor:
        """Telemetry for this device while a case runs (no readings by default)."""
        return Monitor(None)

    def unsupported_dtype(self, dtype: torch.dtype) -> str | None:
        """Why ``dtype`` cannot run here, or None when it can."""
        return None

    def memory_bytes(self) -> int | None:
        """Memory available to kernels, when the backend can tell."""
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _cpu_cache_bytes() -> int | None:
    """Last-level cache size from sysfs (Linux), used for cold-cache flushes."""
    best = 0
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            path = os.path.join(base, entry, "size")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as fh:
                    text = fh.read().strip()
                mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
                value = int(text.rstrip("KMG")) * mult
                best = max(best, value)
    except (OSError, ValueError):
        return None
    return best or None


class CpuDevice(Device):
    """The host CPU; kernels are timed by the Rust sampler's monotonic clock."""

    def __init__(self) -> None:
        total = None
        with contextlib.suppress(ValueError, OSError, AttributeError):
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        facts: dict[str, Any] = {
            "cpu_model": _cpu_model(),
            "logical_cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "isa": torch.backends.cpu.get_cpu_capability(),
            "memory_bytes": total,
            "llc_bytes": _cpu_cache_bytes(),
        }
        super().__init__("cpu", None, facts["cpu_model"], TimingMethod.HOST_MONOTONIC, facts)
        self._total = total

    def memory_bytes(self) -> int | None:
        return self._total


class AcceleratorDevice(Device):
    """A PyTorch accelerator (cuda incl. ROCm, xpu, mps, PrivateUse1) timed with device events.

    Events are recorded on the stream that is current when a batch runs (the
    stream the kernels are launched on) and the host synchronises on the end
    event once per sample (MPS: on the whole device), so the sampler sees the
    device time of k back-to-back launches. A backend whose timing events fail
    a probe at discovery falls back to synchronised host timing
    (``timing_method = host-synchronized``). See
    :mod:`accelbench.devices.timers` for the cold-cache and graph timers and
    :mod:`accelbench.devices.facts` for what each backend reports.

    ``module`` and ``version`` default to ``torch.<backend>`` and
    ``torch.version``; tests pass fakes.
    """

    def __init__(
        self, backend: str, index: int | None, module: Any = None, version: Any = None
    ) -> None:
        module = getattr(torch, backend) if module is None else module
        idx = 0 if index is None else index
        if backend != "mps":
            count = module.device_count()
            if idx >= count:
                raise DeviceError(f"device {backend}:{idx} does not exist ({count} visible)")
        facts = accelerator_facts(backend, module, idx, version)
        name = str(facts["name"])
        self._events = probe_events(event_api(backend, module))
        method = (TimingMethod.DEVICE_EVENTS if self._events is not None
                  else TimingMethod.HOST_SYNCHRONIZED)
        super().__init__(backend, idx if backend != "mps" else None, name, method, facts)
        self._module = module

    def synchronize(self) -> None:
        self._module.synchronize()

    def timer(
        self,
        fn: Kernel,
        *,
        cache: CacheState = CacheState.WARM,
        graph: bool = False,
        clone: Callable[[], Kernel] | None = None,
    ) -> tuple[Kernel | BatchTimer, bool]:
        _check_cache(cache)
        api = self._events
        self.synchronize()
        if graph:
            if api is None or api.capture is None:
                raise UnsupportedError(f"graph mode: {self.backend} has no device graphs here")
            if cache == CacheState.WARM:
                return GraphTimer([fn], api), True
            fns, total = rotating_copies(clone, 2 * self.llc_bytes(), api)
            return GraphTimer(fns, api, CacheState.COLD, float(total)), True
        flush_bytes = 2 * self.llc_bytes()
        if api is None:
            flush = self.make_flush(flush_bytes) if cache == "cold" else None
            return HostSyncTimer(fn, self.synchronize, flush, float(flush_bytes)), True
        if cache == CacheState.COLD:
            return ColdEventTimer(fn, api, self.make_flush(flush_bytes), flush_bytes), True
        return EventTimer(fn, api), True

    def monitor(self) -> Monitor:
        return monitor_for(self.facts, self.index)

    def unsupported_dtype(self, dtype: torch.dtype) -> str | None:
        if self.backend == "mps" and dtype == torch.float64:
            return "MPS has no float64"
        return None

    def memory_bytes(self) -> int | None:
        value = self.facts.get("memory_bytes")
        return int(value) if value else None


class PrivateUse1Device(AcceleratorDevice):
    """A device of an out-of-tree backend registered under PyTorch's PrivateUse1 key.

    Discovery, device count, synchronisation and timing go through the
    device module the package registered (``torch.<name>``): its ``Event``
    and ``current_stream`` when it has them (probed once at discovery, then
    timed like every backend's events; ``info --selftest`` validates them),
    else synchronised host timing, as ``timing_method`` says. A module
    without ``synchronize`` is synchronised through ``torch.accelerator``.
    Facts are what the module offers (:func:`~accelbench.devices.facts.privateuse1_facts`).
    ``npu`` (Ascend) is one of these, with its specifics in the facts and
    ``NPUGraph`` for graph mode.
    """

    def __init__(self, backend: str, index: int | None, module: Any = None) -> None:
        module = getattr(torch, backend, None) if module is None else module
        if module is None:
            raise DeviceError(f"backend {backend!r} registered PrivateUse1 but no device "
                              f"module torch.{backend}")
        if getattr(module, "synchronize", None) is None:
            module = _WithSynchronize(module)
        if getattr(module, "device_count", None) is None:
            raise DeviceError(f"torch.{backend} has no device_count(): cannot count devices")
        super().__init__(backend, index, module)
        self.facts["privateuse1"] = True


class _WithSynchronize:
    """A device module that lacks ``synchronize``, completed by ``torch.accelerator``."""

    def __init__(self, module: Any) -> None:
        self._inner = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @staticmethod
    def synchronize() -> None:
        torch.accelerator.synchronize()


def rotating_copies(
    clone: Callable[[], Kernel] | None, need_bytes: int, api: EventApi
) -> tuple[list[Kernel], int]:
    """Launch functions over input copies whose total footprint is at least ``need_bytes``.

    The footprint of one copy is *measured* (allocator bytes before and after
    the first copy); the total is checked, so cold cache in graph mode can
    never silently run warm.
    """
    if clone is None:
        raise UnsupportedError("cold cache in graph mode needs input copies "
                               "(this case's family provides no Prepared.clone)")
    before = api.memory_allocated() if api.memory_allocated else None
    first = clone()
    per_copy = float(api.memory_allocated() - before) if before is not None and \
        api.memory_allocated else 0.0
    if per_copy <= 0:
        raise UnsupportedError("cold cache in graph mode: cannot measure the input copies' size")
    count = max(2, math.ceil(need_bytes / per_copy))
    fns = [first] + [clone() for _ in range(count - 1)]
    total = int(per_copy * len(fns))
    if total < need_bytes:  # pragma: no cover - guarded by the count above
        raise UnsupportedError(f"input copies cover {total} B < {need_bytes} B")
    return fns, total


def _check_cache(cache: str) -> None:
    if cache not in CACHE_STATES:
        raise UsageError(f"unknown cache state {cache!r}: choose {' or '.join(CACHE_STATES)}")


def _backend_available(backend: str) -> bool:
    if backend == "cpu":
        return True
    module = getattr(torch, backend, None)
    if module is None:
        return False
    try:
        return bool(module.is_available()) if hasattr(module, "is_available") else \
            int(module.device_count()) > 0
    except Exception:
        return False


def _built_with(backend: str) -> str | None:
    """The toolkit version this PyTorch was built with for ``backend`` (None: built without)."""
    if backend == "cuda":
        return f"CUDA {torch.version.cuda}" if torch.version.cuda else (
            f"ROCm {torch.version.hip}" if getattr(torch.version, "hip", None) else None)
    if backend == "mps":
        return "MPS" if torch.backends.mps.is_built() else None
    return None


def unavailable_reason(backend: str) -> str:
    """Why ``backend`` cannot be used: not built into PyTorch, or built but no device seen."""
    built = _built_with(backend)
    if built is None:
        return f"device {backend!r} is not available in this PyTorch build"
    hint = " or CUDA_VISIBLE_DEVICES/HIP_VISIBLE_DEVICES hides them" if backend == "cuda" else ""
    return (f"device {backend!r}: PyTorch is built with {built}, but no {backend} device is "
            f"visible (no GPU, no working driver{hint})")


def available_backends() -> list[str]:
    """Backends usable on this machine, best first (a registered PrivateUse1 one after xpu)."""
    names = list(BACKENDS)
    extra = privateuse1_backend()
    if extra is not None:
        names.insert(names.index("mps"), extra)
    return [b for b in names if _backend_available(b)]


def resolve_device(spec: str) -> Device:
    """Turn ``--device`` text (``auto``, ``cpu``, ``cuda:1``, ``npu``, ...) into a Device.

    A name that is neither in-tree nor the registered PrivateUse1 backend
    loads the :data:`~accelbench.devices.backends.ENTRY_POINT_GROUP` entry
    points first (as does ``auto``).
    """
    text = spec.strip().lower()
    backend, _, index_text = text.partition(":")
    if backend == "auto" or (backend not in BACKENDS and backend != privateuse1_backend()):
        load_entry_points()
    if backend == "auto":
        text = available_backends()[0]
        backend, _, index_text = text.partition(":")
    custom = backend == privateuse1_backend()
    if backend not in BACKENDS and not custom:
        raise not_registered(backend)
    index: int | None = None
    if index_text:
        if not index_text.isdigit():
            raise DeviceError(f"bad device index in {spec!r}: expected e.g. {backend}:0")
        index = int(index_text)
    if backend == "cpu":
        if index not in (None, 0):
            raise DeviceError("the cpu device takes no index")
        return CpuDevice()
    if not _backend_available(backend):
        raise DeviceError(unavailable_reason(backend))
    if custom:
        return PrivateUse1Device(backend, index)
    return AcceleratorDevice(backend, index)

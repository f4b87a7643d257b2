"""What each accelerator backend says about a device, and how it is timed.

* ``cuda``: NVIDIA, and AMD through ROCm/HIP builds of PyTorch (the same
  ``torch.cuda`` module; ``torch.version.hip`` is set). Facts: name, memory,
  compute capability (NVIDIA) or gfx architecture (AMD), SM/CU count, L2
  size, UUID, PCI bus id, runtime (CUDA or ROCm version) and driver version
  (from NVML / amdsmi when installed). Timing: ``torch.cuda.Event``; graphs:
  ``torch.cuda.CUDAGraph`` (HIP graphs on ROCm).
* ``xpu``: Intel GPUs (``torch.xpu``): name, memory, driver version, EU and
  compute-unit counts; ``torch.xpu.Event`` when it supports timing.
* ``mps``: Apple GPUs (``torch.mps``): chip name, recommended working-set
  size; ``torch.mps.event.Event`` plus a device-wide synchronisation.
* PrivateUse1 backends (out-of-tree packages, see
  :mod:`accelbench.devices.backends`): whatever ``torch.<name>`` offers, by
  :func:`privateuse1_facts`; timing with ``torch.<name>.Event`` on
  ``current_stream()`` when the module has them.
* ``npu``: Ascend (``torch_npu`` registers ``torch.npu``, a mirror of the
  CUDA API), a PrivateUse1 backend with its AI-core count added;
  ``NPUGraph`` where available.

A backend's timing events are *probed* at discovery (record, synchronise,
elapsed time); a backend whose events fail is timed with synchronised host
timing instead, and the ``timing_method`` column says so.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Callable
from typing import Any

import torch

from accelbench.devices.timers import EventApi

__all__ = ["DEFAULT_LLC_BYTES", "accelerator_facts", "event_api", "privateuse1_facts",
           "probe_events"]

#: Cache size assumed when a backend cannot tell its last-level cache
#: (triton's do_bench flushes 256 MiB for the same reason).
DEFAULT_LLC_BYTES = 128 * 2**20


def _uuid(props: Any) -> str | None:
    value = getattr(props, "uuid", None)
    if value is None:
        return None
    text = str(value)
    return text if "object at" not in text else None


def _nvml_driver() -> str | None:
    try:
        import pynvml  # type: ignore[import-not-found, unused-ignore]

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        return None


def _amdsmi_driver() -> str | None:
    try:
        import amdsmi  # type: ignore[import-not-found, unused-ignore]

        amdsmi.amdsmi_init()
        handle = amdsmi.amdsmi_get_processor_handles()[0]
        info = amdsmi.amdsmi_get_gpu_driver_info(handle)
        return str(info.get("driver_version")) if isinstance(info, dict) else str(info)
    except Exception:
        return None


def _cuda_facts(module: Any, idx: int, version: Any) -> dict[str, Any]:
    props = module.get_device_properties(idx)
    hip = getattr(version, "hip", None)
    facts: dict[str, Any] = {
        "vendor": "amd" if hip else "nvidia",
        "runtime": f"rocm {hip}" if hip else f"cuda {getattr(version, 'cuda', None)}",
        "memory_bytes": getattr(props, "total_memory", None),
        "multiprocessors": getattr(props, "multi_processor_count", None),
        "llc_bytes": getattr(props, "L2_cache_size", None) or None,
        "uuid": _uuid(props),
        "max_clock_mhz": (getattr(props, "clock_rate", 0) or 0) / 1000 or None,
    }
    if hip:
        facts["arch"] = getattr(props, "gcnArchName", None)
        facts["driver"] = _amdsmi_driver()
    else:
        facts["capability"] = f"{props.major}.{props.minor}"
        facts["driver"] = _nvml_driver()
    bus = getattr(props, "pci_bus_id", None)
    if bus is not None:
        facts["pci_bus_id"] = (
            f"{getattr(props, 'pci_domain_id', 0):08x}:{bus:02x}:"
            f"{getattr(props, 'pci_device_id', 0):02x}.0"
        )
    try:
        facts["cudnn"] = torch.backends.cudnn.version()  # type: ignore[no-untyped-call]
    except Exception:
        facts["cudnn"] = None
    return facts


def _xpu_facts(module: Any, idx: int) -> dict[str, Any]:
    props = module.get_device_properties(idx)
    return {
        "vendor": getattr(props, "vendor", "intel"),
        "runtime": f"xpu {getattr(props, 'version', None)}",
        "driver": getattr(props, "driver_version", None),
        "memory_bytes": getattr(props, "total_memory", None),
        "multiprocessors": getattr(props, "max_compute_units", None),
        "eu_count": getattr(props, "gpu_eu_count", None),
        "arch": getattr(props, "architecture", None),
        "uuid": _uuid(props),
        "llc_bytes": None,
    }


def _call(module: Any, names: tuple[str, ...], *args: Any) -> Any:
    """The first of ``module``'s attributes ``names`` that exists (called if callable)."""
    for name in names:
        value = getattr(module, name, None)
        if value is None:
            continue
        try:
            return value(*args) if callable(value) else value
        except Exception:
            continue
    return None


def _package_version(module: Any) -> tuple[str | None, str | None]:
    """The package behind a PrivateUse1 device module and its version."""
    version = getattr(module, "__version__", None)
    top = str(getattr(module, "__name__", "")).split(".")[0]
    package = top if top and top != "torch" else None
    if version is None and package is not None:
        import sys

        version = getattr(sys.modules.get(package), "__version__", None)
    return package, (str(version) if version is not None else None)


def privateuse1_facts(backend: str, module: Any, idx: int) -> dict[str, Any]:
    """Facts of a PrivateUse1 device from whatever ``torch.<backend>`` offers.

    Name (``get_device_name``), memory (``get_device_properties(i).total_memory``
    or ``mem_get_info``), compute units, the package and its version, driver
    and runtime versions where the module has a function or attribute for
    them. Anything missing is None.
    """
    props = _call(module, ("get_device_properties",), idx)
    memory = getattr(props, "total_memory", None)
    if memory is None:
        info = _call(module, ("mem_get_info",), idx)
        memory = info[1] if isinstance(info, tuple) and len(info) == 2 else None
    package, version = _package_version(module)
    name = _call(module, ("get_device_name",), idx) or getattr(props, "name", None)
    runtime = _call(module, ("runtime_version", "get_runtime_version"))
    return {
        "name": str(name) if name else f"{backend} device {idx}",
        "vendor": None,
        "package": package,
        "package_version": version,
        "runtime": str(runtime) if runtime is not None else
        (f"{package or backend} {version}" if version else None),
        "driver": _call(module, ("driver_version", "get_driver_version")),
        "memory_bytes": memory,
        "multiprocessors": getattr(props, "multi_processor_count", None),
        "llc_bytes": getattr(props, "L2_cache_size", None) or None,
        "uuid": _uuid(props),
    }


def _npu_facts(module: Any, idx: int) -> dict[str, Any]:
    """Ascend: the PrivateUse1 facts plus its AI-core count (``cube_core_num``)."""
    facts = privateuse1_facts("npu", module, idx)
    props = _call(module, ("get_device_properties",), idx)
    facts.update(vendor="huawei", multiprocessors=getattr(props, "cube_core_num", None))
    return facts


def _mac_chip() -> str:
    try:
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                             text=True, timeout=5, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return f"Apple {platform.machine()}"


def accelerator_facts(backend: str, module: Any, idx: int, version: Any = None) -> dict[str, Any]:
    """Name and facts of device ``idx`` of ``backend`` (``module`` is e.g. ``torch.cuda``)."""
    version = torch.version if version is None else version
    if backend == "mps":
        name = f"{_mac_chip()} GPU"
        memory = None
        try:
            memory = int(module.recommended_max_memory())
        except Exception:
            memory = None
        return {"name": name, "vendor": "apple", "runtime": "mps", "memory_bytes": memory,
                "llc_bytes": None}
    if backend == "npu":
        return _npu_facts(module, idx)
    if backend not in ("cuda", "xpu"):
        return privateuse1_facts(backend, module, idx)
    name = str(module.get_device_name(idx))
    facts = _cuda_facts(module, idx, version) if backend == "cuda" else _xpu_facts(module, idx)
    return {"name": name, **facts}


def _capture_for(module: Any) -> Callable[[Callable[[], None]], Callable[[], None]] | None:
    """Device-graph capture for CUDA/HIP (``CUDAGraph``) or Ascend (``NPUGraph``)."""
    graph_cls = getattr(module, "CUDAGraph", None) or getattr(module, "NPUGraph", None)
    context = getattr(module, "graph", None)
    stream_cls = getattr(module, "Stream", None)
    if graph_cls is None or context is None or stream_cls is None:
        return None
    def capture(body: Callable[[], None]) -> Callable[[], None]:
        # Each graph gets its own memory pool (a pool shared with a graph
        # that has since been freed trips the caching allocator). Warm up on
        # a side stream first, as capture requires (library handles and
        # workspaces are created outside the capture).
        side = stream_cls()
        side.wait_stream(module.current_stream())
        with module.stream(side):
            body()
        module.current_stream().wait_stream(side)
        module.synchronize()
        graph = graph_cls()
        with context(graph):
            body()
        replay: Callable[[], None] = graph.replay
        replay()  # first replay uploads the graph
        module.synchronize()
        return replay

    return capture


def event_api(backend: str, module: Any) -> EventApi | None:
    """The timing-event interface of ``module``, or None when it has no events."""
    if backend == "mps":
        event_cls = getattr(getattr(module, "event", None), "Event", None)
    else:
        event_cls = getattr(module, "Event", None)
    if event_cls is None:
        return None
    current = getattr(module, "current_stream", None) if backend != "mps" else None
    allocated = getattr(module, "memory_allocated", None)
    return EventApi(
        new_event=lambda: event_cls(enable_timing=True),
        synchronize=module.synchronize,
        current_stream=current,
        full_sync=backend == "mps",
        capture=_capture_for(module) if backend in ("cuda", "npu") else None,
        memory_allocated=allocated,
    )


def probe_events(api: EventApi | None) -> EventApi | None:
    """``api`` when its events record, synchronise and report a time; else None."""
    if api is None:
        return None
    try:
        start, end = api.new_event(), api.new_event()
        api.record(start)
        api.record(end)
        api.wait(end)
        elapsed = float(start.elapsed_time(end))
    except Exception:
        return None
    return api if elapsed >= 0 else None

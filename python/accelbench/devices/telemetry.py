"""Device telemetry sampled while a case runs: clocks, temperature, power, throttling.

A :class:`Monitor` reads a :class:`Source` every ``interval_s`` (20 ms by
default) in a background thread, plus once at start and once at stop, so even
a short case has readings. Readings are kept raw; summaries become result
columns:

``sm_clock_mhz``, ``mem_clock_mhz``
    median of the readings (the clock the kernels mostly ran at);
``temp_c``
    the highest reading; ``power_w`` the mean;
``throttled_frac``
    the fraction of readings taken while the device reported a power or
    thermal slowdown.

Throttled readings are *flagged*, never dropped (one harness discarded
throttled samples and returned empty results); the runner also flags each
timing sample whose host interval overlaps a throttled reading.

Sources: NVIDIA through NVML (``pynvml``, the nvidia-ml-py package), AMD
through ``amdsmi``. Neither installed, or the device not found: no monitor,
and the columns stay empty. NVML's "clock event reasons" counted as
throttling are the power cap, thermal slowdowns and hardware slowdown/power
brake (:data:`NVML_THROTTLE_MASK`); idle, application-clock setting, sync
boost and display clock settings are not throttling.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Protocol

__all__ = [
    "NVML_THROTTLE_MASK",
    "AmdSmiSource",
    "Monitor",
    "NvmlSource",
    "Reading",
    "Source",
    "monitor_for",
]

#: SwPowerCap 0x4 | HwSlowdown 0x8 | SwThermalSlowdown 0x20 | HwThermalSlowdown 0x40
#: | HwPowerBrakeSlowdown 0x80 (nvml.h ``nvmlClocksEventReason*``).
NVML_THROTTLE_MASK = 0x4 | 0x8 | 0x20 | 0x40 | 0x80

NVML_CLOCK_SM = 1  # nvml.h NVML_CLOCK_SM
NVML_CLOCK_MEM = 2  # NVML_CLOCK_MEM
NVML_TEMPERATURE_GPU = 0


@dataclass(frozen=True)
class Reading:
    """One telemetry reading (host perf_counter time; None where the source cannot tell)."""

    t: float
    sm_clock_mhz: float | None
    mem_clock_mhz: float | None
    temp_c: float | None
    power_w: float | None
    reasons: int | None
    throttled: bool


class Source(Protocol):
    """Something that reads the device's state now."""

    name: str

    def read(self) -> Reading: ...


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        return None


class NvmlSource:
    """NVIDIA telemetry through NVML; the device is found by UUID, PCI bus id, then index."""

    name = "nvml"

    def __init__(self, index: int, uuid: str | None = None, pci_bus_id: str | None = None,
                 nvml: Any = None) -> None:
        if nvml is None:
            import pynvml  # type: ignore[import-not-found, unused-ignore]

            nvml = pynvml
        self.nvml = nvml
        nvml.nvmlInit()
        handle = None
        if uuid:
            text = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
            handle = _call(nvml.nvmlDeviceGetHandleByUUID, text)
        if handle is None and pci_bus_id:
            handle = _call(nvml.nvmlDeviceGetHandleByPciBusId, pci_bus_id)
        if handle is None:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        self.handle = handle
        self._reasons = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nvml.nvmlDeviceGetCurrentClocksThrottleReasons

    def read(self) -> Reading:
        nv, h = self.nvml, self.handle
        sm = _call(nv.nvmlDeviceGetClockInfo, h, NVML_CLOCK_SM)
        mem = _call(nv.nvmlDeviceGetClockInfo, h, NVML_CLOCK_MEM)
        temp = _call(nv.nvmlDeviceGetTemperature, h, NVML_TEMPERATURE_GPU)
        milliwatts = _call(nv.nvmlDeviceGetPowerUsage, h)
        reasons = _call(self._reasons, h)
        return Reading(
            t=time.perf_counter(),
            sm_clock_mhz=None if sm is None else float(sm),
            mem_clock_mhz=None if mem is None else float(mem),
            temp_c=None if temp is None else float(temp),
            power_w=None if milliwatts is None else float(milliwatts) / 1000.0,
            reasons=None if reasons is None else int(reasons),
            throttled=reasons is not None and bool(int(reasons) & NVML_THROTTLE_MASK),
        )


class AmdSmiSource:
    """AMD telemetry through amdsmi (GFX and memory clocks, hotspot temperature, socket power).

    Throttling is the ``throttle_status`` of the GPU metrics table. Devices
    are matched by index in amdsmi's order (ROCm and amdsmi both enumerate by
    PCI bus by default).
    """

    name = "amdsmi"

    def __init__(self, index: int, amdsmi: Any = None) -> None:
        if amdsmi is None:
            import amdsmi as _amdsmi  # type: ignore[import-not-found, unused-ignore]

            amdsmi = _amdsmi
        self.smi = amdsmi
        amdsmi.amdsmi_init()
        self.handle = amdsmi.amdsmi_get_processor_handles()[index]

    def _clock(self, kind: str) -> float | None:
        clk_type = getattr(self.smi.AmdSmiClkType, kind)
        info = _call(self.smi.amdsmi_get_clock_info, self.handle, clk_type)
        value = info.get("clk") if isinstance(info, dict) else None
        return None if value is None else float(value)

    def read(self) -> Reading:
        smi = self.smi
        temp = _call(smi.amdsmi_get_temp_metric, self.handle,
                     smi.AmdSmiTemperatureType.HOTSPOT, smi.AmdSmiTemperatureMetric.CURRENT)
        power = _call(smi.amdsmi_get_power_info, self.handle)
        watts = None
        if isinstance(power, dict):
            watts = power.get("current_socket_power") or power.get("average_socket_power")
        metrics = _call(smi.amdsmi_get_gpu_metrics_info, self.handle)
        status = metrics.get("throttle_status") if isinstance(metrics, dict) else None
        try:
            reasons = None if status in (None, "N/A") else int(status)
        except (TypeError, ValueError):
            reasons = None
        return Reading(
            t=time.perf_counter(),
            sm_clock_mhz=self._clock("GFX"),
            mem_clock_mhz=self._clock("MEM"),
            temp_c=None if temp is None else float(temp),
            power_w=None if watts in (None, "N/A") else float(watts),
            reasons=reasons,
            throttled=bool(reasons),
        )


class Monitor:
    """Background sampling of a :class:`Source` (a context manager around a case)."""

    def __init__(self, source: Source | None, interval_s: float = 0.02) -> None:
        self.source = source
        self.interval_s = interval_s
        self.readings: list[Reading] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def _read(self) -> None:
        if self.source is None:
            return
        try:
            self.readings.append(self.source.read())
        except Exception as exc:  # telemetry never breaks a measurement
            self.error = f"{type(exc).__name__}: {exc}"

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._read()

    def __enter__(self) -> Monitor:
        if self.source is not None:
            self._read()
            self._thread = threading.Thread(target=self._loop, name="accelbench-telemetry",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._read()

    def columns(self) -> dict[str, Any]:
        """Summary columns (empty dict without readings: the columns stay NA)."""
        rs = self.readings
        if not rs:
            return {}

        def vals(name: str) -> list[float]:
            return [v for r in rs if (v := getattr(r, name)) is not None]

        sm, mem, temp, power = (vals(n) for n in ("sm_clock_mhz", "mem_clock_mhz", "temp_c",
                                                   "power_w"))
        return {
            "sm_clock_mhz": statistics.median(sm) if sm else None,
            "mem_clock_mhz": statistics.median(mem) if mem else None,
            "temp_c": max(temp) if temp else None,
            "power_w": statistics.fmean(power) if power else None,
            "throttled_frac": sum(r.throttled for r in rs) / len(rs),
        }

    def flags(self, intervals: Sequence[tuple[float, float]]) -> list[bool] | None:
        """Per timing sample: did a reading during (or the last one before) it report throttling?

        A sample shorter than the reading interval may hold no reading; the
        state then is the last reading before it began.
        """
        rs = self.readings
        if not rs or not intervals:
            return None
        out: list[bool] = []
        j = 0
        for begin, end in intervals:
            while j + 1 < len(rs) and rs[j + 1].t <= begin:
                j += 1
            flag = rs[j].throttled and rs[j].t <= begin
            i = j
            while i < len(rs) and rs[i].t <= end:
                flag = flag or (rs[i].t >= begin and rs[i].throttled)
                i += 1
            out.append(flag)
        return out

    def series(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.readings]


def monitor_for(facts: dict[str, Any], index: int | None, interval_s: float = 0.02) -> Monitor:
    """A monitor for a device described by ``facts`` (a null monitor when none is possible)."""
    source: Source | None = None
    vendor = facts.get("vendor")
    idx = index or 0
    try:
        if vendor == "nvidia":
            source = NvmlSource(idx, facts.get("uuid"), facts.get("pci_bus_id"))
        elif vendor == "amd":
            source = AmdSmiSource(idx)
    except Exception:
        source = None
    return Monitor(source, interval_s)

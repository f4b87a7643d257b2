"""Published peak throughput of accelerators, and an estimate for the host CPU.

A measured TFLOP/s or GB/s means little without the ceiling it is measured
against. This module is that ceiling: one table of *dense* (no structured
sparsity) peak figures per accelerator and data type, plus peak memory
bandwidth, each with the document it comes from. Vendors often print the
2:4-sparse figure first; every figure here is the dense one (half of the
sparse one where only that is printed, as the datasheets' own footnotes say).

The API is one function::

    peak_for("NVIDIA H100 80GB HBM3", "bf16")   # Peak(989.4, "TFLOP/s", ...)
    peak_for("NVIDIA H100 80GB HBM3", "memory") # Peak(3350.0, "GB/s", ...)

``dtype`` is one of ``fp64 fp32 tf32 bf16 fp16 fp8`` (TFLOP/s), ``int8``
(TOP/s: integer multiply-adds count two operations, as FLOPs do) or ``memory``
(GB/s); a run's dtype column maps to these through :func:`peak_kind`
(``fp8_e4m3`` and ``fp8_e5m2`` -> ``fp8``). A device is matched by its name as PyTorch reports it
(``torch.cuda.get_device_name``), case-insensitively, by the first entry
whose pattern matches; ``None`` means "not known", never zero.

Conventions: ``fp32`` is the non-tensor-core FP32 rate (what PyTorch uses for
float32 matmul unless TF32 is enabled); ``fp64`` is the highest FP64 rate the
device offers (tensor-core DGEMM where it exists, as cuBLAS/rocBLAS use it).

**CPU estimate.** No table can list every CPU, so for the host's own CPU the
peak is estimated as ``cores x GHz x FLOP/cycle`` with ``FLOP/cycle =
2 (FMA) x FMA units x lanes`` and lanes = vector bits / element bits. Two
256-bit FMA pipes are assumed for AVX2 and for AMD Zen 2-4 (which run
AVX-512 over 256-bit halves); two 512-bit pipes for other AVX-512 CPUs; two
128-bit pipes otherwise (NEON, SSE). bf16 doubles the fp32 rate where the
CPU has a bf16 dot-product instruction (``avx512_bf16``), fp16 where it has
``avx512_fp16``; AMX tile units are not modelled (their peak is far higher and
rarely reached by PyTorch). int8 (TOP/s) uses 8-bit lanes where the CPU has a
VNNI dot-product instruction (``avx512_vnni``, ``avx_vnni``: four int8
products summed into each 32-bit lane per instruction), else 16-bit lanes (the
``vpmaddubsw`` + ``vpmaddwd`` pair). No CPU here has fp8 arithmetic: fp8
operands are widened before the multiply, so the fp8 estimate is the bf16
one, and says so. The frequency is the higher of what the OS
reports (``cpuinfo_max_freq``, else ``cpu MHz``) and what a busy core is
measured to run at (:func:`accelbench._core.core_clock_hz`: a chain of
dependent integer additions retires one per cycle). The measurement matters
in virtual machines, whose ``cpu MHz`` is the nominal clock while the core
boosts well above it: a peak from the nominal clock is too low and flags
honest results as above peak. Such a peak is marked ``estimated=True`` and
its ``source`` states the arithmetic and where the clock came from. A core
can still boost above the measured clock when fewer cores are busy; the
roofline then flags the result ``suspect``, which here means "the estimate
is low", and the label says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "KINDS",
    "PEAKS",
    "CpuInfo",
    "DeviceSpec",
    "Peak",
    "cpu_info",
    "cpu_peak",
    "match_device",
    "peak_for",
    "peak_kind",
    "unit_of",
]

#: What ``peak_for`` accepts: data types (TFLOP/s) and ``memory`` (GB/s).
KINDS: tuple[str, ...] = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "memory")

#: Result dtypes whose peak is another kind's.
_KIND_OF_DTYPE = {"fp8_e4m3": "fp8", "fp8_e5m2": "fp8"}


def peak_kind(dtype: str) -> str:
    """The peak kind of a result's ``dtype`` (``fp8_e4m3`` -> ``fp8``; others unchanged)."""
    return _KIND_OF_DTYPE.get(dtype, dtype)


def unit_of(kind: str) -> str:
    """TFLOP/s, TOP/s (int8) or GB/s (memory)."""
    return {"memory": "GB/s", "int8": "TOP/s"}.get(kind, "TFLOP/s")


@dataclass(frozen=True)
class Peak:
    """One peak figure: value in ``unit`` (TFLOP/s or GB/s), where it comes from."""

    value: float
    unit: str  # TFLOP/s, TOP/s (int8) or GB/s
    source: str
    estimated: bool = False
    device: str = ""


@dataclass(frozen=True)
class DeviceSpec:
    """Published peaks of one accelerator model (dense TFLOP/s or TOP/s per kind, memory GB/s)."""

    name: str
    pattern: str
    tflops: dict[str, float]
    memory_gbps: float | None
    source: str
    estimated: bool = False

    def matches(self, device_name: str) -> bool:
        return re.search(self.pattern, device_name, flags=re.IGNORECASE) is not None


def _nv(
    tf64: float, tf32: float, tf32_tensor: float, half: float, fp8: float | None, int8: float
) -> dict[str, float]:
    out = {"fp64": tf64, "fp32": tf32, "tf32": tf32_tensor, "bf16": half, "fp16": half,
           "int8": int8}
    if fp8 is not None:
        out["fp8"] = fp8
    return out


_H100_SXM = _nv(67.0, 67.0, 494.7, 989.4, 1978.9, 1978.9)
_MI300 = {"fp64": 163.4, "fp32": 163.4, "tf32": 653.7, "bf16": 1307.4, "fp16": 1307.4,
          "fp8": 2614.9, "int8": 2614.9}

#: The table, most specific pattern first (``H100 PCIe`` before ``H100``).
PEAKS: tuple[DeviceSpec, ...] = (
    DeviceSpec("NVIDIA H100 PCIe", r"h100.*pcie", _nv(51.0, 51.0, 378.0, 756.0, 1513.0, 1513.0),
               2000.0,
               "NVIDIA H100 Tensor Core GPU datasheet (PCIe column; dense = sparse / 2)"),
    DeviceSpec("NVIDIA H100 NVL", r"h100.*nvl", _nv(60.0, 60.0, 417.5, 835.5, 1670.5, 1670.5),
               3900.0,
               "NVIDIA H100 Tensor Core GPU datasheet (H100 NVL column; dense = sparse / 2)"),
    DeviceSpec("NVIDIA GH200", r"gh200", dict(_H100_SXM), None,
               "NVIDIA GH200 Grace Hopper Superchip datasheet (memory differs by HBM3/HBM3e "
               "variant, so none is given)"),
    DeviceSpec("NVIDIA H100 SXM", r"h100", dict(_H100_SXM), 3350.0,
               "NVIDIA H100 Tensor Core GPU datasheet (SXM column; dense = sparse / 2)"),
    DeviceSpec("NVIDIA H200 SXM", r"h200", dict(_H100_SXM), 4800.0,
               "NVIDIA H200 Tensor Core GPU datasheet (SXM column; dense = sparse / 2)"),
    DeviceSpec("NVIDIA B200", r"b200",
               {"bf16": 2250.0, "fp16": 2250.0, "fp8": 4500.0, "int8": 4500.0}, 8000.0,
               "NVIDIA HGX B200 datasheet, per GPU (dense = sparse / 2); "
               "2250 bf16 also in stas00/ml-engineering's accelerator table"),
    DeviceSpec("NVIDIA A100 80GB PCIe", r"a100.*80gb.*pcie|a100.*pcie.*80gb",
               _nv(19.5, 19.5, 156.0, 312.0, None, 624.0), 1935.0,
               "NVIDIA A100 Tensor Core GPU datasheet (80GB PCIe column)"),
    DeviceSpec("NVIDIA A100 80GB SXM", r"a100.*80gb", _nv(19.5, 19.5, 156.0, 312.0, None, 624.0),
               2039.0,
               "NVIDIA A100 Tensor Core GPU datasheet (80GB SXM column)"),
    DeviceSpec("NVIDIA A100 40GB", r"a100", _nv(19.5, 19.5, 156.0, 312.0, None, 624.0), 1555.0,
               "NVIDIA A100 Tensor Core GPU datasheet (40GB columns)"),
    DeviceSpec("AMD Instinct MI325X", r"mi325x", dict(_MI300), 6000.0,
               "AMD Instinct MI325X accelerator data sheet (dense figures)"),
    DeviceSpec("AMD Instinct MI300X", r"mi300x", dict(_MI300), 5300.0,
               "AMD Instinct MI300X accelerator data sheet (dense figures)"),
    DeviceSpec("Intel Gaudi 3", r"gaudi\s*3|hl-3[0-9]{2}", {"bf16": 1835.0, "fp8": 1835.0}, 3700.0,
               "Intel Gaudi 3 AI accelerator white paper (MME bf16/fp8); "
               "stas00/ml-engineering's table uses 1677 for bf16"),
    DeviceSpec("Intel Gaudi 2", r"gaudi\s*2|hl-2[0-9]{2}", {"bf16": 432.0, "fp8": 865.0}, 2450.0,
               "Intel Gaudi 2 white paper; 432 bf16 as in stas00/ml-engineering's table"),
    DeviceSpec("Intel Data Center GPU Max 1100", r"max\s*1100",
               {"fp64": 22.2, "fp32": 22.2, "bf16": 355.2, "fp16": 355.2}, 1228.8,
               "Intel ark, Data Center GPU Max 1100 (fp32/fp64, 1228.8 GB/s); bf16/fp16 derived "
               "as 56 Xe-cores x 4096 FLOP/clk x 1.55 GHz", estimated=True),
    DeviceSpec("Huawei Ascend 910B", r"ascend\s*910b|910b", {"fp16": 320.0, "bf16": 320.0}, None,
               "no public vendor datasheet; 320 TFLOP/s fp16 is the widely reported figure "
               "(variants 910B1-B4 differ)", estimated=True),
    DeviceSpec("Huawei Ascend 910", r"ascend\s*910", {"fp16": 256.0, "int8": 512.0}, None,
               "Huawei Ascend 910 launch announcement (2019): 256 TFLOP/s fp16, 512 TOP/s int8"),
    DeviceSpec("Apple M2 Ultra", r"m2 ultra", {"fp32": 27.2}, 800.0,
               "Apple M2 Ultra press release"),
    DeviceSpec("Apple M2 Max", r"m2 max", {"fp32": 13.6}, 400.0,
               "Apple M2 Pro/M2 Max press release"),
    DeviceSpec("Apple M2 Pro", r"m2 pro", {"fp32": 6.8}, 200.0,
               "Apple M2 Pro/M2 Max press release"),
    DeviceSpec("Apple M2", r"apple m2\b", {"fp32": 3.6}, 100.0, "Apple M2 press release"),
    DeviceSpec("Apple M1 Ultra", r"m1 ultra", {"fp32": 21.0}, 800.0,
               "Apple M1 Ultra press release"),
    DeviceSpec("Apple M1 Max", r"m1 max", {"fp32": 10.4}, 400.0,
               "Apple M1 Pro/M1 Max press release"),
    DeviceSpec("Apple M1 Pro", r"m1 pro", {"fp32": 5.2}, 200.0,
               "Apple M1 Pro/M1 Max press release"),
    DeviceSpec("Apple M1", r"apple m1\b", {"fp32": 2.6}, 68.25, "Apple M1 press release"),
    DeviceSpec("Apple M3 Pro", r"m3 pro", {}, 150.0, "Apple M3 family press release"),
    DeviceSpec("Apple M3", r"apple m3\b(?! (max|pro|ultra))", {}, 100.0,
               "Apple M3 family press release"),
    DeviceSpec("Apple M4 Pro", r"m4 pro", {}, 273.0, "Apple M4 Pro press release"),
    DeviceSpec("Apple M4", r"apple m4\b(?! (max|pro|ultra))", {}, 120.0, "Apple M4 press release"),
)


def match_device(device_name: str) -> DeviceSpec | None:
    """The table entry for a device name, or None."""
    for spec in PEAKS:
        if spec.matches(device_name):
            return spec
    return None


# -- the host CPU --------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuInfo:
    """What the CPU estimate needs: model, cores used, GHz and ISA flags."""

    model: str
    vendor: str
    family: int | None
    cores: int
    ghz: float | None
    flags: frozenset[str]
    ghz_source: str = "reported by the OS"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


@lru_cache(maxsize=4)
def cpu_info(threads: int | None = None) -> CpuInfo:
    """The host CPU as /proc/cpuinfo and sysfs describe it (Linux; sparse elsewhere).

    ``cores`` is the number of threads the run's kernels used (``threads``:
    ``torch.get_num_threads()`` of the run, which the caller passes; PyTorch's
    default is the physical cores), capped at the physical cores: that is
    what an intra-op kernel can use.
    """
    import platform

    text = _read("/proc/cpuinfo") or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    model = fields.get("model name") or platform.processor() or platform.machine() or "cpu"
    flags = frozenset((fields.get("flags") or fields.get("Features") or "").split())
    family = int(fields["cpu family"]) if fields.get("cpu family", "").isdigit() else None
    ghz: float | None = None
    max_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if max_khz and max_khz.strip().isdigit():
        ghz = int(max_khz.strip()) / 1e6
    elif fields.get("cpu MHz"):
        try:
            ghz = float(fields["cpu MHz"]) / 1e3
        except ValueError:
            ghz = None
    ghz_source = "reported by the OS"
    measured = measured_ghz()
    if measured is not None and (ghz is None or measured > ghz):
        reported = f", OS reports {ghz:.2f}" if ghz is not None else ""
        ghz, ghz_source = measured, f"measured on a busy core{reported}"
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    siblings, per_core = fields.get("siblings", ""), fields.get("cpu cores", "")
    smt = int(siblings) // int(per_core) if siblings.isdigit() and per_core.isdigit() and \
        int(per_core) else 1
    physical = max(1, (logical or 1) // max(1, smt))
    cores = max(1, min(threads or physical, physical))
    return CpuInfo(model, fields.get("vendor_id", ""), family, cores, ghz, flags, ghz_source)


@lru_cache(maxsize=1)
def measured_ghz() -> float | None:
    """Clock rate of a busy core in GHz (best of 10 trials of 5 ms), None where unmeasurable."""
    from accelbench import _core

    hz = _core.core_clock_hz(0.005, 10)
    return hz / 1e9 if hz else None


def _fma_bits(info: CpuInfo) -> tuple[int, str]:
    """Total FMA vector width per cycle (bits) and the reason for it."""
    f = info.flags
    amd_split = info.vendor == "AuthenticAMD" and info.family is not None and info.family <= 25
    if "avx512f" in f and not amd_split:
        return 2 * 512, "2 x 512-bit FMA"
    if "avx512f" in f or "avx2" in f or "fma" in f:
        return 2 * 256, "2 x 256-bit FMA" + (" (AVX-512 split in halves)" if "avx512f" in f else "")
    return 2 * 128, "2 x 128-bit FMA (assumed)"


def _lanes(kind: str, flags: frozenset[str]) -> tuple[int, int, str] | None:
    """(lane bits, speedup, note) of a peak kind on a CPU with these ISA flags."""
    if kind == "int8":
        if flags & {"avx512_vnni", "avx_vnni"}:
            return 8, 1, " (VNNI int8 dot products)"
        return 16, 1, " (int8 via vpmaddubsw/vpmaddwd, no VNNI)"
    bits = {"fp64": 64, "fp32": 32, "bf16": 32, "fp16": 32, "fp8": 32}.get(kind)
    if bits is None:
        return None
    half = "bf16" if kind == "fp8" else kind
    fast = (half == "bf16" and "avx512_bf16" in flags) or (
        half == "fp16" and "avx512_fp16" in flags)
    note = f" x2 ({half} dot-product instructions)" if fast else ""
    if kind == "fp8":
        note += "; no fp8 arithmetic: operands widened, the bf16 rate"
    return bits, 2 if fast else 1, note


def cpu_peak(dtype: str, info: CpuInfo | None = None, threads: int | None = None) -> Peak | None:
    """Estimated peak of the host CPU for a peak kind (None if unknown): TFLOP/s, int8 TOP/s."""
    info = info or cpu_info(threads)
    lanes = _lanes(dtype, info.flags)
    if lanes is None or info.ghz is None:
        return None
    bits, speedup, extra = lanes
    fma_bits, why = _fma_bits(info)
    per_cycle = 2 * fma_bits // bits * speedup
    value = info.cores * info.ghz * per_cycle / 1e3
    op = "OP" if dtype == "int8" else "FLOP"
    source = (f"estimate: {info.cores} cores x {info.ghz:.2f} GHz ({info.ghz_source}) x "
              f"{per_cycle} {op}/cycle ({why}, {bits}-bit lanes{extra})")
    return Peak(value, unit_of(dtype), source, estimated=True, device=info.model)


def peak_for(device_name: str, dtype: str, threads: int | None = None) -> Peak | None:
    """Peak of a kind (TFLOP/s; int8 TOP/s) or of ``"memory"`` (GB/s) for a device, or None.

    Table entries come first; a name that is this host's CPU model gets the
    labelled CPU estimate (compute only: no memory-bandwidth estimate is made).
    """
    if dtype not in KINDS:
        raise ValueError(f"unknown peak kind {dtype!r} (known: {', '.join(KINDS)})")
    spec = match_device(device_name)
    if spec is not None:
        if dtype == "memory":
            if spec.memory_gbps is None:
                return None
            return Peak(spec.memory_gbps, "GB/s", spec.source, spec.estimated, spec.name)
        value = spec.tflops.get(dtype)
        if value is None:
            return None
        return Peak(value, unit_of(dtype), spec.source, spec.estimated, spec.name)
    if dtype != "memory" and device_name.strip() == cpu_info(threads).model:
        return cpu_peak(dtype, threads=threads)
    return None

"""Memory and launch families on the CPU: exact copies, byte counts, honest unsupported cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from accelbench.devices import CpuDevice
from accelbench.errors import CatalogError, UnsupportedError
from accelbench.measure.measurement import Timing, make_timer
from accelbench.workloads import launch, memory
from accelbench.workloads.base import Case
from accelbench.workloads.catalog import load_family_file

CATALOG = Path(__file__).resolve().parents[1] / "python" / "accelbench" / "kernels"


def _mem_case(op: str, kind: str, size: int, dtype: str = "fp32") -> Case:
    return Case("memory", f"{op} {kind} {size}", dtype,
                (("op", op), ("memory", kind), ("bytes", size)))


@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp64"])
def test_copy_is_exact_and_counts_read_plus_write(dtype: str) -> None:
    size = 3 << 20
    prep = memory.FAMILY.prepare(_mem_case("copy", "device", size, dtype), CpuDevice())
    out = prep.output
    assert out is not None and prep.reference is not None
    assert not torch.equal(out().double(), prep.reference())  # empty buffer before the launch
    prep.fn()
    assert torch.equal(out().double(), prep.reference())
    assert prep.bytes == 2 * size
    assert prep.reference().std().item() > 0.5  # standard-normal, not a constant fill


def test_copy_bytes_convention() -> None:
    assert memory.copy_bytes("copy", 1000) == 2000
    assert memory.copy_bytes("h2d", 1000) == 1000
    assert memory.copy_bytes("d2h", 1000) == 1000


@pytest.mark.parametrize(("op", "kind"), [("h2d", "pageable"), ("h2d", "pinned"),
                                          ("d2h", "pageable"), ("d2h", "pinned")])
def test_host_device_transfers_are_unsupported_on_cpu(op: str, kind: str) -> None:
    with pytest.raises(UnsupportedError, match="no separate device memory"):
        memory.FAMILY.prepare(_mem_case(op, kind, 1 << 20), CpuDevice())


def test_memory_catalog_names_and_errors() -> None:
    names = {c.case for c in load_family_file(CATALOG / "memory.toml")}
    assert {"copy 64 MiB", "h2d pinned 256 MiB", "d2h pageable 16 MiB"} <= names
    with pytest.raises(CatalogError, match="host_memory"):
        memory.FAMILY.expand({"name": "c", "op": "copy", "mib": 1, "host_memory": "pinned"}, "f")
    with pytest.raises(CatalogError, match="'op'"):
        memory.FAMILY.expand({"name": "c", "op": "move", "mib": 1}, "f")


def _launch_case(mode: str, n: int = 1) -> Case:
    return Case("launch", f"tiny {mode}", "fp32", (("elements", n), ("timing", mode)))


def test_launch_host_async_runs_a_real_op_on_cpu() -> None:
    prep = launch.FAMILY.prepare(_launch_case("host-async", 5), CpuDevice())
    prep.fn()
    assert prep.output is not None and prep.reference is not None
    # fp32 x + 1 is the float64 result rounded once
    assert torch.allclose(prep.output().double(), prep.reference(), rtol=2**-23, atol=0)
    assert "timing" not in prep.extra  # the CPU is timed by the sampler's own loop


@pytest.mark.parametrize(("mode", "why"), [("host-sync", "synchronously"),
                                           ("device-events", "no device event timer")])
def test_launch_modes_without_meaning_on_cpu_are_unsupported(mode: str, why: str) -> None:
    with pytest.raises(UnsupportedError, match=why):
        launch.FAMILY.prepare(_launch_case(mode), CpuDevice())


def test_host_timing_counts_all_launches() -> None:
    calls = []
    timer, batch = make_timer(CpuDevice(), lambda: calls.append(1), Timing(host=True))
    seconds = timer(7)  # type: ignore[call-arg]
    assert batch and len(calls) == 7
    assert seconds > 0
    assert timer.columns(1)["timing_method"] == "host-monotonic"  # type: ignore[union-attr]


def test_launch_catalog() -> None:
    names = [c.case for c in load_family_file(CATALOG / "launch.toml")]
    assert names[:3] == ["tiny add host-async", "tiny add host-sync", "tiny add device-events"]
    with pytest.raises(CatalogError, match="unknown mode"):
        launch.FAMILY.expand({"name": "x", "timing": "warp"}, "f")

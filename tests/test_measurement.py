"""One measurement step: run, sustain, the collective ranks and the pytest fixture time alike.

Each path is driven with ``--cache cold``, which changes the timer (the
last-level cache is flushed before each launch: ``host-monotonic-per-iter``
on the CPU), and with a case that asks for the host's view of a launch
(``Prepared.host_timing``: the synchronised host loop, ``host-monotonic``,
which ignores the cache option as ``run`` always has). A path that picked
its own timer would report the CPU's default instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

import accelbench
from accelbench.devices import CpuDevice
from accelbench.kinds import CacheState, Status, StopReason, TimingMethod
from accelbench.measure.case import measure_case
from accelbench.measure.core import Settings
from accelbench.measure.measurement import Measurement, SamplingSpec, Timing, make_timer, sample
from accelbench.workloads import FAMILIES
from accelbench.workloads.base import Case, Prepared

from .conftest import FAST

REPO = Path(__file__).resolve().parents[1]


class _Probe:
    """A tiny add; ``host`` in the case's params asks for host timing."""

    name = "probe"
    default_dtypes = ("fp32",)

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        return []

    def prepare(self, case: Case, device: Any) -> Prepared:
        x = torch.ones(256)
        return Prepared(fn=lambda: x.add_(1), bytes=2 * 256 * 4,
                        host_timing=bool(case.param("host")))


def _case(host: bool) -> Case:
    return Case("probe", f"probe host={host}", "fp32", (("host", int(host)),))


EXPECTED = {
    False: (TimingMethod.HOST_MONOTONIC_PER_ITER, CacheState.COLD),
    True: (TimingMethod.HOST_MONOTONIC, CacheState.WARM),
}


@pytest.mark.parametrize("sustain", [0.0, 0.3], ids=["run", "sustain"])
@pytest.mark.parametrize("host", [False, True], ids=["device-timer", "host-timing"])
def test_run_and_sustain_time_a_case_alike(monkeypatch: pytest.MonkeyPatch, sustain: float,
                                           host: bool) -> None:
    monkeypatch.setitem(FAMILIES, "probe", _Probe())
    settings = Settings(warmup=0.02, max_case_time=0.2, min_samples=3, cache=CacheState.COLD,
                        sustain=sustain, check=False, isolation=False)
    outcome = measure_case(_case(host), CpuDevice(), settings, "r")
    row = outcome.row
    assert row["status"] == Status.OK, row.get("error")
    assert (row["timing_method"], row["cache_state"]) == EXPECTED[host]
    assert row["stop_reason"] == (StopReason.SUSTAIN if sustain else row["stop_reason"])
    assert row["gbps"] == pytest.approx(2 * 256 * 4 / row["median_s"] / 1e9)
    assert row["n_samples"] == len(outcome.samples["seconds"])


def test_measurement_summarises_its_samples_once() -> None:
    m = Measurement([3e-6, 1e-6, 2e-6, 2e-6, 2e-6], 4, True, StopReason.CONVERGED, 0.1)
    cols = m.columns(flops=2e6, nbytes=None)
    assert cols["median_s"] == 2e-6 and cols["min_s"] == 1e-6 and cols["n_samples"] == 5
    assert cols["tflops"] == pytest.approx(2e6 / 2e-6 / 1e12) and cols["gbps"] is None
    assert cols["ci_low_s"] <= cols["median_s"] <= cols["ci_high_s"]
    assert m.analysis is m.analysis  # computed once


def test_host_timing_uses_the_one_host_loop() -> None:
    calls: list[int] = []
    timer, batch = make_timer(CpuDevice(), lambda: calls.append(1), Timing(host=True))
    m = sample(timer, batch, SamplingSpec(0.01, 0.05, 0.01, 3))
    assert batch and sum(m.k for _ in m.samples) <= len(calls)
    assert m.timer_cols["timing_method"] == TimingMethod.HOST_MONOTONIC


COLLECTIVE = """
family = "collectives"
[[case]]
op = "all_reduce"
reduce = "sum"
sizes = ["4KiB"]
dtypes = ["fp32"]
"""


@pytest.mark.timeout(300)
def test_collective_ranks_honour_the_run_timing_options(tmp_path: Path) -> None:
    (tmp_path / "coll.toml").write_text(COLLECTIVE)
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "ACCELBENCH_FAULT")}
    proc = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "--device", "cpu", "--suite", "coll.toml",
         "--world-size", "2", "--cache", "cold", "--out", "out", "-q", *FAST],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    (run,) = (tmp_path / "out").iterdir()
    row = accelbench.load(run).iloc[0]
    assert row["status"] == "ok" and row["world_size"] == 2
    assert (row["timing_method"], row["cache_state"]) == EXPECTED[False]
    assert row["cold_bytes"] > 0


FIXTURE_TEST = """
import torch

def test_device_timer(accel_benchmark):
    x = torch.ones(256)
    accel_benchmark(lambda: x.add_(1), bytes=2048)

def test_host_timing(accel_benchmark):
    x = torch.ones(256)
    accel_benchmark(lambda: x.add_(1), bytes=2048, host_timing=True)
"""


def test_pytest_fixture_honours_the_run_timing_options(tmp_path: Path) -> None:
    (tmp_path / "test_fixture_timing.py").write_text(FIXTURE_TEST)
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "accelbench.pytest_plugin", "-c",
         str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), "-q", "-p",
         "no:cacheprovider", str(tmp_path / "test_fixture_timing.py"), "--accel-device", "cpu",
         "--accel-cache", "cold", "--accel-max-time", "0.1", "--accel-warmup", "0.01",
         "--benchmark-json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = {b["name"]: b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]}
    for name, host in (("test_device_timer", False), ("test_host_timing", True)):
        method, cache = EXPECTED[host]
        assert (info[name]["timing_method"], info[name]["cache_state"]) == (method, cache)
        assert info[name]["gbps"] == pytest.approx(2048 / info[name]["median_s"] / 1e9)

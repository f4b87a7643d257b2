"""Numerical checks in the runner: wrong, constant and input-blind kernels are flagged,
and two CPU runs with different thread counts are compared by `accelbench consistency`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from accelbench import _core, load
from accelbench.analysis.consistency import check_consistency
from accelbench.devices import CpuDevice
from accelbench.measure.case import measure_case
from accelbench.measure.core import Settings
from accelbench.results import RunDir, load_fingerprints
from accelbench.workloads import FAMILIES
from accelbench.workloads.base import Case, Prepared

from .conftest import FAST, Cli

SETTINGS = Settings(warmup=0.01, max_case_time=0.05, min_samples=3)


class FakeFamily:
    """matmul-shaped kernels that cheat in different ways (mode in the case params)."""

    name = "fake"
    default_dtypes = ("fp32",)

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        raise NotImplementedError

    def prepare(self, case: Case, device: Any) -> Prepared:
        mode = case.param("mode")
        gen = torch.Generator().manual_seed(case.seed)
        a = torch.randn((48, 48), generator=gen)
        b = torch.randn((48, 48), generator=gen)
        c = torch.zeros((48, 48))
        state = {"out": c}

        def run() -> None:
            if mode == "ok":
                torch.matmul(a, b, out=c)
            elif mode == "noop":
                state["out"] = a  # returns its input without computing
            elif mode == "wrong_row":
                torch.matmul(a, b, out=c)
                c[3] += 1.0

        return Prepared(fn=run, flops=2 * 48**3, bytes=3 * 48 * 48 * 4,
                        output=lambda: state["out"],
                        reference=lambda: a.double() @ b.double(),
                        reduction_length=48)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FAMILIES, "fake", FakeFamily())  # type: ignore[arg-type]


def _measure(mode: str) -> dict[str, Any]:
    case = Case("fake", f"fake {mode}", "fp32", (("mode", mode),))
    out = measure_case(case, CpuDevice(), SETTINGS, "test-run")
    return out.row | {"fingerprint_record": out.samples.get("fingerprint")}


def test_correct_kernel_passes_every_check(fake: None) -> None:
    row = _measure("ok")
    assert row["status"] == "ok", row.get("error")
    assert row["deterministic"] is True
    assert row["flags"] == "" and row["suspect"] is False
    assert row["max_rel_err"] >= 0 and row["mismatch_frac"] == 0.0
    assert row["fingerprint"] == row["fingerprint_record"]["hash"]
    assert len(row["fingerprint_record"]["bits"]) == 32


def test_noop_kernel_returning_its_input_is_flagged(fake: None) -> None:
    row = _measure("noop")
    assert row["status"] == "mismatch"
    assert "reference_mismatch" in row["flags"].split(",")
    assert row["suspect"] is True
    assert row["mismatch_frac"] > 0.9
    assert "outside rtol" in row["error"]


def test_kernel_that_never_writes_its_output_is_constant_and_input_insensitive(fake: None) -> None:
    row = _measure("never")
    flags = row["flags"].split(",")
    assert row["status"] == "mismatch"
    assert {"constant_output", "input_insensitive", "reference_mismatch"} <= set(flags)
    assert row["suspect"] is True


def test_one_wrong_row_is_a_mismatch_with_its_first_index(fake: None) -> None:
    row = _measure("wrong_row")
    assert row["status"] == "mismatch"
    assert row["mismatch_frac"] == pytest.approx(48 / 48**2)
    assert "first at flat index 144" in row["error"]  # row 3, column 0


def test_above_peak_is_flagged_by_the_roofline_annotation(fake: None) -> None:
    from accelbench.analysis.peaks import Peak
    from accelbench.analysis.roofline import annotate
    from accelbench.results.schema import results_frame

    row = _measure("ok")
    assert "above_peak" not in row["flags"] and row["suspect"] is False

    def tiny(name: str, kind: str) -> Peak | None:  # a 1 kFLOP/s "peak"
        return Peak(1e-9, "TFLOP/s", "test", False, name) if kind == "fp32" else None

    out = annotate(results_frame([row]), tiny)
    assert out["flags"][0].split(",")[-1] == "above_peak" and out["suspect"][0]
    again = annotate(out, tiny)  # annotating twice does not repeat the flag
    assert again["flags"][0].count("above_peak") == 1


def test_matmul_reference_covers_a_row_subset_for_big_shapes() -> None:
    from accelbench.workloads.matmul import FAMILY, reference_rows

    assert reference_rows(64, 64, 64) is None
    rows = reference_rows(4096, 4096, 4096)
    assert rows is not None and 1 <= len(rows) <= 16 and int(rows[-1]) == 4095
    case = Case("matmul", "big-ish", "fp32", (("M", 2048), ("N", 512), ("K", 512)))
    prepared = FAMILY.prepare(case, CpuDevice())
    idx = prepared.reference_slice
    assert prepared.reference is not None and prepared.output is not None
    prepared.fn()
    ref = prepared.reference()
    assert ref.shape == (len(idx), 512) and len(idx) < 2048
    torch.testing.assert_close(prepared.output()[idx].double(), ref, rtol=1e-4, atol=1e-3)


def test_two_thread_counts_compared_with_consistency(
    cli: Cli, tiny_suite: Path, tmp_path: Path
) -> None:
    runs = []
    for threads in ("1", "2", "1"):
        out = tmp_path / f"runs{len(runs)}"
        p = cli("run", "--device", "cpu", "--suite", str(tiny_suite), "--threads", threads,
                "--out", str(out), "-q", *FAST)
        assert p.returncode == 0, p.stderr
        (run,) = out.iterdir()
        meta = json.loads((run / "meta.json").read_text())
        assert meta["settings"]["threads"] == int(threads)
        assert meta["torch_threads"] == int(threads)
        frame = load(run)
        assert frame["deterministic"].all() and (frame["status"] == "ok").all()
        runs.append(run)

    # a perturbed copy of the first run: one case 3 ULP off, one with a NaN
    bent = tmp_path / "bent" / runs[0].name
    bent.parent.mkdir()
    lines = (runs[0] / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    cases = [e for e in events if e.get("event") == "case"]
    for ev, how in zip(cases[:2], ("ulp", "nan"), strict=True):
        fp = ev["samples"]["fingerprint"]
        fp["hash"] = "0" * 16
        nan = 0x7FC00000 if ev["row"]["dtype"] == "fp32" else 0x7FF8000000000000
        fp["bits"][5] = fp["bits"][5] + 3 if how == "ulp" else nan
    bent.mkdir()
    (bent / "meta.json").write_text((runs[0] / "meta.json").read_text())
    (bent / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    RunDir(bent).finalize()

    p = cli("consistency", str(runs[0]), str(runs[1]), str(runs[2]), str(bent),
            "--format", "csv")
    assert p.returncode == 0, p.stderr
    table = pd.read_csv(__import__("io").StringIO(p.stdout))
    n_cases = len(load(runs[0]))
    assert len(table) == 3 * n_cases
    # the figures follow from the stored fingerprints, recomputed here independently
    fps = [load_fingerprints(r).set_index("key") for r in (runs[0], runs[1], runs[2], bent)]
    for i, run in enumerate((runs[1], runs[2], bent), start=1):
        part = table[table["run"] == run.name].set_index(["kernel", "case", "dtype"])
        for key, base in fps[0].iterrows():
            kernel, case, dtype = str(key).split("|")
            other = fps[i].loc[key]
            got = part.loc[(kernel, case, dtype)]
            view = np.uint32 if dtype == "fp32" else np.uint64
            fl = np.float32 if dtype == "fp32" else np.float64
            a = np.asarray(other["bits"], dtype=np.uint64).astype(view).view(fl)
            b = np.asarray(base["bits"], dtype=np.uint64).astype(view).view(fl)
            if other["hash"] == base["hash"]:
                assert got["status"] == "bitwise"
                assert got["ulp_max"] == 0
            elif np.isnan(a).any() != np.isnan(b).any():
                assert got["status"] == "discrepant" and np.isnan(got["ulp_max"])
            else:
                d = _core.ulp_distance(a, b, dtype=dtype)
                assert got["ulp_max"] == d.max()
                close = np.abs(a.astype(float) - b) <= base["atol"] + base["rtol"] * np.abs(b)
                assert got["status"] == ("within_tolerance" if close.all() else "discrepant")
    bent_rows = table[table["run"] == bent.name]
    assert sorted(bent_rows["status"].tolist()) == sorted(
        ["within_tolerance", "discrepant"] + ["bitwise"] * (n_cases - 2))
    assert bent_rows["ulp_max"].max() == 3
    # same thread count twice on the CPU: bitwise identical
    assert (table[table["run"] == runs[2].name]["status"] == "bitwise").all()
    result = check_consistency([runs[0], bent])
    assert result.rate() == pytest.approx((n_cases - 1) / n_cases)

    md = cli("consistency", str(runs[0]), str(bent), "--format", "markdown")
    assert f"{100 * (n_cases - 1) / n_cases:.1f}%" in md.stdout
    rich = cli("consistency", str(runs[0]), str(bent))
    assert rich.returncode == 0 and "discrepant 1" in rich.stdout
    bad = cli("consistency", str(runs[0]))
    assert bad.returncode == 2 and "at least two" in bad.stderr


@pytest.mark.parametrize("kernel, params", [
    ("matmul", (("M", 32), ("N", 32), ("K", 32))),
    ("attention", (("B", 1), ("Hq", 2), ("Hkv", 1), ("Sq", 8), ("Skv", 8), ("Dqk", 16),
                   ("Dv", 16), ("causal", 1), ("sdpa", "math"), ("pass", "fwd"))),
])
def test_real_families_draw_other_inputs_for_the_sensitivity_check(
    kernel: str, params: tuple[tuple[str, Any], ...]
) -> None:
    """The alternative inputs differ, so a real kernel is never flagged input_insensitive."""
    from accelbench.numerics.checks import _alt_input_hash

    family = FAMILIES[kernel]
    case = Case(kernel, f"{kernel} sensitivity", "fp32", params)
    prepared = family.prepare(case, CpuDevice())
    prepared.fn()
    assert prepared.output is not None
    out = prepared.output()
    arr = out.detach().contiguous().numpy()
    first = _core.fingerprint(arr, dtype="fp32", samples=0).hash_hex
    assert _alt_input_hash(case, CpuDevice()) != first
    row = measure_case(case, CpuDevice(), SETTINGS, "test-run").row
    assert row["status"] == "ok", row.get("error")
    assert "input_insensitive" not in row["flags"].split(",")

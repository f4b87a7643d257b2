"""`accelbench compare -a RUN... -b RUN...`: several real CPU runs per side, and the
two-level bootstrap behind it (reduction to one run, run-to-run noise in the CI)."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelbench import _core
from accelbench.analysis.compare import case_samples, compare_groups, compare_runs
from accelbench.cli import main
from accelbench.errors import InputError
from accelbench.results import load_samples

from .test_compare import _cli, make_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three runs of a suite (a1..a3) and three where `probe` does 4x the work (b1..b3):
    with runs as groups, two per side would leave a Student-t factor of t(2) = 4.3."""
    return make_runs(tmp_path_factory.mktemp("cmpruns"), ["a1", "b1", "a2", "b2", "a3", "b3"],
                     sizes=(48, 96))


def test_three_runs_per_side_find_the_slowdown_and_report_runs(runs: dict[str, Path],
                                                               tmp_path: Path) -> None:
    a = [str(runs[r]) for r in ("a1", "a2", "a3")]
    b = [str(runs[r]) for r in ("b1", "b2", "b3")]
    proc = _cli("compare", "-a", *a, "-b", *b, "--threshold", "30", "--format", "json",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["runs_a"] == [Path(p).name for p in a]
    assert data["runs_b"] == [Path(p).name for p in b]
    cases = {c["case"]: c for c in data["cases"]}
    assert set(cases) == {"probe M=128", "sq 48", "sq 96"}
    probe = cases["probe M=128"]
    assert probe["verdict"] == "slower", probe
    assert probe["ci_low"] > 1.3 and probe["ci_low"] <= probe["ratio"] <= probe["ci_high"]
    for c in cases.values():
        assert (c["n_runs_a"], c["n_runs_b"]) == (3, 3)
        assert c["spread_a"] is not None and c["spread_a"] >= 0 and c["spread_b"] >= 0
    # n_a pools the runs' samples; the pooled median is the median of them all.
    key = ("matmul", "sq 96", "fp32")
    xa = [case_samples(load_samples(runs[r]))[key] for r in ("a1", "a2", "a3")]
    assert cases["sq 96"]["n_a"] == sum(len(x) for x in xa)
    assert cases["sq 96"]["median_a_s"] == pytest.approx(float(np.median(np.concatenate(xa))))
    medians = sorted(float(np.median(x)) for x in xa)
    assert cases["sq 96"]["spread_a"] == pytest.approx((medians[2] - medians[0]) / medians[1])
    # The table names the runs per side and their spread; the gate still works.
    table = _cli("compare", "--baseline", *a, "--candidate", *b, "--threshold", "30",
                 "--fail-on-regression", "10", cwd=tmp_path)
    assert table.returncode == 1
    assert "runs A/B" in table.stdout and "run spread A/B" in table.stdout
    assert "3/3" in table.stdout and "3 runs of A, 3 of B" in table.stdout
    assert "regression: matmul probe M=128 fp32" in table.stderr
    csv = _cli("compare", "-a", a[0], "-a", a[1], "-a", a[2], "-b", *b, "--format", "csv",
               cwd=tmp_path)
    frame = pd.read_csv(StringIO(csv.stdout))
    assert list(frame.columns[-4:]) == ["n_runs_a", "n_runs_b", "spread_a", "spread_b"]
    assert (frame["n_runs_a"] == 3).all()


def test_one_run_per_side_is_exactly_the_two_run_compare(runs: dict[str, Path],
                                                         tmp_path: Path) -> None:
    old = _cli("compare", str(runs["a1"]), str(runs["b1"]), "--format", "json", cwd=tmp_path)
    new = _cli("compare", "-a", str(runs["a1"]), "-b", str(runs["b1"]), "--format", "json",
               cwd=tmp_path)
    assert old.returncode == new.returncode == 0
    assert json.loads(old.stdout) == json.loads(new.stdout)
    table = _cli("compare", str(runs["a1"]), str(runs["b1"]), cwd=tmp_path)
    assert "runs A/B" not in table.stdout and "runs of A" not in table.stdout
    # The native group comparison with one run per side is compare_samples, field by field.
    key = ("matmul", "probe M=128", "fp32")
    xa = case_samples(load_samples(runs["a1"]))[key]
    xb = case_samples(load_samples(runs["b1"]))[key]
    one, group = _core.compare_samples(xa, xb), _core.compare_groups([xa], [xb])
    fields = ("median_a", "median_b", "ratio", "ci_low", "ci_high", "p_value", "effect",
              "verdict", "n_runs_a", "n_runs_b", "spread_a", "spread_b")
    assert [getattr(one, f) for f in fields] == [getattr(group, f) for f in fields]
    assert (group.n_runs_a, group.spread_a) == (1, None)
    assert compare_groups([runs["a1"]], [runs["b1"]]).cases == \
        compare_runs(runs["a1"], runs["b1"]).cases


def test_run_to_run_shift_widens_the_interval_instead_of_flagging() -> None:
    """Runs whose medians differ by a few percent: pooling them as one run calls a
    change; two levels see that the runs disagree and do not."""
    rng = np.random.default_rng(7)

    def run(level: float) -> np.ndarray:
        return level * 1e-3 * (1 + 0.005 * rng.standard_normal(800))

    a = [run(1.00), run(1.04), run(0.97)]
    b = [run(1.05), run(1.03), run(1.06)]
    pooled = _core.compare_samples(np.concatenate(a), np.concatenate(b))
    group = _core.compare_groups(a, b)
    assert pooled.verdict == "slower", pooled
    assert group.verdict == "no change", group
    assert group.ci_low < 1.02 < group.ci_high
    assert group.ci_high - group.ci_low > 4 * (pooled.ci_high - pooled.ci_low)
    assert group.ratio == pytest.approx(pooled.ratio)
    assert group.spread_a == pytest.approx(0.07, abs=0.01)
    # A shift far beyond the run-to-run noise is still found.
    c = [run(1.30), run(1.28), run(1.33)]
    assert _core.compare_groups(a, c).verdict == "slower"
    assert _core.compare_groups(c, a).verdict == "faster"


def test_compare_groups_rejects_bad_input() -> None:
    x = [1.0, 2.0, 3.0]
    for a, needle in (([], "at least one run"), ([x, []], "run 1: no samples"),
                      ([x, [1.0, float("nan")]], "run 1: sample 1"),
                      ("abc", "not a string"), ([x, "abc"], "a, run 1")):
        with pytest.raises(InputError, match=needle):
            _core.compare_groups(a, [x])
    with pytest.raises(InputError, match="must be > 0"):
        _core.compare_groups([x, [0.0, 1.0]], [x])


def test_bad_groups_are_one_line_exit_2(runs: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    a1, a2, b1 = str(runs["a1"]), str(runs["a2"]), str(runs["b1"])
    other = tmp_path / "other"
    shutil.copytree(runs["a2"], other)
    meta = json.loads((other / "meta.json").read_text())
    meta["environment"]["device"]["name"] = "Some Other CPU"
    (other / "meta.json").write_text(json.dumps(meta))
    # The real process once; the usage errors below through the same entry point.
    proc = _cli("compare", "-a", a1, str(other), "-b", b1, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "runs of A are on different devices" in proc.stderr
    assert "Some Other CPU (other)" in proc.stderr
    cases = [
        (["-a", "-b", b1], "expected at least one argument"),
        (["-a", a1, a2], "-b/--candidate RUN... is missing"),
        (["-b", b1], "-a/--baseline RUN... is missing"),
        ([a1, "-b", b1], "not both"),
        ([a1], "compare needs two runs"),
        (["-a", a1, a1, "-b", b1], "given twice for A"),
        (["-a", a1, "-b", b1, str(tmp_path / "missing")], "missing"),
    ]
    for args, needle in cases:
        assert main(["compare", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, (args, err)


def test_case_missing_from_one_run_is_not_compared(runs: dict[str, Path],
                                                   tmp_path: Path) -> None:
    a2 = tmp_path / "a2"
    shutil.copytree(runs["a2"], a2)
    frame = pd.read_parquet(a2 / "results.parquet")
    frame = frame[frame["case"] != "sq 48"]
    frame.loc[frame["case"] == "sq 96", "status"] = "error"
    frame.to_parquet(a2 / "results.parquet", index=False)
    meta = json.loads((a2 / "meta.json").read_text())
    meta["environment"]["software"]["torch"] = "9.9.9"
    (a2 / "meta.json").write_text(json.dumps(meta))
    result = compare_groups([runs["a1"], a2], [runs["b1"], runs["b2"]], resamples=500)
    reasons = {k[1]: k[3] for k in result.not_compared}
    assert reasons == {"sq 48": "missing from 1 of 2 runs of A",
                       "sq 96": "status ok/error vs ok"}
    assert [c.case for c in result.cases] == ["probe M=128"]
    assert result.only_a == [] and result.only_b == []
    assert any(w == "runs of A differ in: software.torch" for w in result.warnings)

"""accelbench ops: the operator sweep over OpInfo, with defects injected in single operators.

The end-to-end tests run the real CLI on the CPU over a handful of operators;
``ACCELBENCH_OPS_INJECT`` makes one operator each wrong by 1%, NaN, nondeterministic,
a segfault or a hang in the worker (never in its float64 reference), and each
must show in that operator's row only, with the sweep going on.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from accelbench.analysis.ops import judge, summarize
from accelbench.kinds import Defect, OpVerdict, Status
from accelbench.ops.repro import reproduction
from accelbench.ops.sets import load_set

CLEAN_OPS = "abs,add,neg"
INJECTED_OPS = "abs,add,div.no_rounding_mode,mul,neg,sub"
INJECT = "add=scale,mul=nan,sub=segv,div.no_rounding_mode=hang,abs=noise"


def _ops(tmp: Path, *args: str, inject: str = "") -> tuple[subprocess.CompletedProcess[str], Path]:
    env = dict(os.environ, COLUMNS="200", ACCELBENCH_OPS_INJECT=inject)
    out = tmp / "runs"
    before = set(out.iterdir()) if out.exists() else set()
    proc = subprocess.run([sys.executable, "-m", "accelbench", "ops", "--device", "cpu",
                           "--out", str(out), "-q", *args], capture_output=True, text=True,
                          timeout=240, cwd=tmp, env=env, check=False)
    if args and args[0] == "--resume":
        return proc, Path(args[1])
    (run,) = set(out.iterdir()) - before
    return proc, run


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str],
                                                              Path]:
    # --set llm: the worker checks that every operator of the set exists in op_db
    return _ops(tmp_path_factory.mktemp("clean"), "--set", "llm", "--ops", CLEAN_OPS,
                "--dtypes", "fp32,bf16", "--time")


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory, clean: tuple[Any, Path]
             ) -> tuple[subprocess.CompletedProcess[str], Path]:
    return _ops(tmp_path_factory.mktemp("injected"), "--ops", INJECTED_OPS, "--dtypes", "fp32",
                "--op-timeout", "3", "--baseline", str(clean[1]), inject=INJECT)


def _rows(run: Path) -> pd.DataFrame:
    import accelbench

    return accelbench.load(run).set_index(["case", "dtype"])


def test_clean_sweep_is_a_normal_run_with_one_row_per_operator_and_dtype(clean) -> None:
    proc, run = clean
    assert proc.returncode == 0, proc.stderr
    rows = _rows(run)
    assert len(rows) == 6 and set(rows["kernel"]) == {"ops"}
    assert set(rows["status"]) == {"ok"}
    assert rows["deterministic"].all() and rows["fingerprint"].notna().all()
    assert (rows["samples_run"] == rows["samples_total"]).all()
    assert (rows["samples_total"] > 0).all() and (rows["ref_elements"] > 0).all()
    assert (rows["max_abs_err"] >= 0).all()
    assert rows.loc[("add", "bf16"), "max_abs_err"] > 0  # bf16 rounding, seen against float64
    assert rows["declared_cuda"].all()
    fps = pd.read_parquet(run / "fingerprints.parquet")
    assert len(fps) == 6
    assert json.loads((run / "defects.json").read_text()) == []
    assert json.loads((run / "meta.json").read_text())["state"] == "complete"
    assert "fp32  supported 3 of 3 (100.0%)" in proc.stdout
    assert "consistency 100.0%; determinism 100.0%" in proc.stdout
    assert "defects: none" in proc.stdout
    # --time: the first sample of each timed by the measurement step
    assert (rows["median_s"] > 0).all() and (rows["n_samples"] >= 5).all()
    assert len(pd.read_parquet(run / "samples.parquet")) == rows["n_samples"].sum()


@pytest.mark.slow
def test_each_injected_defect_shows_in_its_operator_only_and_the_sweep_goes_on(injected) -> None:
    proc, run = injected
    assert proc.returncode == 1, proc.stderr  # failures: exit 1
    rows = _rows(run)
    status = {op: rows.loc[(op, "fp32"), "status"] for op, _ in rows.index}
    assert status == {"abs": "ok", "add": "mismatch", "div.no_rounding_mode": "timeout",
                      "mul": "mismatch", "neg": "ok", "sub": "crash"}
    assert "SIGSEGV" in rows.loc[("sub", "fp32"), "error"]
    assert rows.loc[("mul", "fp32"), "nan_mismatch"] > 0
    assert rows.loc[("add", "fp32"), "nan_mismatch"] == 0
    assert rows.loc[("add", "fp32"), "max_rel_err"] == pytest.approx(0.01, rel=0.05)
    assert not rows.loc[("abs", "fp32"), "deterministic"]
    assert rows.loc[("neg", "fp32"), "deterministic"]
    assert pd.isna(rows.loc[("neg", "fp32"), "defect_kinds"])
    defects = json.loads((run / "defects.json").read_text())
    kinds = {(d["op"], d["kind"]) for d in defects}
    assert kinds == {("add", Defect.MISMATCH), ("mul", Defect.NAN_INF),
                     ("sub", Defect.CRASH), ("div.no_rounding_mode", Defect.HANG),
                     ("abs", Defect.NONDETERMINISTIC)}
    assert all(d["sample"] == 0 for d in defects if d["kind"] in (Defect.CRASH, Defect.HANG))
    assert "full_name == 'add'" in next(d["repro"] for d in defects if d["op"] == "add")
    # supported = ok + mismatch = 4 of 6; consistent: abs, neg; deterministic: add, mul, neg
    assert "fp32  supported 4 of 6 (66.7%)" in proc.stdout
    assert "consistency 50.0%; determinism 75.0%" in proc.stdout
    assert "1 crash, 1 hang, 1 mismatch, 1 nan_inf, 1 nondeterministic" in proc.stdout
    # --baseline: the clean sweep of abs, add, neg is the other device
    verdicts = rows["baseline_verdict"].to_dict()
    assert verdicts[("add", "fp32")] == OpVerdict.WORSE  # the baseline agrees with float64
    assert verdicts[("neg", "fp32")] == verdicts[("abs", "fp32")] == OpVerdict.AGREES
    assert verdicts[("sub", "fp32")] == OpVerdict.FAILS
    assert verdicts[("mul", "fp32")] == OpVerdict.NOT_COMPARED  # the baseline lacks it
    assert "two-sided verdicts against" in proc.stdout


@pytest.mark.slow
def test_consistency_between_two_sweeps_names_the_wrong_operators(clean, injected, cli) -> None:
    proc = cli("consistency", str(clean[1]), str(injected[1]), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(io.StringIO(proc.stdout)).set_index(["case", "dtype"])["status"]
    assert table[("neg", "fp32")] == "bitwise"
    assert table[("add", "fp32")] == "discrepant"  # values off by 1%
    assert ("mul", "fp32") not in table  # not in the first sweep


@pytest.mark.slow
def test_resume_runs_only_what_the_killed_sweep_had_not_finished(clean, tmp_path) -> None:
    run = tmp_path / "run"
    shutil.copytree(clean[1], run)
    events = (run / "events.jsonl").read_text().splitlines()
    dropped = [e for e in events if json.loads(e).get("key") == "ops|neg|bf16"
               and json.loads(e)["event"] == "case"]
    assert len(dropped) == 1
    (run / "events.jsonl").write_text("\n".join(e for e in events if e not in dropped) + "\n")
    (run / "results.parquet").unlink()
    proc, _ = _ops(tmp_path, "--resume", str(run))
    assert proc.returncode == 0, proc.stderr
    after = [json.loads(e) for e in (run / "events.jsonl").read_text().splitlines()]
    started = [e["key"] for e in after[len(events) - 1:] if e["event"] == "case_start"]
    assert started == ["ops|neg|bf16"]
    rows = _rows(run)
    assert len(rows) == 6 and rows.loc[("neg", "bf16"), "status"] == "ok"
    assert rows.loc[("neg", "bf16"), "fingerprint"] == _rows(clean[1]).loc[
        ("neg", "bf16"), "fingerprint"]


def test_llm_set_lists_about_a_hundred_operators_of_op_db() -> None:
    llm = load_set("llm")
    assert 90 <= len(llm.ops) <= 130
    assert llm.group_of("nn.functional.scaled_dot_product_attention") == "attention"


def test_two_sided_verdicts_blame_only_error_the_baseline_does_not_share() -> None:
    def frame(rows: list[tuple[str, str, float | None]]) -> pd.DataFrame:
        return pd.DataFrame({"kernel": "ops", "case": [r[0] for r in rows], "dtype": "bf16",
                             "status": [r[1] for r in rows],
                             "max_abs_err": [r[2] for r in rows],
                             "deterministic": True, "declared_cuda": True})

    here = frame([("a", "ok", 0.01), ("b", "mismatch", 0.3), ("c", "mismatch", 3.0),
                  ("d", "unsupported", None), ("e", "crash", None), ("f", "ok", 0.0)])
    base = frame([("a", "ok", 0.01), ("b", "mismatch", 0.2), ("c", "mismatch", 0.2),
                  ("d", "ok", 0.01), ("e", "ok", 0.0)])
    judged = judge(here, base).set_index("case")
    assert list(judged["baseline_verdict"]) == [
        OpVerdict.AGREES, OpVerdict.SHARED, OpVerdict.WORSE, OpVerdict.MISSING,
        OpVerdict.FAILS, OpVerdict.AGREES]  # f agrees with float64; the baseline lacks it
    assert judged.loc["c", "error_ratio"] == pytest.approx(15.0)
    overall = summarize(judged.reset_index()).overall
    assert (overall.supported, overall.consistent, overall.baseline_supported) == (4, 3, 5)
    assert overall.counts[Status.UNSUPPORTED] == 1


def test_reproduction_is_python_that_names_the_sample() -> None:
    code = reproduction("nn.functional.gelu", "bf16", 3, "cuda", Defect.MISMATCH)
    compile(code, "<repro>", "exec")
    assert "torch.bfloat16))[3]" in code and "'cuda'" in code


def test_publish_writes_the_operator_matrix_beside_the_device_results(clean, cli, tmp_path
                                                                        ) -> None:
    proc = cli("publish", str(clean[1]), "--results", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stderr
    (folder,) = (tmp_path / "results").iterdir()
    text = (folder / "ops.md").read_text()
    assert "| `add` | ok | ok |" in text and "supported 3 of 3" in text
    assert not (folder / "README.md").exists()  # the kernel results are left as they are

"""User-defined kernel families: module:ATTR specs, entry points, and one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import accelbench
from accelbench.errors import CatalogError
from accelbench.workloads import get_family, user
from accelbench.workloads.catalog import load_suite
from tests.conftest import FAST
from tests.procs import TESTS_DIR, env_with, new_marker, only_run, run_cli

EXAMPLE = TESTS_DIR.parent / "examples" / "custom_kernel"


@pytest.fixture(autouse=True)
def _forget_user_families() -> Iterator[None]:
    """Each test starts with no user family loaded (the registry is per process)."""
    saved = dict(user._LOADED), dict(user._SPECS)
    yield
    sys.modules.pop("fams", None)  # test modules of the same name live in different folders
    user._LOADED.clear(), user._SPECS.clear()
    user._LOADED.update(saved[0]), user._SPECS.update(saved[1])


def test_example_catalog_loads_family_next_to_it() -> None:
    suite = load_suite(str(EXAMPLE / "softmax.toml"))
    assert {c.kernel for c in suite.cases} == {"softmax"}
    assert ("llama3 vocab rows=8", "bf16") in {(c.case, c.dtype) for c in suite.cases}
    assert get_family("softmax").name == "softmax"
    assert user.loaded_specs() == [("module", "my_kernels:FAMILY", str(EXAMPLE.resolve()))]
    assert str(EXAMPLE.resolve()) not in sys.path  # searched during the import only


def test_example_runs_end_to_end_in_a_worker(tmp_path: Path) -> None:
    proc = run_cli(["run", "--device", "cpu", "--suite", str(EXAMPLE / "softmax.toml"),
                    "--dtypes", "fp32", "--out", "out", *FAST], tmp_path, env_with(new_marker()))
    assert proc.returncode == 0, proc.stderr
    frame = accelbench.load(only_run(tmp_path / "out"))
    assert set(frame["status"]) == {"ok"} and set(frame["kernel"]) == {"softmax"}
    row = frame.set_index("case").loc["llama3 vocab rows=8"]
    assert row["bytes"] == 2 * 8 * 128256 * 4
    assert row["gbps"] == pytest.approx(row["bytes"] / row["median_s"] / 1e9)


def _dist_with_entry_point(site: Path, name: str, value: str) -> None:
    """An installed-looking distribution declaring one accelbench.workloads entry point."""
    info = site / "mykernels-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mykernels\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[accelbench.workloads]\n{name} = {value}\n")


def test_entry_point_family_runs_in_a_worker(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist_with_entry_point(site, "vocab_softmax", "my_kernels:FAMILY")
    catalog = tmp_path / "ep.toml"
    catalog.write_text('family = "vocab_softmax"\n[[case]]\nname = "ep"\nrows = 2\ncols = 1000\n'
                       'dtypes = ["fp32"]\n')
    env = env_with(new_marker(), site, EXAMPLE)
    proc = run_cli(["run", "--device", "cpu", "--suite", str(catalog), "--out", "out", *FAST],
                   tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    frame = accelbench.load(only_run(tmp_path / "out"))
    assert list(frame["case"]) == ["ep rows=2"] and list(frame["status"]) == ["ok"]


def _catalog(tmp_path: Path, family: str, module: str | None = None) -> Path:
    if module is not None:
        (tmp_path / "fams.py").write_text(module)
    path = tmp_path / "cat.toml"
    path.write_text(f'family = "{family}"\n[[case]]\nname = "x"\nrows = 1\ncols = 8\n')
    return path


GOOD = (
    "class F:\n    name = 'softmax2'\n    default_dtypes = ('fp32',)\n"
    "    def expand(self, entry, where): return []\n"
    "    def prepare(self, case, device): return None\n"
)


@pytest.mark.parametrize(
    ("family", "module", "message"),
    [
        ("no_such_module_xyz:FAMILY", None, "cannot import module 'no_such_module_xyz'"),
        ("fams:NOPE", GOOD + "FAMILY = F()\n", "module 'fams' has no attribute 'NOPE'"),
        ("fams:F", GOOD, "'fams:F' is a class; name an instance (e.g. FAMILY = F())"),
        ("fams:X", "X = 3\n", "'fams:X' is not a kernel family: no string attribute 'name'"),
        ("fams:X", "class X:\n    name = 'x'\n    default_dtypes = ('fp32',)\n"
         "    def expand(self, e, w): return []\nX = X()\n", "no method prepare()"),
        ("fams:X", "class X:\n    name = 'matmul'\n    default_dtypes = ('fp32',)\n"
         "    def expand(self, e, w): return []\n    def prepare(self, c, d): pass\nX = X()\n",
         "family name 'matmul' is taken by a built-in family"),
        ("fams:X", "raise ImportError('needs torch_npu')\n",
         "importing 'fams' failed: ImportError: needs torch_npu"),
        ("fams", None, "unknown kernel family 'fams'"),
        ("fams:", None, "is not of the form 'module.path:ATTRIBUTE'"),
    ],
)
def test_bad_family_spec_is_one_line_naming_file_and_field(
    tmp_path: Path, family: str, module: str | None, message: str
) -> None:
    with pytest.raises(CatalogError) as info:
        load_suite(str(_catalog(tmp_path, family, module)))
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'cat.toml'}: family: "), text
    assert message in text and "\n" not in text


def test_bad_family_spec_exits_2_from_the_cli(tmp_path: Path) -> None:
    from accelbench.cli import main

    path = _catalog(tmp_path, "fams:MISSING", GOOD)
    assert main(["list", "--suite", str(path)]) == 2


def test_family_expanding_foreign_kernel_is_rejected(tmp_path: Path) -> None:
    module = GOOD.replace(
        "return []\n",
        "\n        from accelbench.workloads.base import Case\n"
        "        return [Case('matmul', 'x', 'fp32', ())]\n", 1) + "FAMILY = F()\n"
    with pytest.raises(CatalogError, match="family 'softmax2' expanded a case of kernel 'matmul'"):
        load_suite(str(_catalog(tmp_path, "fams:FAMILY", module)))

"""The catalog and suite files: expansion, selection and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelbench.errors import CatalogError
from accelbench.workloads.catalog import catalog_dir, filter_cases, load_catalog, load_suite


def test_builtin_catalog_expands_llm_projection_shapes() -> None:
    cases = {(c.case, c.dtype): c for c in load_catalog()}
    qkv = cases[("llama3-8b qkv_proj T=2048", "bf16")]
    assert qkv.params == (("M", 2048), ("N", 6144), ("K", 4096))
    assert qkv.model == "Llama-3-8B"
    assert cases[("square 1024", "fp64")].params_text == "M=1024 N=1024 K=1024"
    assert ("deepseek-v3 kv_a_proj T=128", "fp32") in cases


def test_builtin_suites_are_nested_subsets_of_the_catalog() -> None:
    full = {c.key for c in load_suite("full").cases}
    standard = {c.key for c in load_suite("standard").cases}
    quick = {c.key for c in load_suite("quick").cases}
    assert quick and standard and full
    assert quick <= full and standard <= full
    assert len(quick) < len(standard) < len(full)
    assert load_suite("quick").settings["max_case_time"] > 0


def test_case_seed_is_stable_and_distinct() -> None:
    cases = load_catalog()
    seeds = {c.case: c.seed for c in cases}
    assert len(set(seeds.values())) == len(seeds)
    again = {c.case: c.seed for c in load_catalog()}
    assert seeds == again


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, 'family = "matmul"\n[[case]]\nname = "x\nsize = 3\n')
    with pytest.raises(CatalogError, match=r"bad\.toml: malformed TOML: .*line 3"):
        load_suite(str(path))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[case]]\nname = "x"\nsize = 8', "missing top-level field 'family'"),
        ('family = "nope"\n[[case]]\nname = "x"', "unknown kernel family 'nope'.*matmul"),
        ('family = "matmul"\n[[case]]\nname = "x"\nsize = -8', "'size' must be positive"),
        ('family = "matmul"\n[[case]]\nname = "x"\nsize = 8\nsized = 3', "unknown field 'sized'"),
        ('family = "matmul"\n[[case]]\nname = "x"\nsize = 8\ndtypes = ["fp7"]', "unknown dtype"),
        ('family = "matmul"\n[[case]]\nname = "x"\nn = 8\nk = 8', "exactly one of 'tokens' or 'm'"),
        ('family = "matmul"\n[[case]]\nname = "x"\ntokens = 8\nk = 8', "missing field 'n'"),
    ],
)
def test_bad_family_file_is_rejected_with_field(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message) as info:
        load_suite(str(_write(tmp_path, body)))
    assert "bad.toml" in str(info.value)


def test_suite_selecting_nothing_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[select]]\nfamily = "matmul"\ncases = ["no such case"]\n')
    with pytest.raises(CatalogError, match=r"select\[0\]: selects no case"):
        load_suite(str(path), catalog=catalog_dir())


def test_suite_settings_are_validated(tmp_path: Path) -> None:
    path = _write(tmp_path, '[settings]\nwarmup = -1\n[[select]]\nfamily = "matmul"\n')
    with pytest.raises(CatalogError, match=r"settings\.warmup must be a positive number"):
        load_suite(str(path))


def test_unknown_suite_lists_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"unknown suite 'nope'.*quick"):
        load_suite("nope")


def test_filter_by_kernels_and_dtypes() -> None:
    cases = load_suite("quick").cases
    only = filter_cases(cases, ["matmul"], ["bf16"])
    assert only and all(c.dtype == "bf16" and c.kernel == "matmul" for c in only)
    with pytest.raises(CatalogError, match="unknown kernel family 'conv'"):
        filter_cases(cases, ["conv"], None)

"""The workload catalog: ``kernels/*.toml`` family files and ``kernels/suites/*.toml``.

A *family file* names its family and lists entries, each expanded by the
family into cases (list-valued fields are sweeps)::

    family = "matmul"
    [[case]]
    name = "llama3-8b qkv_proj"
    model = "Llama-3-8B"
    tokens = [128, 2048]
    n = 6144
    k = 4096

A *suite file* selects cases from the catalog by family, case-name globs and
dtypes, and may set measurement defaults::

    description = "small shapes of every family"
    [settings]
    max_case_time = 1.5
    [[select]]
    family = "matmul"
    cases = ["square 256", "llama3-8b * T=128"]
    dtypes = ["fp32", "bf16"]

``--suite FILE.toml`` accepts either kind; a family file runs all its cases.
``family`` may also name a user-defined family: ``"module.path:ATTRIBUTE"``
(module searched next to the catalog file first, then on ``sys.path``) or an
entry point of the group ``accelbench.workloads`` (see
:mod:`accelbench.workloads.user`).
Errors name the file and the field, and TOML syntax errors carry the line.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelbench.errors import CatalogError
from accelbench.limits import SETTING_LIMITS
from accelbench.workloads import get_family, resolve_family
from accelbench.workloads.base import Case, Family, canonical_dtype

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "SETTINGS",
    "Suite",
    "cases_digest",
    "catalog_dir",
    "filter_cases",
    "load_catalog",
    "load_family_file",
    "load_suite",
    "unmatched",
]

#: Settings a suite may set, with their types (CLI flags override them).
SETTINGS: dict[str, type] = {
    "warmup": float,
    "max_case_time": float,
    "target_rel_ci": float,
    "min_samples": int,
    "rounds": int,
}

def catalog_dir() -> Path:
    """The built-in catalog shipped inside the package (``kernels/`` in the repo)."""
    return Path(__file__).resolve().parent.parent / "kernels"


@dataclass
class Suite:
    """A named list of cases plus the measurement settings it asks for."""

    name: str
    description: str
    cases: list[Case]
    settings: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: malformed TOML: {exc}") from None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None


def _family_cases(data: Mapping[str, Any], where: str) -> list[Case]:
    family_name = data.get("family")
    if not isinstance(family_name, str):
        raise CatalogError(f"{where}: missing top-level field 'family' (e.g. family = \"matmul\")")
    for key in data:
        if key not in ("family", "description", "case"):
            raise CatalogError(f"{where}: unknown top-level field {key!r}")
    family = resolve_family(family_name, f"{where}: family", Path(where).parent)
    entries = data.get("case", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CatalogError(f"{where}: 'case' must be an array of tables ([[case]])")
    cases: list[Case] = []
    for i, entry in enumerate(entries):
        cases.extend(_expand(family, family_name, entry, f"{where}: case[{i}]"))
    for case in cases:
        if case.kernel != family.name:
            raise CatalogError(
                f"{where}: family {family.name!r} expanded a case of kernel {case.kernel!r}"
            )
    seen: set[str] = set()
    for case in cases:
        if case.key in seen:
            raise CatalogError(f"{where}: duplicate case {case.case!r} ({case.dtype})")
        seen.add(case.key)
    return cases


def _expand(family: Family, family_name: str, entry: dict[str, Any], where: str) -> list[Case]:
    """``family.expand``; an exception from a (user) family is a catalog error, not a crash."""
    try:
        cases = family.expand(entry, where)
        if not isinstance(cases, list) or not all(isinstance(c, Case) for c in cases):
            raise TypeError(f"expand() returned {type(cases).__name__}, not a list of Case")
        return cases
    except CatalogError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise CatalogError(f"{where}: family {family_name!r}: expand() failed: "
                           f"{type(exc).__name__}: {first}") from None


def load_family_file(path: Path) -> list[Case]:
    """Cases of one family file."""
    return _family_cases(_read_toml(path), str(path))


def load_catalog(directory: Path | None = None) -> list[Case]:
    """All cases of every family file in the catalog directory, in file order."""
    root = directory or catalog_dir()
    cases: list[Case] = []
    for path in sorted(root.glob("*.toml")):
        cases.extend(load_family_file(path))
    return cases


def _settings(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: [settings] must be a table")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = SETTINGS.get(key)
        if kind is None:
            raise CatalogError(
                f"{where}: settings: unknown field {key!r} (allowed: {', '.join(SETTINGS)})"
            )
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or value <= 0):
            raise CatalogError(f"{where}: settings.{key} must be a positive number, "
                               f"not {value!r}")
        if value > SETTING_LIMITS[key]:
            raise CatalogError(f"{where}: settings.{key} must be at most {SETTING_LIMITS[key]:g}")
        out[key] = kind(value)
    return out


def _select(catalog: list[Case], raw: Any, where: str) -> list[Case]:
    if not isinstance(raw, list) or not raw:
        raise CatalogError(f"{where}: a suite needs at least one [[select]] table")
    chosen: list[Case] = []
    seen: set[str] = set()
    for i, sel in enumerate(raw):
        here = f"{where}: select[{i}]"
        if not isinstance(sel, dict) or "family" not in sel:
            raise CatalogError(f"{here}: missing field 'family'")
        for key in sel:
            if key not in ("family", "cases", "dtypes"):
                raise CatalogError(
                    f"{here}: unknown field {key!r} (allowed: family, cases, dtypes)"
                )
        family = str(sel["family"])
        get_family(family, here)
        patterns = sel.get("cases", ["*"])
        try:
            dtypes = {canonical_dtype(str(d)) for d in sel.get("dtypes", [])}
        except ValueError as exc:
            raise CatalogError(f"{here}: dtypes: {exc}") from None
        matched = 0
        for case in catalog:
            if case.kernel != family or (dtypes and case.dtype not in dtypes):
                continue
            if not any(fnmatch.fnmatchcase(case.case, p) for p in patterns):
                continue
            matched += 1
            if case.key not in seen:
                seen.add(case.key)
                chosen.append(case)
        if matched == 0:
            raise CatalogError(f"{here}: selects no case (patterns {patterns})")
    return chosen


def load_suite(name_or_path: str, catalog: Path | None = None) -> Suite:
    """A built-in suite by name (quick, standard, full) or a suite/family TOML file."""
    root = catalog or catalog_dir()
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = root / "suites" / f"{name_or_path}.toml"
        if not path.exists():
            known = sorted(p.stem for p in (root / "suites").glob("*.toml"))
            raise CatalogError(f"unknown suite {name_or_path!r} (known: {', '.join(known)})")
    where = str(path)
    data = _read_toml(path)
    if "family" in data or "case" in data:
        return Suite(path.stem, str(data.get("description", "")), _family_cases(data, where),
                     source=where)
    for key in data:
        if key not in ("description", "settings", "select", "catalog"):
            raise CatalogError(f"{where}: unknown top-level field {key!r}")
    cases = load_catalog(root)
    for extra in data.get("catalog", []):
        cases.extend(load_family_file((path.parent / str(extra)).resolve()))
    return Suite(
        name=path.stem,
        description=str(data.get("description", "")),
        cases=_select(cases, data.get("select"), where),
        settings=_settings(data.get("settings", {}), where),
        source=where,
    )


def filter_cases(
    cases: Iterable[Case], kernels: list[str] | None, dtypes: list[str] | None
) -> list[Case]:
    """Apply ``--kernels`` and ``--dtypes`` to a suite's cases."""
    out = list(cases)
    if kernels:
        for k in kernels:
            get_family(k)
        out = [c for c in out if c.kernel in kernels]
    if dtypes:
        wanted = set(dtypes)
        out = [c for c in out if c.dtype in wanted]
    return out


def unmatched(cases: Iterable[Case], kernels: list[str] | None,
              dtypes: list[str] | None) -> list[str]:
    """The ``--kernels``/``--dtypes`` values that select no case of ``cases`` (for a note)."""
    cases = list(cases)
    missing = [f"--kernels {k}" for k in kernels or [] if not any(c.kernel == k for c in cases)]
    chosen = [c for c in cases if not kernels or c.kernel in kernels]
    missing += [f"--dtypes {d}" for d in dtypes or [] if not any(c.dtype == d for c in chosen)]
    return missing


def cases_digest(cases: Iterable[Case]) -> str:
    """SHA-256 of a resolved case list (identity, shape and options of every case, in order).

    Stored in ``meta.json`` so that ``--resume`` can refuse a suite that now
    resolves to other cases (an edited suite or family file) instead of
    mixing two definitions in one run.
    """
    items = [[c.kernel, c.case, c.dtype, [list(p) for p in c.params],
              [list(o) for o in c.options]] for c in cases]
    text = json.dumps(items, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()

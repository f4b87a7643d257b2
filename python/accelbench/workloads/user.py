"""User-defined kernel families, loaded explicitly when a catalog file names one.

A family file's ``family`` field is one of:

* a built-in family name (``"matmul"``);
* ``"module.path:ATTRIBUTE"`` — the module is searched first in the directory
  of the catalog file that names it, then on ``sys.path``; the attribute is
  the family object (an *instance* providing the :class:`~accelbench.workloads.Family`
  interface: ``name``, ``default_dtypes``, ``expand(entry, where)``,
  ``prepare(case, device)``);
* the name of an entry point of the group ``accelbench.workloads``, declared
  by an installed package (``[project.entry-points."accelbench.workloads"]
  softmax = "my_kernels:FAMILY"``).

Nothing is imported until a catalog asks for it, and nothing registers itself
at import time: loading returns the family and remembers *how* it was loaded
(:func:`loaded_specs`), so that a worker process can load the same families
again from those specs before it runs cases. Every failure is one
:class:`~accelbench.errors.CatalogError` line naming the file and field.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, cast

from accelbench.errors import CatalogError
from accelbench.workloads.base import Family

__all__ = [
    "ENTRY_POINT_GROUP",
    "FamilySpec",
    "check_family",
    "load_family",
    "load_specs",
    "loaded_family",
    "loaded_specs",
]

#: The entry-point group installed packages declare their families in.
ENTRY_POINT_GROUP = "accelbench.workloads"

#: How a family was loaded: (kind, text, base directory); kind is "module" or "entry_point".
FamilySpec = tuple[str, str, str]

_LOADED: dict[str, Family] = {}
_SPECS: dict[str, FamilySpec] = {}


def check_family(obj: Any, label: str, where: str) -> Family:
    """``obj`` if it provides the Family interface; a one-line CatalogError otherwise."""
    if isinstance(obj, type):
        raise CatalogError(
            f"{where}: {label} is a class; name an instance (e.g. FAMILY = {obj.__name__}())"
        )
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise CatalogError(f"{where}: {label} is not a kernel family: no string attribute 'name'")
    dtypes = getattr(obj, "default_dtypes", None)
    if isinstance(dtypes, str) or not isinstance(dtypes, Iterable) or not all(
        isinstance(d, str) for d in dtypes
    ):
        raise CatalogError(
            f"{where}: {label} is not a kernel family: 'default_dtypes' must be a tuple of str"
        )
    for method in ("expand", "prepare"):
        if not callable(getattr(obj, method, None)):
            raise CatalogError(f"{where}: {label} is not a kernel family: no method {method}()")
    return cast(Family, obj)


def _import(module: str, base_dir: str, where: str) -> Any:
    """Import ``module`` with ``base_dir`` searched first (removed from sys.path afterwards)."""
    added = bool(base_dir) and base_dir not in sys.path
    if added:
        sys.path.insert(0, base_dir)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = f" ({exc})" if exc.name != module else ""
        raise CatalogError(
            f"{where}: cannot import module {module!r}{missing}: not found next to the "
            "catalog file nor on sys.path"
        ) from None
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CatalogError(
            f"{where}: importing {module!r} failed: {type(exc).__name__}: {first}"
        ) from None
    finally:
        if added and base_dir in sys.path:
            sys.path.remove(base_dir)


def _from_module(text: str, base_dir: str, where: str) -> Any:
    module, _, attr = text.partition(":")
    if not module or not attr:
        raise CatalogError(f"{where}: {text!r} is not of the form 'module.path:ATTRIBUTE'")
    obj: Any = _import(module, base_dir, where)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CatalogError(f"{where}: module {module!r} has no attribute {attr!r}") from None
    return obj


def _from_entry_point(name: str, where: str) -> Any | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:
                first = str(exc).splitlines()[0] if str(exc) else ""
                raise CatalogError(
                    f"{where}: entry point {name!r} ({ep.value}) failed to load: "
                    f"{type(exc).__name__}: {first}"
                ) from None
    return None


def _remember(family: Family, spec: FamilySpec, builtin: Iterable[str], where: str) -> Family:
    if family.name in builtin:
        raise CatalogError(f"{where}: family name {family.name!r} is taken by a built-in family")
    known = _SPECS.get(family.name)
    if known is not None and known[:2] != spec[:2] and _LOADED[family.name] is not family:
        raise CatalogError(
            f"{where}: family name {family.name!r} is already used by {known[1]!r}"
        )
    _LOADED[family.name] = family
    _SPECS.setdefault(family.name, spec)
    return family


def load_family(text: str, where: str, base_dir: str | Path, builtin: Iterable[str] = ()) -> (
    Family | None
):
    """Load a user family from ``module:ATTR`` or an entry-point name; None if no such entry point.

    ``where`` prefixes errors (``"kernels/x.toml: family"``); ``base_dir`` is the
    catalog file's directory, searched first for the module.
    """
    base = str(Path(base_dir).resolve()) if str(base_dir) else ""
    if ":" in text:
        obj = _from_module(text, base, where)
        spec: FamilySpec = ("module", text, base)
    else:
        obj = _from_entry_point(text, where)
        if obj is None:
            return None
        spec = ("entry_point", text, "")
    family = check_family(obj, repr(text), where)
    return _remember(family, spec, builtin, where)


def loaded_family(name: str) -> Family | None:
    """A user family already loaded under ``name`` (its ``.name``), if any."""
    return _LOADED.get(name)


def loaded_names() -> list[str]:
    return sorted(_LOADED)


def loaded_specs() -> list[FamilySpec]:
    """How to load again every user family loaded so far (sent to worker processes)."""
    return list(_SPECS.values())


def load_specs(specs: Iterable[FamilySpec], builtin: Iterable[str] = ()) -> None:
    """Load families from :func:`loaded_specs` output (in a worker process)."""
    names = tuple(builtin)
    for kind, text, base in specs:
        where = f"family {text!r}"
        if kind == "module":
            load_family(text, where, base, names)
        elif load_family(text, where, "", names) is None:
            raise CatalogError(f"{where}: no entry point {text!r} in group {ENTRY_POINT_GROUP}")

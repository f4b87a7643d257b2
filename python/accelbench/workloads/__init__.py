"""Kernel families. Built-in families are listed here explicitly (no import-time registry).

User-defined families are loaded when a catalog file names them
(:func:`resolve_family`, :mod:`accelbench.workloads.user`).
"""

from __future__ import annotations

from pathlib import Path

from accelbench.errors import CatalogError
from accelbench.workloads import (
    attention,
    blocks,
    collectives,
    launch,
    matmul,
    memory,
    moe,
    quantized,
    user,
)
from accelbench.workloads.base import Case, Family, Prepared

__all__ = ["FAMILIES", "Case", "Family", "Prepared", "get_family", "resolve_family"]

#: Built-in families by the name used in catalogs and ``--kernels``.
FAMILIES: dict[str, Family] = {
    matmul.FAMILY.name: matmul.FAMILY,
    collectives.FAMILY.name: collectives.FAMILY,
    attention.FAMILY.name: attention.FAMILY,
    memory.FAMILY.name: memory.FAMILY,
    launch.FAMILY.name: launch.FAMILY,
    moe.FAMILY.name: moe.FAMILY,
    quantized.FAMILY.name: quantized.FAMILY,
    blocks.FAMILY.name: blocks.FAMILY,
}


def get_family(name: str, where: str = "") -> Family:
    """The family called ``name``; a clear error naming the known ones otherwise."""
    family = FAMILIES.get(name) or user.loaded_family(name)
    if family is None:
        prefix = f"{where}: " if where else ""
        known = ", ".join(sorted(FAMILIES) + user.loaded_names())
        raise CatalogError(f"{prefix}unknown kernel family {name!r} (known: {known})")
    return family


def resolve_family(text: str, where: str, base_dir: str | Path) -> Family:
    """The family a catalog file's ``family`` field names: built-in, ``module:ATTR`` or entry point.

    User families are loaded here, explicitly, and only here (see
    :mod:`accelbench.workloads.user`).
    """
    if text in FAMILIES:
        return FAMILIES[text]
    family = user.load_family(text, where, base_dir, FAMILIES)
    if family is None:
        raise CatalogError(
            f"{where}: unknown kernel family {text!r} (known: {', '.join(sorted(FAMILIES))}; "
            f"or 'module.path:ATTRIBUTE', or an entry point of group {user.ENTRY_POINT_GROUP!r})"
        )
    return family

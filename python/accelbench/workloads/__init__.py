"""Kernel families. Built-in families are listed here explicitly (no import-time registry)."""

from __future__ import annotations

from accelbench.errors import CatalogError
from accelbench.workloads import attention, launch, matmul, memory
from accelbench.workloads.base import Case, Family, Prepared

__all__ = ["FAMILIES", "Case", "Family", "Prepared", "get_family"]

#: Built-in families by the name used in catalogs and ``--kernels``.
FAMILIES: dict[str, Family] = {
    matmul.FAMILY.name: matmul.FAMILY,
    attention.FAMILY.name: attention.FAMILY,
    memory.FAMILY.name: memory.FAMILY,
    launch.FAMILY.name: launch.FAMILY,
}


def get_family(name: str, where: str = "") -> Family:
    """The family called ``name``; a clear error naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        prefix = f"{where}: " if where else ""
        raise CatalogError(
            f"{prefix}unknown kernel family {name!r} (known: {', '.join(sorted(FAMILIES))})"
        ) from None

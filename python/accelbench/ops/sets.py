"""Named operator sets (``--set llm``) and ``--ops`` globs; no torch.

A set is a catalog file ``kernels/ops/NAME.toml``::

    description = "..."
    [groups]
    matmul = ["matmul", "mm", "bmm", ...]     # OpInfo full names
    norms = ["nn.functional.layer_norm", ...]

The groups only document why an operator is there; the set is their union.
``all`` is every operator of op_db.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from accelbench.errors import CatalogError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ALL", "OpSet", "load_set", "match_globs", "set_names", "sets_dir"]

#: The name of the set that is every operator of op_db.
ALL = "all"


def sets_dir() -> Path:
    """``kernels/ops`` of the built-in catalog."""
    return Path(__file__).resolve().parent.parent / "kernels" / "ops"


@dataclass(frozen=True)
class OpSet:
    """A named set of OpInfo operator names, grouped by purpose."""

    name: str
    description: str
    groups: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def ops(self) -> tuple[str, ...]:
        """Every operator of the set, in catalog order, without repeats."""
        return tuple(dict.fromkeys(op for _, ops in self.groups for op in ops))

    def group_of(self, op: str) -> str | None:
        return next((g for g, ops in self.groups if op in ops), None)


def set_names(root: Path | None = None) -> list[str]:
    """Names of the sets in the catalog, plus ``all``."""
    folder = root or sets_dir()
    return [*sorted(p.stem for p in folder.glob("*.toml")), ALL]


def load_set(name: str, root: Path | None = None) -> OpSet:
    """The set ``name`` (a catalog name or a path to a TOML file); CatalogError if malformed."""
    folder = root or sets_dir()
    path = Path(name) if name.endswith(".toml") else folder / f"{name}.toml"
    if not path.is_file():
        raise CatalogError(f"--set {name}: no such operator set (known: "
                           f"{', '.join(set_names(folder))})")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: malformed TOML: {exc}") from None
    groups = data.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise CatalogError(f"{path}: missing table 'groups' (group = [operator names])")
    for key in data:
        if key not in ("description", "groups"):
            raise CatalogError(f"{path}: unknown top-level field {key!r}")
    parsed = []
    for group, ops in groups.items():
        if not isinstance(ops, list) or not all(isinstance(o, str) and o for o in ops):
            raise CatalogError(f"{path}: groups.{group} must be a list of operator names")
        parsed.append((str(group), tuple(ops)))
    return OpSet(path.stem, str(data.get("description", "")), tuple(parsed))


def match_globs(names: Iterable[str], globs: Sequence[str]) -> list[str]:
    """Names matching any glob (``add``, ``nn.functional.*``), in the order of ``names``."""
    return [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]

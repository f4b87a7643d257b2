"""The link tables and summary of a fleet run with ``--links`` (no torch).

* Within a node: a matrix of GB/s, sending rank down, receiving rank across,
  flagged links in red (every node when there are few, else the nodes with a
  flagged link).
* Across nodes: each rail's ring and the segments its bisection measured,
  with their ratio to the other half and the named link.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from accelbench.results.schema import as_float

__all__ = ["link_tables", "links_summary"]

#: Above this many nodes only the matrices of nodes with a flagged link are shown.
ALL_MATRICES_NODES = 4


def _flagged(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _gbps(value: Any) -> str:
    num = as_float(value)
    return "-" if num is None else f"{num:.3g}"


def _ratio(row: pd.Series) -> str:
    ratio, lo, hi = (as_float(row.get(c)) for c in ("ratio", "ratio_ci_low", "ratio_ci_high"))
    if ratio is None:
        return "-"
    return f"{ratio:.2f} [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else \
        f"{ratio:.2f}"


def _matrix(rows: pd.DataFrame, node: str) -> Table:
    ranks = sorted(set(rows["src"].astype(int)) | set(rows["dst"].astype(int)))
    table = Table(title=f"links within {node}: GB/s (send rank down, receive rank across)")
    table.add_column("src\\dst", justify="right")
    for r in ranks:
        table.add_column(str(r), justify="right")
    cells = {(int(r["src"]), int(r["dst"])): r for _, r in rows.iterrows()}
    for src in ranks:
        line = []
        for dst in ranks:
            row = cells.get((src, dst))
            if row is None:
                line.append("" if src == dst else "-")
                continue
            text = _gbps(row["gbps"])
            line.append(f"[red]{text} {row['flag']}[/red]" if _flagged(row["flag"]) else text)
        table.add_row(str(src), *line)
    return table


def _rings(rows: pd.DataFrame) -> Table:
    table = Table(title="links across nodes: rings, then bisection of the slow half")
    for col in ("kind", "rail", "ranks", "GB/s", "ratio to other half [CI]", "flag"):
        table.add_column(col, justify="right" if col in ("rail", "GB/s") else "left")
    for _, row in rows.iterrows():
        flag = row["flag"] if _flagged(row["flag"]) else ""
        table.add_row(str(row["kind"]), str(row["rail"]), str(row["chain"]), _gbps(row["gbps"]),
                      _ratio(row), f"[red]{flag}[/red]" if flag else "")
    return table


def link_tables(frame: pd.DataFrame) -> list[Table]:
    """The intra-node matrices and the ring/bisection table of a links frame."""
    tables = []
    intra = frame[frame["kind"] == "intra"]
    nodes = list(dict.fromkeys(intra["src_node"]))
    for node in nodes:
        rows = intra[intra["src_node"] == node]
        if len(nodes) <= ALL_MATRICES_NODES or rows["flag"].map(_flagged).any():
            tables.append(_matrix(rows, str(node)))
    across = frame[frame["kind"] != "intra"]
    if len(across):
        tables.append(_rings(across))
    return tables


def links_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """The ``links`` part of ``fleet.json``: what was measured and every flagged link."""
    flagged = []
    for _, row in frame[frame["flag"].map(_flagged)].iterrows():
        flagged.append({
            "flag": str(row["flag"]), "kind": str(row["kind"]), "chain": str(row["chain"]),
            "src": None if pd.isna(row["src"]) else int(row["src"]),
            "dst": None if pd.isna(row["dst"]) else int(row["dst"]),
            "src_node": None if pd.isna(row["src_node"]) else str(row["src_node"]),
            "dst_node": None if pd.isna(row["dst_node"]) else str(row["dst_node"]),
            "rail": None if pd.isna(row["rail"]) else int(row["rail"]),
            "gbps": as_float(row["gbps"]), "ratio": as_float(row["ratio"]),
            "ci": [as_float(row["ratio_ci_low"]), as_float(row["ratio_ci_high"])],
            "detail": None if pd.isna(row["detail"]) else str(row["detail"]),
        })
    kinds = frame["kind"].value_counts().to_dict()
    return {"measured": {str(k): int(v) for k, v in kinds.items()}, "flagged": flagged}

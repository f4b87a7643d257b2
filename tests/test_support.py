"""The support matrix: counts of cases per device and status."""

from __future__ import annotations

import pandas as pd
from rich.console import Console

import accelbench
from accelbench.report.tables import support_table
from accelbench.results import STATUSES, results_frame


def _frame() -> pd.DataFrame:
    rows = [
        {"device": "cpu", "kernel": "matmul", "status": "ok"},
        {"device": "cpu", "kernel": "matmul", "status": "ok"},
        {"device": "cpu", "kernel": "attention", "status": "unsupported"},
        {"device": "cuda:0", "kernel": "matmul", "status": "crash"},
        {"device": "cuda:0", "kernel": "matmul", "status": "timeout"},
        {"device": "cuda:0", "kernel": "attention", "status": "mismatch"},
    ]
    return results_frame(rows)


def test_support_matrix_counts_statuses_per_device() -> None:
    matrix = accelbench.support_matrix(_frame())
    assert list(matrix.columns) == ["total", *STATUSES]
    assert matrix.loc["cpu"].to_dict() == {"total": 3, "ok": 2, "unsupported": 1, "error": 0,
                                           "crash": 0, "timeout": 0, "mismatch": 0,
                                           "compile_error": 0}
    assert matrix.loc["cuda:0", "crash"] == 1 and matrix.loc["cuda:0", "mismatch"] == 1
    assert (matrix["total"] == matrix[list(STATUSES)].sum(axis=1)).all()


def test_support_matrix_by_device_and_kernel_and_table() -> None:
    matrix = accelbench.support_matrix(_frame(), by=("device", "kernel"))
    assert matrix.loc[("cuda:0", "matmul"), "total"] == 2
    assert matrix.loc[("cpu", "attention"), "unsupported"] == 1
    console = Console(width=120, record=True)
    console.print(support_table(matrix))
    text = console.export_text()
    assert "unsupported" in text and "cuda:0" in text and "attention" in text


def test_support_matrix_of_empty_frame_has_the_columns() -> None:
    matrix = accelbench.support_matrix(results_frame([]))
    assert matrix.empty and list(matrix.columns) == ["total", *STATUSES]

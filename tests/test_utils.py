"""Shared helpers of ``biomedai.utils``: reading a CSV table back."""
from __future__ import annotations

from pathlib import Path

import pytest

from biomedai.errors import InvalidInputError
from biomedai.utils import read_csv_rows, write_csv_atomic


def test_read_csv_rows_gives_back_what_was_written(tmp_path: Path) -> None:
    rows = [{"case": "a", "volume_ml": 1.5}, {"case": "b", "volume_ml": 0.25}]
    path = write_csv_atomic(tmp_path / "t.csv", rows)
    assert read_csv_rows(path, required=["case", "volume_ml"]) == [{"case": "a", "volume_ml": "1.5"},
                                                                   {"case": "b", "volume_ml": "0.25"}]


def test_read_csv_rows_drops_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("case,n\r\nx,3\r\n".encode("utf-8-sig"))
    assert read_csv_rows(path, required=["case"]) == [{"case": "x", "n": "3"}]


def test_read_csv_rows_names_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not found") as err:
        read_csv_rows(tmp_path / "absent.csv")
    assert err.value.path == tmp_path / "absent.csv"
    path = write_csv_atomic(tmp_path / "t.csv", [{"case": "a"}])
    with pytest.raises(InvalidInputError, match="lacks the column.*volume_ml"):
        read_csv_rows(path, required=["case", "volume_ml"])
    assert read_csv_rows(write_csv_atomic(tmp_path / "empty.csv", [], columns=["case"]), ["case"]) == []

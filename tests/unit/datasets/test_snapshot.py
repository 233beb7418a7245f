"""Reading a CSV snapshot: a ragged row is named by its data row, once, with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskops.datasets.snapshot import load_snapshot, ragged_rows
from riskops.errors import DataSchemaError

HEADER = "age,income,purpose,label\n"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def _refused(path: Path) -> DataSchemaError:
    with pytest.raises(DataSchemaError, match="number of fields differs") as caught:
        load_snapshot(path)
    return caught.value


def test_a_cut_short_row_is_one_problem_with_its_data_row(tmp_path: Path) -> None:
    error = _refused(_write(tmp_path, "30,100,car,good\n41,200\n\n52,300,tv,bad\n"))
    assert [str(p) for p in error.problems] == [
        "row 2: 2 field(s) where the header has 4; the row is cut short"
    ]
    assert error.hint is not None
    assert "Complete cut-short rows" in error.hint


def test_a_row_with_an_extra_field_is_named_not_a_tokenizer_line(tmp_path: Path) -> None:
    error = _refused(_write(tmp_path, "30,100,car,good\n41,200,radio, tv,bad\n"))
    assert [p.location for p in error.problems] == ["row 2"]
    assert "a value holding a comma is probably not quoted" in error.problems[0].message
    assert error.hint is not None
    assert 'quote a value that holds a comma ("Smith, J")' in error.hint


def test_a_long_first_row_is_not_taken_as_an_index(tmp_path: Path) -> None:
    # pandas alone would read the first column as the index and shift every value.
    error = _refused(_write(tmp_path, "30,100,car,good,x\n41,200,tv,bad\n"))
    assert [p.location for p in error.problems] == ["row 1"]


def test_many_ragged_rows_are_listed_up_to_a_few_then_counted(tmp_path: Path) -> None:
    error = _refused(_write(tmp_path, "30,100,car,good\n" + "41,200\n" * 8))
    assert len(error.problems) == 6
    assert str(error.problems[-1]) == "more rows: 3 more row(s) like these"


def test_quoted_newlines_and_empty_last_values_are_fine(tmp_path: Path) -> None:
    path = _write(tmp_path, '30,100,"car\nused",good\n41,200,tv,\n')
    assert ragged_rows(path) == (4, [])
    snapshot = load_snapshot(path)
    assert snapshot.rows == 2
    assert snapshot.frame.loc[0, "purpose"] == "car\nused"

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from riskops.documents.records import cite


def _ids(text: str) -> set[int]:
    found: set[int] = set()
    for low, high in re.findall(r"#(\d+)(?:–#(\d+))?", text):
        found.update(range(int(low), int(high or low) + 1))
    return found


@given(st.sets(st.integers(min_value=1, max_value=200), min_size=1, max_size=40))
def test_a_citation_names_exactly_the_cited_rows(ids: set[int]) -> None:
    text = cite("gate_results", ids)
    assert text.startswith("gate_results #")
    assert _ids(text) == ids


def test_contiguous_rows_are_cited_as_a_range() -> None:
    assert cite("gate_results", [9, 7, 8, 12]) == "gate_results #7–#9, #12"
    assert cite("model_versions of m", [1, 2], mark="v") == "model_versions of m v1–v2"
    assert cite("approvals", []) == ""

"""The shipped subset of simulated card transactions: its published digest, and the script
that rebuilds it byte for byte from the full file in shared/data."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from riskops.datasets.snapshot import file_sha256
from tests.conftest import REPO, unavailable

FOLDER = REPO / "data" / "simulated_card_transactions"
SHA256 = "3e0f50d63e2e400eb69d01c133178294b813e3619e46456f9a5edb4634bf3109"
# The full file is not in the repository: it is read from the shared data folder beside the
# checkout, or from RISKOPS_SHARED_DATA when the checkout lives elsewhere.
SHARED = Path(os.environ.get("RISKOPS_SHARED_DATA") or REPO.parent / "shared" / "data")
FULL = SHARED / "simulated_card_transactions" / "transactions_2018-04-01_to_2018-06-30.csv.gz"


def test_the_subset_is_the_published_sha256() -> None:
    assert file_sha256(FOLDER / "transactions_subset.csv.gz") == f"sha256:{SHA256}"
    assert SHA256 in (FOLDER / "README.md").read_text(encoding="utf-8")


def test_make_subset_rebuilds_it_byte_for_byte(tmp_path: Path) -> None:
    if not FULL.is_file():
        unavailable(f"the full simulated file is not at {FULL}; set RISKOPS_SHARED_DATA")
    spec = importlib.util.spec_from_file_location("make_subset", FOLDER / "make_subset.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.make_subset(FULL, tmp_path / "subset.csv.gz") == SHA256

"""Rebuild ``transactions_subset.csv.gz`` from the full simulated file in ``shared/data``.

Every transaction of a seeded random sample of customers is kept, whole histories and all
columns, in the original time order; the gzip header carries no name or time, so the same
input gives the same bytes (the sha256 in the README)::

    python data/simulated_card_transactions/make_subset.py \
        ../shared/data/simulated_card_transactions/transactions_2018-04-01_to_2018-06-30.csv.gz
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

CUSTOMERS = 700
SEED = 20261207
OUT = Path(__file__).with_name("transactions_subset.csv.gz")


def make_subset(source: Path, out: Path = OUT, customers: int = CUSTOMERS, seed: int = SEED) -> str:
    """Write the subset of ``source`` to ``out`` and return its sha256."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    ids = np.sort(frame["CUSTOMER_ID"].astype("int64").unique())
    chosen = np.random.default_rng(seed).choice(ids, size=customers, replace=False)
    kept = frame[frame["CUSTOMER_ID"].astype("int64").isin(chosen)]
    text = kept.to_csv(index=False, lineterminator="\n").encode()
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(text)
    out.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path, help="the full transactions_….csv.gz")
    args = parser.parse_args()
    print(make_subset(args.source))


if __name__ == "__main__":
    main()

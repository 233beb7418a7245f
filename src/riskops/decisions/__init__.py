"""Decisions: the durable record of every decision a model made.

- :mod:`~riskops.decisions.records` — what the service hands to the log and what is read back,
  and the leaf hash of a stored decision;
- :mod:`~riskops.decisions.wal` — the fsync'd write-ahead log with group commit;
- :mod:`~riskops.decisions.log` — the decision log of one server process (append, read, erase);
- :mod:`~riskops.decisions.flusher` — moves the WAL into the store, a sealed batch at a time;
- :mod:`~riskops.decisions.sealing` and :mod:`~riskops.decisions.merkle` — batches sealed by a
  Merkle root in the audit chain, and their verification;
- :mod:`~riskops.decisions.reading` and :mod:`~riskops.decisions.replay` — reading a decision
  back and re-deciding it from its stored record.

Like :mod:`riskops.scoring`, this package is on the hot path: it imports no pandas,
matplotlib, scikit-learn or MLflow.
"""

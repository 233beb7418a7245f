"""Batch scoring: a Parquet or CSV file of subjects scored to Parquet with the serving core.

:func:`riskops.batch.local.score_file` is the entry point (the CLI's ``riskops batch score``
and a Prefect flow call it): the version must be one that may serve, its artifact must have
the approved digest, and the run is sealed in the audit chain. The local engine
(:mod:`riskops.batch.local`) scores on every core of this machine; the Spark engine
(:mod:`riskops.batch.spark`, the ``spark`` extra) runs the same per-batch core
(:func:`riskops.batch.core.score_batch`) in ``mapInPandas``. See docs/batch-scoring.md.
"""

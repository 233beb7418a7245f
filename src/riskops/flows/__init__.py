"""The pipelines as Prefect flows: train → validate, batch scoring and the monitoring run, with retries,
JSON results and a record of every step that failed; and their scheduled deployments.

A shell over the services, like the CLI: each task opens the workspace, calls one service
function (:func:`riskops.training.pipeline.train`, :func:`riskops.validation.run.validate`,
:func:`riskops.monitoring.runs.run_monitoring`, :func:`riskops.batch.local.score_file`) and returns its result as a small dict. Nothing
in here is new logic, and no domain package imports it.

Needs the ``prefect`` extra; importing this package without it raises MissingExtraError saying
``pip install 'riskops[prefect]'``. See docs/flows.md.

Example::

    from riskops.flows.pipelines import train_and_validate_flow

    result = train_and_validate_flow("models/credit_scoring/model.yaml", ".riskops",
                                     trained_by="alice", validated_by="victor")
    result["model"], result["validation"]["state"]     # 'credit-scoring@1', 'validated'
"""

from riskops.errors import MissingExtraError

try:
    import prefect  # noqa: F401  # the extra this package needs; said here, once
except ModuleNotFoundError as exc:
    if exc.name != "prefect":
        raise
    raise MissingExtraError(
        "Running riskops pipelines as Prefect flows", "prefect", "prefect"
    ) from None

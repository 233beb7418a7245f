"""Scoring: the pure decision core shared by serving and batch scoring.

:class:`~riskops.scoring.features.FeatureEncoder` validates and encodes a request without
pandas, :class:`~riskops.scoring.policy.DecisionPolicy` turns a score into an outcome,
:mod:`riskops.scoring.reasons` names the principal reasons of an adverse decision, and
:class:`~riskops.scoring.scorer.Scorer` puts them together for one loaded model version. It
imports no pandas, matplotlib, scikit-learn or MLflow.
"""

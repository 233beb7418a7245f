"""Serving: the decision path from one subject's features to a score, a decision from the spec's
policy and the reasons behind it.

The scoring core is pure and in-process: :class:`~riskops.serving.features.FeatureEncoder`
validates and encodes a request without pandas, :class:`~riskops.serving.policy.DecisionPolicy`
turns a score into approve / refer / decline, :mod:`riskops.serving.reasons` names the principal
reasons of an adverse decision, and :class:`~riskops.serving.scorer.Scorer` puts them together
for one loaded model version. This package never imports training, validation or documents, so
the scoring image stays lean.
"""

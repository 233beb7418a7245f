"""Serving: the HTTP scoring service over :mod:`riskops.scoring` and :mod:`riskops.decisions`
— requests, API keys, routing refresh and metrics. It never imports training, validation or
documents, so the scoring image stays lean.
"""

"""Monitoring of deployed versions: drift, data quality, the decision layer, training–serving
skew and performance, from window aggregates or from files; runs, alerts and their runbooks."""

"""Validation: gates computed on held-out data, stored as evidence, deciding validated/rejected."""

"""Datasets as the spec declares them: loading a snapshot, checking its schema, encoding
features, and the deterministic train/validation split."""

"""Adapters that alone know a third-party library's quirks (one module per library)."""

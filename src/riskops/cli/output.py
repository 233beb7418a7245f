"""Shared output helpers for the commands: JSON for scripts, rich tables for people, progress
lines on stderr."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from riskops.errors import InputError

# Piped output (CI logs, files) gets wide tables instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def progress(message: str) -> None:
    err_console.print(f"[dim]·[/dim] {message}")


def parse_time(text: str, *, option: str) -> datetime:
    """An ISO 8601 time (``2026-11-29T14:03:07Z``, ``2026-11-29 14:03``, ``2026-11-29``);
    without a zone it is UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{option} {text!r} is not a time.",
            hint="Use ISO 8601, e.g. 2026-11-29T14:03:07Z or '2026-11-29 14:03' (UTC).",
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def short(digest: str | None, length: int = 12) -> str:
    if not digest:
        return "-"
    return digest.removeprefix("sha256:")[:length]

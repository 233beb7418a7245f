"""What the root command hands to every sub-command: the workspace, opened on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from riskops.config import Settings, load_settings
from riskops.context import Context, open_context


@dataclass
class State:
    home: Path | None = None
    _context: Context | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        return load_settings(home=self.home)

    def context(self) -> Context:
        if self._context is None:
            self._context = open_context(self.settings())
        return self._context

"""``kmimg compress-report`` (issue 4): not built yet; registers nothing."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the command to ``app`` (nothing until issue 4 lands)."""

"""Checks of option values that Typer's per-option bounds cannot make, with no Typer import:
the one-file ``kmimg quantize`` line read by :mod:`kmimg.cli.direct` runs them too."""

from __future__ import annotations

from typing import Any, TypeVar

from kmimg.errors import UsageError

Options = TypeVar("Options")


def checked(options: type[Options], **values: Any) -> Options:
    """``options(**values)``, its ``ValueError`` (values that contradict each other, which Typer's
    per-option bounds cannot see) turned into a usage error, exit 2."""
    try:
        return options(**values)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def dither_level(dither: float | None, no_dither: bool) -> float:
    """The error-diffusion level of ``--dither [LEVEL]`` / ``--no-dither`` (0 when neither)."""
    if dither is not None and no_dither:
        raise UsageError("give --dither or --no-dither, not both")
    level = 0.0 if dither is None else dither
    if not 0.0 <= level <= 1.0:
        raise UsageError(f"--dither LEVEL must be between 0 and 1, got {dither:g}")
    return level

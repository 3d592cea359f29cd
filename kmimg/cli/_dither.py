"""``--dither [LEVEL]`` / ``--no-dither`` of ``kmimg quantize``: the declarations and the optional
value (see docs/dithering.md); the check of the level is :func:`kmimg.cli.checks.dither_level`."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand

from kmimg.options import DEFAULT_DITHER_LEVEL

DitherLevel = Annotated[
    Optional[float],  # noqa: UP045 - Typer resolves annotations at run time
    typer.Option(
        "--dither",
        help="Dither (error diffusion) at LEVEL 0-1; a bare --dither means 1. Off by default.",
        metavar="[LEVEL]",
        show_default=False,
    ),
]
NoDither = Annotated[bool, typer.Option("--no-dither", help="No dithering (the default).")]


class BareDither(TyperCommand):
    """``--dither`` takes an optional LEVEL: a bare ``--dither`` (not followed by a number)
    becomes ``--dither=1``. Click options have either a value or none, so the arguments are
    rewritten before parsing (up to a ``--``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_bare_dither(args))


def expand_bare_dither(args: list[str]) -> list[str]:
    """``args`` with each ``--dither`` that is not followed by a number made ``--dither=1``."""
    out = list(args)
    for i, token in enumerate(out):
        if token == "--":
            break
        if token == "--dither" and not (i + 1 < len(out) and _is_number(out[i + 1])):
            out[i] = f"--dither={DEFAULT_DITHER_LEVEL:g}"
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True

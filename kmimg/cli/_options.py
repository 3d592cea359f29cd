"""Typer declarations of the options several commands share, so that each command lists them in
one line and every command spells a shared option the same way. Defaults and bounds come from
:mod:`kmimg.options`, where they are said once."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from kmimg.options import MAX_SEED
from kmimg.types import ColorSpace

# Typer needs Optional[...] at run time on Python 3.9 syntax levels; keep it for clarity.
Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Image files or folders of images; '-' reads one image from standard input.",
        metavar="INPUT",
        show_default=False,
    ),
]
Recursive = Annotated[
    bool, typer.Option("--recursive", "-r", help="Descend into sub-folders of folder inputs.")
]
OutDir = Annotated[
    Optional[Path],  # noqa: UP045 - Typer resolves annotations at run time
    typer.Option(
        "--out-dir",
        help="Write outputs into this folder (created if needed), mirroring sub-folders of folder inputs.",
        file_okay=False,
        show_default=False,
    ),
]
Force = Annotated[
    bool, typer.Option("--force", "-f", help="Overwrite existing output files (never the input).")
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed", help="Random seed: the same input and seed give the same bytes.", min=0, max=MAX_SEED
    ),
]
JsonDest = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--json", help="Write a JSON summary to this file, or '-' for standard output.", metavar="PATH|-"
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table; errors only.")]
Jobs = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--jobs",
        "-j",
        help="Worker processes for a batch [default: all cores]. Output is identical for any value.",
        min=1,
        show_default=False,
    ),
]
Scheduler = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--scheduler",
        help="Run the batch on the Dask cluster at this address (tcp://HOST:8786, tls://..., "
        "gateway://PROXY/NAME) [default: $DASK_SCHEDULER_ADDRESS unless --jobs is given]; "
        "outputs are written here, byte-identical to a local run. Needs pip install 'kmimg[dask]'; "
        "see docs/cluster.md.",
        metavar="ADDRESS",
        show_default=False,
    ),
]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first input that fails.")]
MaxPixels = Annotated[
    int,
    typer.Option(
        "--max-pixels",
        help="Refuse images with more pixels than this (checked from the header, before decoding).",
        min=1,
    ),
]
Debug = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks of internal errors (for bug reports).", hidden=False)
]
AllowTruncated = Annotated[
    bool,
    typer.Option(
        "--allow-truncated",
        help="Decode truncated or damaged files as far as possible (missing pixels filled in), "
        "with a warning, instead of failing them.",
    ),
]


Keep = Annotated[
    Optional[str],  # noqa: UP045 - Typer resolves annotations at run time
    typer.Option(
        "--keep",
        help="Colours that must be palette entries, bit-exact: #rrggbb[,#rrggbb...] (they count towards K).",
        metavar="COLOR[,COLOR...]",
        show_default=False,
    ),
]
QuantizeSpace = Annotated[
    ColorSpace,
    typer.Option("--space", help="Fit and map colours in RGB (best PSNR) or CIELAB (best ΔE)."),
]


def checked_by(module: str, parser: str) -> Callable[[str | None], str | None]:
    """A Typer callback that validates an option's text with ``module.parser`` (imported only
    when the option is used) and turns its ``ValueError`` into a usage error (exit 2); an
    option not given (``None``) is left alone."""

    def check(text: str | None) -> str | None:
        if text is None:
            return None
        parse = getattr(importlib.import_module(module), parser)
        try:
            parse(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        return text

    return check

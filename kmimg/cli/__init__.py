"""The ``kmimg`` command line: a Typer app whose commands live one per module in this package.

Commands parse options, call the pure core once per input, write outputs through
:mod:`kmimg.io` and report through :class:`kmimg.cli._common.Reporter`.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kmimg import __version__

app = typer.Typer(
    name="kmimg",
    help="k-means image processing: colour quantization, segmentation, compression reports, grouping.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain Click help and usage errors: greppable, no box drawing in scripts' logs.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"kmimg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],  # noqa: UP045 - Typer resolves annotations at run time
        typer.Option("--version", help="Show the version and exit.", callback=_show_version, is_eager=True),
    ] = None,
) -> None:
    """k-means image processing: colour quantization, segmentation, compression reports, grouping."""


def _register() -> None:
    # One module per command; each adds itself to the app (its heavy imports stay inside).
    from kmimg.cli import classify, compress_report, quantize, segment

    for command in (quantize, segment, compress_report, classify):
        command.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="kmimg")

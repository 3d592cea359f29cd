"""The ``kmimg`` command line: a Typer app whose commands live one per module in this package.

Commands parse options, call the pure core once per input, write outputs through
:mod:`kmimg.io` and report through :class:`kmimg.cli._common.Reporter`.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from kmimg import __version__

# Click's exception classes, found from a public one: Typer >= 0.20 vendors Click privately.
_USAGE_ERROR: type[Exception] = next(
    (c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"), typer.BadParameter
)
_CLICK_ERROR: type[Exception] = next(
    (c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"), _USAGE_ERROR
)


class _OneLineErrors(TyperGroup):
    """Click's usage errors (unknown option, out-of-range value, missing argument) as one line
    on stderr, ``kmimg: error: <message> (see 'kmimg <command> -h')``, exit 2, like kmimg's own
    errors, instead of Click's three-line usage block."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True) or len(args) > 3:  # a caller handling errors
            return super().main(*args, **kwargs)
        try:
            code = super().main(*args, **{**kwargs, "standalone_mode": False})
        except _USAGE_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``kmimg``: the help, as Click does
                exc.show()  # type: ignore[attr-defined]
                sys.exit(2)
            typer.echo(f"kmimg: error: {_first_line(exc)} (see '{self._help_for(args, kwargs)}')", err=True)
            sys.exit(2)
        except _CLICK_ERROR as exc:
            typer.echo(f"kmimg: error: {_first_line(exc)}", err=True)
            sys.exit(int(getattr(exc, "exit_code", 1)))
        except typer.Abort:
            typer.echo("kmimg: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def _help_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """``kmimg <command> -h`` for the command on the command line, else ``kmimg -h``
        (Click does not attach a context to every usage error, e.g. ``-k`` without a value)."""
        argv = kwargs.get("args") or (args[0] if args else None) or sys.argv[1:]
        command = next((str(word) for word in argv if not str(word).startswith("-")), None)
        return f"kmimg {command} -h" if command in self.commands else "kmimg -h"


def _first_line(exc: Exception) -> str:
    message = str(getattr(exc, "format_message", lambda: str(exc))())
    return " ".join(message.split()).rstrip(".")


app = typer.Typer(
    cls=_OneLineErrors,
    name="kmimg",
    help="k-means image processing: colour quantization, segmentation, compression reports, grouping.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain Click help: greppable, no box drawing in scripts' logs.
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
    from kmimg.cli import classify, compress_report, palette, quantize, segment

    for command in (quantize, segment, compress_report, classify, palette):
        command.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="kmimg")

"""The ``kmimg`` Typer app: the root group with kmimg's one-line usage errors, and each
command registered from its module in this package (only the one named on the command line)."""

from __future__ import annotations

import importlib
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
            standalone = kwargs.get("standalone_mode", args[3] if len(args) > 3 else True)
            try:
                return super().main(*args, **kwargs)
            except SystemExit as exc:  # a command's exit code (kmimg.cli.frame), returned as Click does
                if standalone:
                    raise
                return exc.code
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


def _new_app() -> typer.Typer:
    """The root Typer app with no commands yet (see :func:`build_app`)."""
    root = typer.Typer(
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
    root.callback()(_root)
    return root


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"kmimg {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        Optional[bool],  # noqa: UP045 - Typer resolves annotations at run time
        typer.Option("--version", help="Show the version and exit.", callback=_show_version, is_eager=True),
    ] = None,
) -> None:
    """k-means image processing: colour quantization, segmentation, compression reports, grouping."""


#: Each command's module in this package, in the order ``kmimg --help`` lists them. A module's
#: ``register(app)`` adds its command; its heavy imports stay inside the command.
COMMANDS = {
    "quantize": "quantize",
    "segment": "segment",
    "compress-report": "compress_report",
    "classify": "classify",
    "palette": "palette",
}


def build_app(only: str | None = None) -> typer.Typer:
    """The ``kmimg`` app with every command, or with just the command ``only``.

    A start of ``kmimg quantize`` imports the quantize module and not the other four, whose
    option declarations and dataclasses cost ~20-30 ms of a start-up that pngquant finishes a
    whole small job in (issue 11). The help and the error for an unknown command get them all.
    """
    root = _new_app()
    for name, module in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"kmimg.cli.{module}").register(root)
    return root


def _invoked(argv: list[str]) -> str | None:
    """The command named on the command line (the root takes no option with a value), if any."""
    word = next((word for word in argv if not word.startswith("-")), None)
    return word if word in COMMANDS else None


def main() -> None:
    """Console-script entry point."""
    build_app(_invoked(sys.argv[1:]))(prog_name="kmimg")

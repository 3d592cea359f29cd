"""The common ``kmimg quantize`` command lines, read without importing Typer.

A Makefile rule or a build script runs ``kmimg quantize in.png -k 64 -o out.png`` (or pngquant's
line, ``--quality 65-80 --skip-if-larger --strip --ext .png --force``) once per file; Typer and
its Click cost ~30 ms of each start, about pngquant's whole run on a small photo (issue 26).
:func:`quantize_args` reads such a line into the :class:`~kmimg.cli.quantize_run.QuantizeArgs`
Typer would give, or answers ``None``, and then Typer reads the line: help, ``--version``, any
option not in :data:`VALUED` or :data:`FLAGS`, a value that is not plainly valid (Typer's own
message reports it), ``--``, ``-kVALUE``, joined short flags, and every line on Windows (where
Click expands wildcards and ``~`` in the words itself).

It reads a subset of one grammar, never a second one: every option here is checked against
Typer's declaration of it (its spellings, kind, bounds), and random command lines are read by
both and compared, in ``tests/test_cli_direct.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final, TypeVar

from kmimg.cli.quantize_run import ARGS, QuantizeArgs
from kmimg.options import MAX_OPTIMIZE, MAX_SEED, QuantizeOptions, parse_quality
from kmimg.types import ColorSpace

N = TypeVar("N", int, float)

_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


def _number(pattern: re.Pattern[str], kind: type[N], low: N, high: N | None = None) -> Callable[[str], N]:
    """A number written plainly (``pattern``) from ``low`` to ``high``, else ``ValueError``."""

    def read(text: str) -> N:
        if not pattern.fullmatch(text):
            raise ValueError(text)
        value = kind(text)
        if value < low or (high is not None and value > high):
            raise ValueError(text)
        return value

    return read


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    return _number(_INTEGER, int, low, high)


def _decimal(low: float, high: float | None = None) -> Callable[[str], float]:
    return _number(_DECIMAL, float, low, high)


def _text(text: str) -> str:
    return text


def _quality(text: str) -> str:
    parse_quality(text)  # its ValueError: Typer reports the malformed value
    return text


#: Options with a value: each spelling, the :class:`QuantizeArgs` field it sets, and how its
#: value is read (a ``ValueError`` sends the line to Typer).
VALUED: Final[dict[str, tuple[str, Callable[[str], Any]]]] = {
    **dict.fromkeys(("-k", "--colors"), ("colors", _integer(QuantizeOptions.MIN_K, QuantizeOptions.MAX_K))),
    **dict.fromkeys(("-o", "--output"), ("output", _text)),
    "--ext": ("ext", _text),
    "--json": ("json_dest", _text),
    "--seed": ("seed", _integer(0, MAX_SEED)),
    "--space": ("space", ColorSpace),
    "--sample": ("sample", _integer(0)),
    "--posterize": ("posterize", _integer(0, QuantizeOptions.MAX_POSTERIZE)),
    "--quality": ("quality", _quality),
    "--target-psnr": ("target_psnr", _decimal(0.0)),
    "--target-ssim": ("target_ssim", _decimal(0.0, 1.0)),
    "--target-de": ("target_de", _decimal(0.0)),
    **dict.fromkeys(("-O", "--optimize"), ("optimize", _integer(0, MAX_OPTIMIZE))),
    "--max-pixels": ("max_pixels", _integer(1)),
    **dict.fromkeys(("-j", "--jobs"), ("jobs", _integer(1))),
}

#: Flags: each spelling and the :class:`QuantizeArgs` field it turns on.
FLAGS: Final[dict[str, str]] = {
    **dict.fromkeys(("-f", "--force"), "force"),
    **dict.fromkeys(("-q", "--quiet"), "quiet"),
    **dict.fromkeys(("-r", "--recursive"), "recursive"),
    "--skip-existing": "skip_existing",
    "--skip-if-larger": "skip_if_larger",
    "--strip": "strip",
    "--no-dither": "no_dither",
    "--fail-fast": "fail_fast",
    "--allow-truncated": "allow_truncated",
    "--debug": "debug",
}


def quantize_args(argv: list[str]) -> QuantizeArgs | None:
    """``argv`` (the words after ``kmimg``) as the :class:`QuantizeArgs` Typer would give when
    it is a ``quantize`` line of the options above with plainly valid values; else ``None``."""
    if not argv or argv[0] != "quantize" or os.name == "nt":  # Windows: Click expands globs and ~
        return None
    try:
        values, inputs = _read(argv[1:])
    except ValueError:
        return None
    if not inputs:
        return None
    return replace(ARGS, inputs=tuple(inputs), colors_given="colors" in values, **values)


def _read(words: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The options' values by field (the last of a repeated option, as Click takes it) and the
    inputs, in order; ``ValueError`` for anything this reader leaves to Typer."""
    values: dict[str, Any] = {}
    inputs: list[str] = []
    rest = iter(words)
    for word in rest:
        if word == "-" or not word.startswith("-"):
            inputs.append(word)
            continue
        name, joined, given = word.partition("=")
        if name in FLAGS and not joined:
            values[FLAGS[name]] = True
            continue
        if name not in VALUED or (joined and not name.startswith("--")):
            raise ValueError(word)
        text = given if joined else next(rest, None)
        if text is None or (text.startswith("-") and text != "-"):
            raise ValueError(word)  # Click would take "-x" as the value; leave that to it
        field, read = VALUED[name]
        values[field] = read(text)
    return values, inputs

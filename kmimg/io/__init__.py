"""All file I/O of kmimg, in three rooms: :mod:`~kmimg.io.decode` (files and bytes to arrays),
:mod:`~kmimg.io.png` (PNG chunk checks and encoders) and :mod:`~kmimg.io.files` (atomic writes,
commit groups, links, standard output).

Every other module works on arrays and bytes; only these open files. The names below are the
public ones, importable from ``kmimg.io`` directly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kmimg.io.decode import ALLOWED_FORMATS, STDIO, Picture, load_image, read_source, sniff_format
    from kmimg.io.files import (
        CommitGroup,
        OutputFile,
        commit_group,
        link_atomic,
        write_atomic,
        write_outputs,
        write_stdout,
    )
    from kmimg.io.png import MAX_TEXT_BYTES, PNG_COMPRESS_LEVEL, encode_indexed_png, encode_png, inspect_png

#: Public name -> its room. Loaded on first use: :mod:`kmimg.io.files` needs no numpy, and the
#: command line imports it before it knows whether any image will be decoded.
_ROOMS = {
    **dict.fromkeys(
        ("ALLOWED_FORMATS", "STDIO", "Picture", "load_image", "read_source", "sniff_format"), "decode"
    ),
    **dict.fromkeys(
        (
            "CommitGroup",
            "OutputFile",
            "commit_group",
            "link_atomic",
            "write_atomic",
            "write_outputs",
            "write_stdout",
        ),
        "files",
    ),
    **dict.fromkeys(
        ("MAX_TEXT_BYTES", "PNG_COMPRESS_LEVEL", "encode_indexed_png", "encode_png", "inspect_png"), "png"
    ),
}

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_TEXT_BYTES",
    "PNG_COMPRESS_LEVEL",
    "STDIO",
    "CommitGroup",
    "OutputFile",
    "Picture",
    "commit_group",
    "encode_indexed_png",
    "encode_png",
    "inspect_png",
    "link_atomic",
    "load_image",
    "read_source",
    "sniff_format",
    "write_atomic",
    "write_outputs",
    "write_stdout",
]


def __getattr__(name: str) -> Any:
    room = _ROOMS.get(name)
    if room is None:
        raise AttributeError(f"module 'kmimg.io' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kmimg.io.{room}"), name)

"""What native decoders (libtiff, libjpeg, OpenJPEG...) write straight to file descriptor 2,
caught around one decode and turned into at most one line for the user.

File descriptor 2 belongs to the whole process: while it points into the capture file, every
thread's writes to it land there. So a capture is taken only under :data:`CAPTURE_LOCK`, and
:mod:`kmimg.io.decode` takes it inside the lock that already makes Pillow's decodes in one
process run one at a time: on a Dask worker with several threads, decodes wait for each other
(as they did already), and anything another thread writes to fd 2 during a decode (a few
milliseconds) is treated as that decode's output. Worker processes (``--jobs``) each capture
their own fd 2. Python's ``sys.stderr`` object is not swapped, only the descriptor under it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

#: Held while fd 2 points into the capture file.
CAPTURE_LOCK = threading.RLock()

#: At most this many bytes of one decode's output are read back.
_READ_LIMIT = 64 * 1024
#: The longest line shown.
_SHOWN = 160

#: Lines that tell a user nothing about the picture: tags libtiff does not know or that hold an
#: odd count or type (the pixels are read all the same), blank lines, and terminal control
#: sequences (a progress bar another thread redraws on a terminal: never a decoder's text).
_NOISE = re.compile(
    r"unknown field with tag|does not end in null byte|incorrect count for field|"
    r"wrong data type .* ignored|nonstandard tile|photometric.*extrasamples|"
    r"ignoring|unknown tag|\x1b|^\s*$",
    flags=re.IGNORECASE,
)

_sinks: dict[int, int] = {}  # one capture file per process (by pid: a fork has its own)


@contextlib.contextmanager
def captured() -> Iterator[list[str]]:
    """Point fd 2 into a temporary file while the block runs; the list yielded receives, after
    the block, the lines written there. Falls back to capturing nothing when fd 2 cannot be
    duplicated (no fd 2 at all)."""
    lines: list[str] = []
    with CAPTURE_LOCK:
        try:
            sink = _sink()
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield lines
            return
        try:
            os.dup2(sink, 2)
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            lines.extend(_read_back(sink))


def _sink() -> int:
    """This process's capture file: a descriptor of an unlinked temporary file (no name left
    behind, no Python file object to close at exit)."""
    sink = _sinks.get(os.getpid())
    if sink is None:
        import tempfile  # ~4 ms with shutil, bz2, lzma, random: only for Pillow's decodes

        handle, name = tempfile.mkstemp(prefix="kmimg-stderr-")
        os.unlink(name)
        sink = _sinks[os.getpid()] = handle
    return sink


def _read_back(sink: int) -> list[str]:
    size = os.lseek(sink, 0, os.SEEK_END)
    if size == 0:
        return []
    data = os.pread(sink, min(size, _READ_LIMIT), 0)
    os.ftruncate(sink, 0)
    os.lseek(sink, 0, os.SEEK_SET)
    return data.decode("utf-8", "replace").splitlines()


def summary(lines: list[str]) -> str | None:
    """One line for the user from a decode's native output: the first message that says
    something, shortened, with how many others there were; ``None`` when none does."""
    kept = list(dict.fromkeys(_clean(line) for line in lines if not _NOISE.search(line)))
    kept = [line for line in kept if line]
    if not kept:
        return None
    first = kept[0] if len(kept[0]) <= _SHOWN else kept[0][: _SHOWN - 3] + "..."
    more = f" (and {len(kept) - 1} more)" if len(kept) > 1 else ""
    return f"decoder said: {first}{more}"


def _clean(line: str) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in line)
    return " ".join(printable.split())

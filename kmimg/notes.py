"""Warnings that stay with the task that raised them, also when several tasks run at once on
threads of one process (a Dask worker started with ``--nthreads 4``, say).

:func:`warnings.catch_warnings` swaps process-wide state (the filter list, ``showwarning``) in
and out: two threads inside it at once record each other's warnings, or lose them, and one
thread's exit can restore the other's filters for good. So kmimg collects in a context variable
instead (each thread, and each asyncio task, has its own):

- :func:`collecting` opens a collector for the code it wraps, in this context only.
- kmimg's own warnings go through :func:`warn`: into the current collector, or, outside any,
  to :func:`warnings.warn` as a :class:`~kmimg.errors.KmimgWarning` (what a library caller
  sees).
- Warnings of other libraries (Pillow, numpy) still go through :mod:`warnings`; while any
  collector is open, a filter at the front of the list shows every warning raised in a context
  that has a collector (``"always"``: also the second time at the same place), and a wrapper of
  ``showwarning`` hands it to that context's collector. Warnings raised where no collector is
  open meet the filters and ``showwarning`` they would meet without kmimg. Both are installed
  once, under a lock, and put back if something replaced them (a test framework's
  :func:`warnings.catch_warnings`, the CLI's own handler).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from kmimg.errors import KmimgWarning

#: One caught warning: its one-line text and its category.
Note = tuple[str, type[Warning]]

_current: ContextVar[list[Note] | None] = ContextVar("kmimg_notes", default=None)
_lock = threading.Lock()
#: The ``showwarning`` that was there before :func:`_route` (warnings raised outside collectors).
_shown_before: list[Any] = [warnings.showwarning]


def warn(message: str, *, stacklevel: int = 2) -> None:
    """Tell the user ``message`` (a :class:`KmimgWarning`): into the collector open in this
    context, else through :func:`warnings.warn`."""
    found = _current.get()
    if found is None:
        warnings.warn(message, KmimgWarning, stacklevel=stacklevel + 1)
    else:
        found.append((message, KmimgWarning))


@contextlib.contextmanager
def collecting() -> Iterator[list[Note]]:
    """Collect, in the list yielded, the warnings raised in this context (this thread) while
    the block runs, kmimg's own and other libraries' alike; nothing is shown. Nested blocks
    collect separately (the inner one's notes are not in the outer one's list)."""
    _install()
    found: list[Note] = []
    token = _current.set(found)
    try:
        yield found
    finally:
        _current.reset(token)


@contextlib.contextmanager
def ignoring(*categories: type[Warning]) -> Iterator[None]:
    """Drop the warnings of ``categories`` raised in this context while the block runs; the
    others are passed on as if raised outside it (to an outer collector, or to
    :mod:`warnings`)."""
    with collecting() as found:
        yield
    for text, category in found:
        if not issubclass(category, categories):
            repeat(text, category)


def repeat(text: str, category: type[Warning]) -> None:
    """Raise a collected warning again: into the collector open here, else to :mod:`warnings`."""
    outer = _current.get()
    if outer is not None:
        outer.append((text, category))
    else:
        warnings.warn(text, category, stacklevel=3)


def one_line(message: Warning | str, category: type[Warning]) -> str:
    """A warning's first line (its category's name when it has no text)."""
    text = str(message).strip()
    return text.splitlines()[0] if text else category.__name__


class _InCollector:
    """The ``message`` part of a filter entry: matches a warning raised in a context that has a
    collector (the warnings module only calls ``match`` on it)."""

    def match(self, _text: str) -> bool:
        return _current.get() is not None

    def __repr__(self) -> str:
        return "<kmimg collector open>"


_MATCHER = _InCollector()
_FILTER = ("always", _MATCHER, Warning, None, 0)


def _route(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    found = _current.get()
    if found is not None:
        found.append((one_line(message, category), category))
        return
    _shown_before[0](message, category, filename, lineno, file, line)


def _install() -> None:
    filters: list[Any] = warnings.filters  # type: ignore[assignment]
    if warnings.showwarning is _route and filters and filters[0] is _FILTER:
        return
    with _lock:
        if warnings.showwarning is not _route:
            _shown_before[0] = warnings.showwarning
            warnings.showwarning = _route
        filters = warnings.filters  # type: ignore[assignment]
        if not filters or filters[0] is not _FILTER:
            with contextlib.suppress(ValueError):
                filters.remove(_FILTER)
            filters.insert(0, _FILTER)
            # Registries of warnings already shown once are stale now (as filterwarnings does).
            mutated = getattr(warnings, "_filters_mutated", None)
            if mutated is not None:
                mutated()

"""The frame every command runs in: what the user sees on stderr (:class:`Reporter`), the one
place where errors become a stderr line and an exit code (:func:`boundary`), and the exit code of
a batch (:func:`finish`). :func:`command` puts them together for a command's body.

Nothing here imports numpy or Rich at module level: ``kmimg --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from kmimg.errors import ClusterLostError, KmimgError, UsageError

if TYPE_CHECKING:
    from kmimg.jobs.tasks import Failure, Outcome


class ExitCode(IntEnum):
    """kmimg's exit codes (documented in the README)."""

    OK = 0
    #: At least one input failed; every other input was processed and written.
    FAILED = 1
    #: Bad usage: unknown option, invalid value, conflicting outputs; nothing was done.
    USAGE = 2
    #: The Dask scheduler was lost mid-run (``--scheduler``): the outputs completed before are
    #: in place, no partial file was left, the other inputs were not done.
    CLUSTER_LOST = 3
    #: ``quantize --skip-if-larger``: outputs not smaller than their inputs were not written.
    SKIPPED_LARGER = 98
    #: Reserved for ``quantize --quality`` (issue 26, not implemented): inputs below MIN.
    QUALITY_TOO_LOW = 99
    #: Interrupted by Ctrl-C (SIGINT); no partial file was left behind.
    INTERRUPTED = 130


@dataclass
class Reporter:
    """Everything the user sees on stderr: errors, warnings, progress, the summary.

    Bars, tables and colour appear only when stderr is a terminal and ``quiet`` is off; errors
    and warnings always appear, one line each.
    """

    quiet: bool = False
    debug: bool = False
    interactive: bool = field(default_factory=lambda: sys.stderr.isatty())

    @property
    def fancy(self) -> bool:
        return self.interactive and not self.quiet

    def error(self, where: str, reason: str) -> None:
        text = f"{where}: {reason}" if where else reason
        print(f"kmimg: error: {one_line(text)}", file=sys.stderr)

    def warning(self, message: str) -> None:
        print(f"kmimg: warning: {one_line(message)}", file=sys.stderr)

    def notice(self, message: str) -> None:
        """Something done on purpose (an input skipped); not shown with ``quiet``."""
        if not self.quiet:
            print(f"kmimg: notice: {one_line(message)}", file=sys.stderr)

    def failed(self, failure: Failure) -> None:
        """An input's error line (and, with ``--debug``, the traceback of an internal error)."""
        self.error(failure.source, failure.reason)
        if self.debug and failure.detail:
            print(failure.detail, file=sys.stderr, end="")

    def console(self) -> Any:
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    @contextlib.contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        """A progress bar on stderr for batches of more than one input (terminal only)."""
        if not self.fancy or total < 2:
            yield lambda _name: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console(), transient=True) as bar:
            task = bar.add_task(label, total=total)
            yield lambda _name: bar.advance(task)


def one_line(text: str) -> str:
    """``text`` with control characters escaped (a file name may hold a newline), so that each
    message stays one line for scripts reading stderr."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def install_warning_handler(reporter: Reporter) -> None:
    """Show library warnings as single ``kmimg: warning:`` lines, never raw Python text."""

    def show(message: Warning | str, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
        reporter.warning(warning_line(message, category))

    warnings.showwarning = show


def warning_line(message: Warning | str, category: type[Warning]) -> str:
    text = str(message).strip()
    return text.splitlines()[0] if text else category.__name__


@contextlib.contextmanager
def boundary(reporter: Reporter) -> Iterator[None]:
    """The one place where errors become a stderr line and an exit code.

    :class:`UsageError` exits 2, :class:`ClusterLostError` 3, any other :class:`KmimgError` 1,
    Ctrl-C 130 (each a ``SystemExit``, which Click lets through and Python exits with); with
    ``--debug`` the traceback is shown as well.
    """
    install_warning_handler(reporter)
    _silence_library_logs()
    _ignore_file_size_signal()
    try:
        yield
    except UsageError as exc:
        _show_traceback(reporter)
        reporter.error("", str(exc))
        raise SystemExit(ExitCode.USAGE) from None
    except ClusterLostError as exc:
        _show_traceback(reporter)
        reporter.error("", str(exc))
        raise SystemExit(ExitCode.CLUSTER_LOST) from None
    except KmimgError as exc:
        _show_traceback(reporter)
        reporter.error("", str(exc))
        raise SystemExit(ExitCode.FAILED) from None
    except KeyboardInterrupt:
        reporter.error("", "interrupted")
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except Exception as exc:  # noqa: BLE001 - users never see a traceback without --debug
        _show_traceback(reporter)
        reporter.error("", f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)")
        raise SystemExit(ExitCode.FAILED) from None


def _silence_library_logs() -> None:
    # Pillow and tifffile log lines of their own before raising on some hostile files ("More
    # samples per pixel than can be decoded"); with no handler configured Python would print
    # them raw. kmimg reports the error itself, once.
    import logging

    for name in ("PIL", "tifffile"):
        logger = logging.getLogger(name)
        if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _ignore_file_size_signal() -> None:
    # Over a file-size limit (ulimit -f), SIGXFSZ would kill kmimg mid-write and leave a
    # temporary file behind; ignored, the write fails with EFBIG and write_atomic cleans up.
    if hasattr(signal, "SIGXFSZ"):
        with contextlib.suppress(ValueError, OSError):  # ValueError: not the main thread
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _show_traceback(reporter: Reporter) -> None:
    if reporter.debug:
        traceback.print_exc()


def finish(outcome: Outcome[Any], *, skipped: ExitCode | None = None) -> None:
    """Exit with the batch's exit code: 1 when any input failed, else ``skipped`` (98, 99) when
    some inputs were deliberately not written, else 0 (by returning)."""
    if outcome.failures:
        raise SystemExit(ExitCode.FAILED)
    if skipped is not None:
        raise SystemExit(skipped)


def skip_blas_threads() -> None:
    """For commands whose engine does no BLAS work (quantize, compress-report): OpenBLAS starts
    a thread per core when numpy loads (~30 ms of CPU per run); one is enough. A value the
    user set is kept, and nothing changes once numpy is loaded."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@contextlib.contextmanager
def command(*, quiet: bool, debug: bool, numpy_threads: bool = True) -> Iterator[Reporter]:
    """The frame of every command's body: a :class:`Reporter` for its messages, inside the error
    :func:`boundary`. ``numpy_threads=False`` for commands whose work does no BLAS
    (:func:`skip_blas_threads`). The body ends with :func:`finish` of its batch."""
    if not numpy_threads:
        skip_blas_threads()
    reporter = Reporter(quiet=quiet, debug=debug)
    with boundary(reporter):
        try:
            yield reporter
        except SystemExit:  # the batch's code (finish()), unless data was lost
            _check_stdout()
            raise
        _check_stdout()


def _check_stdout() -> None:
    if "kmimg.io.files" in sys.modules:  # data its reader left unread (``| head``) fails the run
        sys.modules["kmimg.io.files"].check_stdout_delivered()

"""The Dask executor of the batch room (``--scheduler ADDRESS``): the per-file work runs on a Dask
cluster through ``distributed``'s :class:`~distributed.Client`.

No file system is shared with the workers. This process reads each input's bytes and embeds them
in its task (not ``scatter``-ed data held by one worker: Dask can then re-run a task whose worker
died, from the task alone); a worker runs the pure work function (bytes and options in, a
:class:`~kmimg.jobs.tasks.Produced` of its result and the output bytes out); this process puts the
files in place with the same atomic writes, overwrite policy and names as a local run
(:func:`kmimg.jobs.chunks.committed`), so the outputs are byte-identical to a local run's.

Imported only when ``--scheduler`` (or ``DASK_SCHEDULER_ADDRESS``) is given: nothing of Dask is
loaded otherwise. Workers import this module to run :func:`chunk_on_cluster`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import queue
import signal
import socket
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kmimg._version import __version__
from kmimg.errors import ClusterLostError, KmimgError, KmimgWarning, UsageError
from kmimg.jobs.chunks import Outcome1, committed, guarded_with_warnings, placed
from kmimg.jobs.tasks import Failure, FileTask, Produced

if TYPE_CHECKING:
    from distributed import Client, Future

#: Seconds to reach the scheduler before giving up (one error line, exit 2, before any work).
CONNECT_SECONDS = 10
INSTALL_HINT = "pip install 'kmimg[dask]'"


@contextlib.contextmanager
def dask_pool(
    address: str, work: Callable[[Any], Produced[Any]], *, fail_fast: bool, debug: bool
) -> Iterator[DaskPool]:
    """A :class:`DaskPool` on the scheduler at ``address``, closed (its futures cancelled) at
    the end, also on Ctrl-C."""
    import dask

    client = connect(address, debug=debug)
    pool = DaskPool(client, work, fail_fast, workers=max(1, sum(client.nthreads().values())), address=address)
    # The inputs are in the tasks on purpose (a retry needs nothing else): no size warning.
    try:
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1 TiB"}):
            yield pool
    finally:
        pool.halt()
        with contextlib.suppress(Exception):
            client.close(timeout=CONNECT_SECONDS)


def connect(address: str, *, debug: bool) -> Client:
    """A client of the scheduler at ``address`` whose workers run this version of kmimg.

    Dask's own configuration applies (``tls://`` addresses with the certificates of
    ``distributed.comm.tls``, for one). Raises :class:`UsageError` when ``distributed`` is not
    installed, the scheduler cannot be reached within :data:`CONNECT_SECONDS`, or a worker
    runs another version of kmimg (its outputs would differ).
    """
    try:
        import distributed
    except ImportError:
        raise UsageError(f"--scheduler needs Dask's distributed package: {INSTALL_HINT}") from None
    _quiet_logs(debug)
    if address.startswith(GATEWAY):
        address, security = gateway_cluster(address)
    else:
        security = distributed.Security()  # Dask's configuration (distributed.comm.tls)
        _refuse_closed_port(address)
    _handshake(address, security)
    try:
        client = distributed.Client(address, security=security, timeout=CONNECT_SECONDS, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - whatever the reason, one line and exit 2
        raise UsageError(f"cannot connect to the Dask scheduler at {address}: {_reason(exc)}") from None
    try:
        _check_workers(client)
    except BaseException:
        with contextlib.suppress(Exception):
            client.close(timeout=CONNECT_SECONDS)
        raise
    return client


def _quiet_logs(debug: bool) -> None:
    # distributed logs its own lines on stderr (reconnections, a worker lost); kmimg reports
    # what matters to the user itself, once. --debug keeps them.
    if debug:
        return
    # tornado's too: Ctrl-C inside a call into Dask's event loop logs a traceback there.
    roots = ("distributed", "tornado")
    names = [name for name in logging.root.manager.loggerDict if name.startswith(roots)]
    for name in [*roots, *names]:  # Dask's configuration gives some their own level
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _refuse_closed_port(address: str) -> None:
    """A refused ``tcp://`` connection fails at once (Dask itself retries until its timeout)."""
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location, default_port=8786)
    except ValueError as exc:
        raise UsageError(f"--scheduler {address}: {exc}") from None
    if scheme != "tcp":  # tls:// and the rest: a bare TCP probe would only upset the handshake
        return
    try:
        with socket.create_connection((host, port), timeout=CONNECT_SECONDS):
            pass
    except OSError as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {_reason(exc)}") from None


def _handshake(address: str, security: Any) -> None:
    """Speak Dask to ``address`` once, with ``security``, before making a client: a failed
    :class:`~distributed.Client` lingers and blocks the exit for 20 s."""
    import asyncio

    from distributed.comm import connect

    async def greet() -> None:
        arguments = security.get_connection_args("client")
        comm = await connect(address, timeout=CONNECT_SECONDS, **arguments)
        await comm.close()

    try:
        asyncio.run(greet())
    except MemoryError:  # it answered, but not in Dask's protocol (a frame length of exabytes)
        raise UsageError(f"cannot connect to the Dask scheduler at {address}: not a Dask scheduler") from None
    except Exception as exc:  # noqa: BLE001 - TLS set-up, timeouts, refusals: one line, exit 2
        reason = _reason(exc)
        if "ssl_context" in reason:  # Dask's words for "no TLS configuration for a client"
            reason = NO_TLS
        raise UsageError(f"cannot connect to the Dask scheduler at {address}: {reason}") from None


#: The scheme of a dask-gateway cluster's address, as ``GatewayCluster.scheduler_address`` gives
#: it: ``gateway://PROXY-HOST:PORT/CLUSTER-NAME``.
GATEWAY = "gateway://"
GATEWAY_HINT = "pip install dask-gateway"


def gateway_cluster(address: str) -> tuple[str, Any]:
    """The scheduler address and the cluster's own TLS credentials of the dask-gateway cluster
    at ``address`` (``gateway://PROXY/NAME``), asked of the gateway server that Dask's
    configuration names (``gateway.address``, ``gateway.auth``: dask-gateway's own settings)."""
    import asyncio

    import dask

    try:
        from dask_gateway import Gateway
    except ImportError:
        raise UsageError(f"--scheduler {address}: a dask-gateway cluster needs {GATEWAY_HINT}") from None
    proxy, _, name = address.removeprefix(GATEWAY).partition("/")
    if not proxy or not name or "/" in name:
        raise UsageError(
            f"--scheduler {address}: a dask-gateway address is gateway://PROXY-HOST:PORT/CLUSTER-NAME"
        )
    if not dask.config.get("gateway.address", None):
        raise UsageError(
            f"--scheduler {address}: which gateway server? Set gateway.address in Dask's configuration "
            "(or DASK_GATEWAY__ADDRESS=https://gateway-host)"
        )

    async def ask() -> tuple[str, Any]:
        async with Gateway(proxy_address=proxy, asynchronous=True) as gateway:
            cluster = await gateway.connect(name)
            try:
                return str(cluster.scheduler_address), cluster.security
            finally:
                await cluster.close(shutdown=False)

    try:
        return asyncio.run(asyncio.wait_for(ask(), CONNECT_SECONDS))
    except Exception as exc:  # noqa: BLE001 - unknown cluster, refused login, no answer: one line
        raise UsageError(f"cannot connect to the dask-gateway cluster {address}: {_reason(exc)}") from None


#: What a ``tls://`` address without a client certificate in Dask's configuration gets.
NO_TLS = (
    "no TLS certificate for a client in Dask's configuration (distributed.comm.tls.ca-file, "
    "client.cert and client.key, or DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ..._CLIENT__CERT, "
    "..._CLIENT__KEY)"
)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"no answer within {CONNECT_SECONDS} s"
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__


def _check_workers(client: Client) -> None:
    """Every worker runs this kmimg (same version: the same bytes); a warning when none is up
    yet (an adaptive cluster starts them on demand)."""
    versions = client.run(worker_version, on_error="return")
    if not versions:
        warnings.warn(
            f"the Dask cluster has no workers yet; waiting for some ({client.scheduler.address})",
            KmimgWarning,
            stacklevel=2,
        )
    for worker, theirs in sorted(versions.items()):
        if isinstance(theirs, BaseException):
            reason = _reason(theirs)
            raise UsageError(f"Dask worker {worker} cannot run kmimg ({reason}): install kmimg on it")
        if theirs != __version__:
            raise UsageError(
                f"Dask worker {worker} runs kmimg {theirs}, this is kmimg {__version__}: install the same "
                "version on every worker (outputs would differ)"
            )


def worker_version() -> str:
    """The kmimg version a worker runs (called on each worker when connecting)."""
    return __version__


@dataclass
class DaskPool:
    """Chunks of tasks as Dask tasks: the bytes of their inputs embedded, their files written
    here as each chunk's results arrive."""

    client: Client
    work: Callable[[Any], Produced[Any]]
    fail_fast: bool
    workers: int
    address: str = ""
    outstanding: set[Future] = field(default_factory=set)
    finished: queue.SimpleQueue[Future] = field(default_factory=queue.SimpleQueue)
    halted: bool = False
    lost: bool = False
    _keys: Iterator[int] = field(default_factory=itertools.count)
    _run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def submit(self, chunk: Sequence[Any]) -> Any:
        if self.lost:
            raise ClusterLostError(LOST.format(address=self.address))
        loaded = [_loaded(task) for task in chunk]
        key = f"kmimg-{self._run}-{next(self._keys)}"
        future = self.client.submit(chunk_on_cluster, self.work, loaded, self.fail_fast, key=key, pure=False)
        future.add_done_callback(self.finished.put)
        self.outstanding.add(future)
        return future

    def wait(self, handles: Collection[Any]) -> Collection[Any]:
        # Each future reports itself when it ends, also cancelled (distributed.wait would raise
        # for a cancelled one).
        done = [self.finished.get()]
        with contextlib.suppress(queue.Empty):
            while True:
                done.append(self.finished.get_nowait())
        return done

    def settle(self, done: Sequence[tuple[Any, Sequence[Any]]]) -> list[list[Outcome1 | None]]:
        # The files of every chunk that arrived meanwhile are committed together: while one
        # commit waits for the disk, the next results queue up (a group commit that keeps up
        # with many workers, one disk sync per arrival, not per chunk).
        tasks: list[Any] = []
        outcomes: list[Outcome1 | None] = []
        for handle, chunk in done:
            self.outstanding.discard(handle)
            try:
                outcomes += self._outcomes(handle, chunk)
            finally:
                handle.release()
            tasks += chunk
        with _interrupt_after():
            if len(tasks) == 1:
                placed = [_place(outcomes[0], tasks[0])]
            else:
                placed = committed(tasks, lambda index: _place(outcomes[index], tasks[index]))
        if self.lost:  # the chunks that did arrive are in place; the run ends here, one line
            raise ClusterLostError(LOST.format(address=self.address))
        found, start = [], 0
        for _, chunk in done:
            found.append(placed[start : start + len(chunk)])
            start += len(chunk)
        return found

    def _outcomes(self, future: Future, chunk: Sequence[Any]) -> list[Outcome1 | None]:
        from distributed import KilledWorker
        from distributed.comm import CommClosedError

        if future.status == "cancelled":
            # Dask cancels every future when the client loses its scheduler for good.
            self.lost = self.lost or not self.halted
            return [None] * len(chunk)
        try:
            found: list[Outcome1 | None] = future.result()
            return found
        except (CommClosedError, ConnectionError):
            # The scheduler went away while this result was being gathered (before Dask
            # cancelled the futures): the same loss, not a failure of these inputs.
            self.lost = self.lost or not self.halted
            return [None] * len(chunk)
        except KilledWorker:
            reason = "Dask worker died running it, on every try (out of memory, or a crash in a decoder)"
        except Exception as exc:  # noqa: BLE001 - an unpicklable task, say: each input says so
            reason = f"failed on the Dask cluster: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        return [(Failure(task.input.display, reason), ()) for task in chunk]

    def halt(self) -> None:
        self.halted = True
        if self.lost:
            return
        if self.outstanding:
            with contextlib.suppress(Exception):
                self.client.cancel(list(self.outstanding))
            self.outstanding.clear()


@contextlib.contextmanager
def _interrupt_after() -> Iterator[None]:
    """Ctrl-C while results are being written takes effect once they are in place: a
    KeyboardInterrupt between creating a temporary file and recording it would leave it behind.
    (A local run writes in worker processes, which turn Ctrl-C into a failure of their task.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


#: The one line of a run whose scheduler went away mid-run (exit 3).
LOST = (
    "lost the Dask scheduler at {address} mid-run: the outputs completed before are in place, "
    "the other inputs were not done"
)


def _loaded(task: FileTask) -> FileTask | Failure:
    """``task`` with its input's bytes (read here), or the :class:`Failure` reading gave."""
    try:
        return task.with_input(task.input.read())
    except KmimgError as exc:
        return Failure(task.input.display, str(exc))


def chunk_on_cluster(
    work: Callable[[Any], Produced[Any]], chunk: Sequence[Any], fail_fast: bool
) -> list[Outcome1 | None]:
    """On a worker: run a chunk's tasks in order (a pure function of its arguments: Dask may run
    it again elsewhere); ``None`` for a task not started after a failure with ``fail_fast``."""
    done: list[Outcome1 | None] = []
    with _roomy_malloc():
        for task in chunk:
            if fail_fast and any(isinstance(d[0], Failure) for d in done if d is not None):
                done.append(None)
            elif isinstance(task, Failure):
                done.append((task, ()))
            else:
                done.append(guarded_with_warnings(work, task))
    return done


#: glibc's mallopt parameters and the values kmimg works with on a worker (glibc's own dynamic
#: thresholds grow to about these on a kmimg run).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_WORK_TRIM, _WORK_MMAP = 64 << 20, 32 << 20


@contextlib.contextmanager
def _roomy_malloc() -> Iterator[None]:
    """Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also turns off
    glibc's dynamic mmap threshold: every array over 128 kB is then mapped and unmapped afresh,
    page faults each time, and kmimg runs twice as slowly. While a chunk runs, the thresholds
    are glibc's usual working values; afterwards the worker's own are restored and the freed
    memory is handed back to the system (what the nanny's setting is for)."""
    libc = _libc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_TRIM_THRESHOLD, _WORK_TRIM)
    libc.mallopt(_M_MMAP_THRESHOLD, _WORK_MMAP)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_THRESHOLD, int(os.environ.get("MALLOC_MMAP_THRESHOLD_", 128 << 10)))
        libc.mallopt(_M_TRIM_THRESHOLD, int(os.environ.get("MALLOC_TRIM_THRESHOLD_", 128 << 10)))
        libc.malloc_trim(0)


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    """glibc, or ``None`` elsewhere (macOS, musl: nothing to adjust)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both exist on glibc only
    except (OSError, AttributeError):
        return None
    return libc


def _place(outcome: Outcome1 | None, task: FileTask) -> Outcome1 | None:
    """Here: a task's files put in place; a file that cannot be written fails its input."""
    if outcome is None or isinstance(outcome[0], Failure):
        return outcome
    value, notes = outcome
    try:
        return placed(value), notes
    except KmimgError as exc:
        return Failure(task.input.display, str(exc)), notes

"""The records every batch shares: the input of a task (:class:`ImageInput`, which loads
itself from a path or from bytes already read), the base of every task (:class:`FileTask`),
what a work function hands back (:class:`Produced`), a failed input (:class:`Failure`) and a
batch's results (:class:`Outcome`).

A task is a frozen dataclass derived from :class:`FileTask`: its ``input`` is the one place an
executor looks for the image it reads. A cluster run's client replaces it with the same input
holding its bytes (:meth:`FileTask.with_input`), so a worker never opens a path that exists
only on the client.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from kmimg._records import frozen
from kmimg.jobs.paths import STDIO, display_name

if TYPE_CHECKING:
    from typing_extensions import Self

    from kmimg.io.animation import Animation
    from kmimg.io.decode import Picture
    from kmimg.io.files import OutputFile

R = TypeVar("R")


@frozen
class ImageInput:
    """One input image: its path (``-`` for standard input) and, once read, its bytes.

    ``data`` is what :meth:`load` decodes when it is there (a cluster run's client reads each
    input and sends the bytes with its task; the library takes bytes from a caller as they are);
    otherwise :meth:`load` reads ``source``. Equality and the repr ignore ``data``.
    """

    source: str
    data: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def display(self) -> str:
        """How messages and documents name the input: its path, or ``<stdin>``."""
        return display_name(self.source)

    @property
    def is_stdin(self) -> bool:
        return self.source == STDIO

    def read(self) -> ImageInput:
        """This input with its bytes read here (an :class:`~kmimg.errors.InputError` when the
        file cannot be read)."""
        if self.data is not None:
            return self
        from kmimg.io.decode import read_source

        return ImageInput(self.source, read_source(self.source))

    def bare(self) -> ImageInput:
        """This input without its bytes: a result that names its input carries no copy of it."""
        return self if self.data is None else ImageInput(self.source)

    def load(self, *, max_pixels: int, allow_truncated: bool = False) -> Picture:
        """Decode the input (:func:`kmimg.io.load_image`)."""
        from kmimg.io.decode import load_image

        return load_image(self.source, data=self.data, max_pixels=max_pixels, allow_truncated=allow_truncated)

    def animation(self, *, max_pixels: int) -> Animation | None:
        """Every frame of an animated GIF, PNG or WebP input (:func:`kmimg.io.animation.animation_of`),
        or ``None`` for a still image, another format, or an animation damaged after its first
        frame. Reads the input's bytes unless :meth:`read` did (call it first to read them once)."""
        from kmimg.io.animation import animation_of

        raw = self.read().data
        assert raw is not None
        return animation_of(raw, source=self.source, max_pixels=max_pixels)


@frozen
class FileTask:
    """The base of every batch task: the input it reads. Subclasses add their options and
    where their outputs go; they must be picklable (they travel to worker processes and
    Dask workers)."""

    input: ImageInput

    @property
    def source(self) -> str:
        return self.input.source

    @property
    def uses_stdio(self) -> bool:
        """Whether the task reads standard input or writes standard output: such a batch runs
        in this process, whatever the executor."""
        return self.input.is_stdin

    def with_input(self, image: ImageInput) -> Self:
        """This task reading ``image`` instead (the same input with its bytes, or without)."""
        return dataclasses.replace(self, input=image)

    def bare(self) -> Self:
        """This task without its input's bytes (what a result that names its task holds)."""
        return self if self.input.data is None else self.with_input(self.input.bare())


@frozen
class Failure:
    """An input that could not be processed, and why (one line)."""

    source: str
    reason: str
    detail: str = ""


@frozen
class Produced(Generic[R]):
    """What a work function hands back: its typed result and the files it made, still in memory
    (the writer stage of the batch room puts them in place; a work function may also return a
    plain result when it makes no file)."""

    record: R
    files: tuple[OutputFile, ...] = ()


@dataclass
class Outcome(Generic[R]):
    """Results and failures of a batch, in input order."""

    results: list[R] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    interrupted: bool = False


class Stopwatch:
    """Seconds since creation, for the ``seconds`` field of results."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def seconds(self) -> float:
        return round(time.perf_counter() - self._start, 4)

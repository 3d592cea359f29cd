"""Frame optimisation shared by the animated GIF and APNG writers: what each frame stores.

A frame after the first stores only the rectangle that holds the pixels that differ from what
the viewer shows before it, and inside the rectangle either every pixel's index or, where that is
smaller, a "keep" index (drawn as transparent: the pixel already on the canvas stays) for the
pixels that did not change. The writers encode both and keep the smaller.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen

_T = TypeVar("_T", bound=np.generic)

#: A canvas pixel on which nothing is drawn (transparent).
EMPTY = -1


@frozen
class Rect:
    """A frame's rectangle on the canvas."""

    left: int
    top: int
    width: int
    height: int

    def union(self, other: Rect) -> Rect:
        left, top = min(self.left, other.left), min(self.top, other.top)
        right = max(self.left + self.width, other.left + other.width)
        bottom = max(self.top + self.height, other.top + other.height)
        return Rect(left, top, right - left, bottom - top)

    def crop(self, plane: NDArray[_T]) -> NDArray[_T]:
        return plane[self.top : self.top + self.height, self.left : self.left + self.width]

    @staticmethod
    def full(shape: tuple[int, ...]) -> Rect:
        return Rect(0, 0, int(shape[1]), int(shape[0]))


def bounding_rect(mask: NDArray[np.bool_]) -> Rect | None:
    """The smallest rectangle holding every true pixel of ``mask``, or ``None``."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return Rect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def canvas_of(indices: NDArray[np.uint8], clear: int | None) -> NDArray[np.int16]:
    """A frame's indices as canvas values: the transparent entry ``clear`` is :data:`EMPTY`."""
    canvas = indices.astype(np.int16)
    if clear is not None:
        canvas[indices == clear] = EMPTY
    return canvas


def changed_rect(target: NDArray[np.int16], before: NDArray[np.int16]) -> tuple[Rect, NDArray[np.bool_]]:
    """The rectangle of the pixels of ``target`` that differ from the canvas ``before`` (one
    pixel at the top left when none does: a frame holds at least one pixel) and the mask."""
    changed = target != before
    rect = bounding_rect(changed) or Rect(0, 0, 1, 1)
    return rect, changed


#: Shortest runs of unchanged pixels (along a row) a frame draws as "keep", tried in turn: 1
#: keeps every unchanged pixel; longer runs leave short ones their own index, which often
#: continues the pattern around them and compresses better.
KEEP_RUNS = (1, 4, 16)


def frame_pixels(
    frame: NDArray[np.uint8], changed: NDArray[np.bool_], rect: Rect, keep: int | None, run: int = 1
) -> NDArray[np.uint8]:
    """The indices a frame stores in ``rect``: every pixel's own, or with ``keep`` on the pixels
    that did not change, in runs of at least ``run`` along a row."""
    pixels = np.array(rect.crop(frame), dtype=np.uint8)
    if keep is not None:
        pixels[long_runs(~rect.crop(changed), run)] = keep
    return np.ascontiguousarray(pixels)


def long_runs(mask: NDArray[np.bool_], length: int) -> NDArray[np.bool_]:
    """The pixels of ``mask`` in runs of at least ``length`` true pixels along a row."""
    if length <= 1:
        return mask
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=bool)
    padded[:, 1:-1] = mask
    steps = np.diff(padded.ravel().view(np.int8))
    starts, ends = np.flatnonzero(steps == 1) + 1, np.flatnonzero(steps == -1) + 1
    kept = (ends - starts) >= length
    marks = np.zeros(padded.size + 1, dtype=np.int32)
    np.add.at(marks, starts[kept], 1)
    np.add.at(marks, ends[kept], -1)
    return np.cumsum(marks[:-1]).reshape(height, width + 2)[:, 1:-1] > 0


def draw(canvas: NDArray[np.int16], target: NDArray[np.int16], changed: NDArray[np.bool_]) -> None:
    """Put a frame's changed pixels on the canvas."""
    canvas[changed] = target[changed]


def spare_entry(palette: NDArray[np.uint8], capacity: int) -> int | None:
    """The index frames draw as "keep": the palette's transparent entry (alpha 0), else the
    first unused slot when the palette has fewer than ``capacity`` entries, else ``None``."""
    clear = np.flatnonzero(palette[:, 3] == 0)
    if len(clear):
        return int(clear[0])
    return len(palette) if len(palette) < capacity else None

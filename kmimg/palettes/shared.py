"""One palette for many images: their colour histograms merged exactly, then fitted once.

Each image gives a :class:`Histogram` (its distinct visible colours as packed RGBA keys, and
their pixel counts), small enough to send back from a worker process. :class:`HistogramSum`
adds them up. The sum is exact, so it cannot depend on the order in which images arrive:

- ``pixels`` weighting adds the integer pixel counts;
- ``images`` weighting gives every image the same total, :data:`IMAGE_WEIGHT`: a colour's
  weight in an image is its count scaled to that total and rounded to an integer (at least 1,
  so that no colour of any image disappears), and those integers are added.

The merged table goes through the same fit as one image's (:func:`kmimg.colorfit.fit_palette`,
with the kept colours as its ``fixed`` ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.colorfit import ColorTable, FittedPalette, fit_palette
from kmimg.colorspace import pack_colors, unpack_colors
from kmimg.options import DEFAULT_SAMPLE
from kmimg.types import ColorSpace, PaletteWeight

#: The total weight of every image with ``--weight images`` (2^30: a colour seen once in a
#: 250-megapixel image still weighs 4, and counts up to 2^33 cannot overflow int64).
IMAGE_WEIGHT = 1 << 30


@frozen
class Histogram:
    """One image's visible colours: ``keys`` packed RGBA (:func:`kmimg.colorspace.pack_colors`,
    alpha 255 for opaque images) in ascending order, ``counts`` their pixels; ``hidden`` the
    number of fully transparent pixels."""

    keys: NDArray[np.uint32]
    counts: NDArray[np.int64]
    hidden: int = 0

    @property
    def pixels(self) -> int:
        return int(self.counts.sum())


def histogram_of(table: ColorTable, *, hidden: int = 0) -> Histogram:
    """The :class:`Histogram` of an image's colour table (``hidden`` transparent pixels)."""
    colors = table.colors
    if table.channels == 3:
        colors = np.column_stack([colors, np.full(len(colors), 255, dtype=np.uint8)])
    keys = pack_colors(colors)
    order = np.argsort(keys, kind="stable")
    return Histogram(keys[order], table.counts[order].astype(np.int64), hidden=hidden)


@dataclass
class HistogramSum:
    """The exact sum of many :class:`Histogram` s, added in any order."""

    weight: PaletteWeight = PaletteWeight.PIXELS
    images: int = 0
    hidden_images: int = 0
    _keys: list[NDArray[np.uint32]] = field(default_factory=list)
    _counts: list[NDArray[np.int64]] = field(default_factory=list)

    def add(self, histogram: Histogram) -> None:
        counts = histogram.counts
        if self.weight is PaletteWeight.IMAGES and len(counts):
            counts = _scaled(counts)
        self._keys.append(histogram.keys)
        self._counts.append(counts)
        self.images += 1
        self.hidden_images += histogram.hidden > 0
        # Pending pieces are folded in once they outgrow the sum so far: memory stays near the
        # number of distinct colours, and integer sums do not care about the grouping.
        if len(self._keys) > 2 and sum(len(k) for k in self._keys[1:]) > len(self._keys[0]):
            self._fold()

    @property
    def any_transparent(self) -> bool:
        """Whether any image added has fully transparent pixels."""
        return self.hidden_images > 0

    def table(self) -> ColorTable:
        """The merged colour table: RGB when every colour is opaque, else RGBA; colours in
        ascending key order, as :func:`kmimg.colorfit.build_color_table` gives them."""
        self._fold()
        keys = self._keys[0] if self._keys else np.zeros(0, dtype=np.uint32)
        counts = self._counts[0] if self._counts else np.zeros(0, dtype=np.int64)
        colors = unpack_colors(keys, 4)
        if bool((colors[:, 3] == 255).all()):
            colors = np.ascontiguousarray(colors[:, :3])
            order = np.argsort(pack_colors(colors), kind="stable")
            colors, counts = colors[order], counts[order]
        return ColorTable(colors=colors, counts=counts, spread=_no_pixels)

    def _fold(self) -> None:
        if len(self._keys) < 2:
            return
        keys = np.concatenate(self._keys)
        counts = np.concatenate(self._counts)
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        self._keys = [keys[starts]]
        self._counts = [np.add.reduceat(counts, starts).astype(np.int64)]


def _scaled(counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Counts scaled to a total of :data:`IMAGE_WEIGHT`, rounded half up, at least 1."""
    total = int(counts.sum())
    scaled = (counts.astype(np.int64) * IMAGE_WEIGHT + total // 2) // total
    return np.maximum(scaled, 1)


def _no_pixels(values: NDArray[np.generic]) -> NDArray[np.generic]:
    raise ValueError("a merged histogram has no pixels to spread values to")


def fit_shared(
    merged: HistogramSum,
    *,
    k: int,
    keep: NDArray[np.uint8] | None = None,
    seed: int = 0,
    space: ColorSpace = ColorSpace.RGB,
    sample: int = DEFAULT_SAMPLE,
) -> FittedPalette:
    """Fit at most ``k`` colours to the merged histogram (``keep``: colours that must be
    entries, ``fixed`` of :func:`kmimg.colorfit.fit_palette`). The caller leaves room for the
    transparent entry when :attr:`HistogramSum.any_transparent`."""
    table = merged.table()
    if keep is not None and len(keep):
        return fit_palette(table, k=k, seed=seed, space=space, sample=sample, fixed=keep)
    if not len(table.colors):
        raise ValueError("no visible pixels in any image")
    return fit_palette(table, k=k, seed=seed, space=space, sample=sample)

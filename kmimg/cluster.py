"""The k-means colour engine: a colour histogram, a weighted k-means fit, nearest-colour mapping.

k-means on an image's pixels has the same objective as k-means on its *distinct* colours with
each colour weighted by its pixel count; a photo has 10-100x fewer distinct colours than pixels,
so kmimg always works on the histogram:

1. :func:`build_color_table` counts the distinct colours of the visible pixels.
2. :func:`fit_palette` draws a pixel sample from that histogram (multinomial, seeded), fits
   scikit-learn's ``MiniBatchKMeans`` on it with ``sample_weight`` (Sculley 2010), polishes the
   centres with a few weighted Lloyd passes (``KMeans(init=centres, n_init=1)``), then with Lloyd
   passes over *all* distinct colours, rounds them to 8-bit colours and drops duplicates.
3. Every distinct colour is mapped to its nearest palette entry once; pixels get their colour's
   entry through the table, never through a per-pixel nearest-neighbour search.

Colours are RGB, or RGBA when the image has translucent pixels (alpha is then a fourth feature).
Fully transparent pixels never enter the table.

Determinism: for the same table, options and ``seed`` the palette and labels are identical,
whatever the number of threads.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kmimg.colorspace import lab_to_rgb, pack_colors, rgb_to_lab, unpack_colors
from kmimg.types import ColorSpace

#: Pixels drawn from the histogram for the k-means fit (``--sample``); 0 means all pixels.
DEFAULT_SAMPLE = 250_000
_MINIBATCH_SIZE = 4096
_SAMPLE_LLOYD_PASSES = 10
_FULL_LLOYD_PASSES = 2
_CHUNK = 1 << 15
_BINCOUNT_MIN_PIXELS = 1 << 21


@dataclass(frozen=True)
class ColorTable:
    """Distinct colours of an image's visible pixels with their pixel counts.

    ``colors`` is ``(n, c)`` uint8 (c = 3 for RGB, 4 for RGBA), ``counts`` is ``(n,)``.
    ``spread`` maps one value per distinct colour to one value per visible pixel.
    """

    colors: NDArray[np.uint8]
    counts: NDArray[np.int64]
    spread: Callable[[NDArray[np.generic]], NDArray[np.generic]]

    @property
    def channels(self) -> int:
        return int(self.colors.shape[1])

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def build_color_table(pixels: NDArray[np.uint8]) -> ColorTable:
    """Count the distinct colours of ``pixels`` ``(n, 3)`` or ``(n, 4)``."""
    channels = int(pixels.shape[1])
    keys = pack_colors(pixels)
    if channels == 3 and keys.size >= _BINCOUNT_MIN_PIXELS:
        return _table_by_bincount(keys)
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return ColorTable(
        colors=unpack_colors(unique, channels),
        counts=counts.astype(np.int64),
        spread=lambda values: values[inverse],
    )


def _table_by_bincount(keys: NDArray[np.uint32]) -> ColorTable:
    # O(pixels) instead of a sort: large photos pay ~0.1 s here instead of ~1 s in np.unique.
    all_counts = np.bincount(keys, minlength=1 << 24)
    unique = np.flatnonzero(all_counts).astype(np.uint32)
    counts = all_counts[unique]
    del all_counts

    def spread(values: NDArray[np.generic]) -> NDArray[np.generic]:
        lookup = np.zeros(1 << 24, dtype=values.dtype)
        lookup[unique] = values
        return lookup[keys]

    return ColorTable(colors=unpack_colors(unique, 3), counts=counts.astype(np.int64), spread=spread)


@dataclass(frozen=True)
class FittedPalette:
    """Result of :func:`fit_palette`.

    ``colors`` ``(m, c)`` uint8 with ``m <= k`` and no duplicates, ordered by descending pixel
    count; ``labels`` gives each distinct colour of the table its entry; ``counts`` the pixels
    per entry.
    """

    colors: NDArray[np.uint8]
    labels: NDArray[np.intp]
    counts: NDArray[np.int64]


def fit_palette(
    table: ColorTable,
    *,
    k: int,
    seed: int = 0,
    space: ColorSpace = ColorSpace.RGB,
    sample: int = DEFAULT_SAMPLE,
) -> FittedPalette:
    """Fit at most ``k`` colours to the table by weighted k-means and map every colour to one.

    When the table has ``k`` or fewer distinct colours the palette is exactly those colours
    (lossless). Otherwise the palette has ``k`` entries unless rounding to 8 bits merges some.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if len(table.colors) <= k:
        labels = np.arange(len(table.colors), dtype=np.intp)
        return _finish(table.colors, labels, table.counts)
    features = to_features(table.colors, space)
    centers = _kmeans_centers(features, table.counts, k=k, seed=seed, sample=sample)
    centers = _lloyd_passes(features, table.counts, centers, _FULL_LLOYD_PASSES)
    palette = _unique_rows(from_features(centers, space, table.channels))
    labels = nearest_center(features, to_features(palette, space))
    counts = np.bincount(labels, weights=table.counts, minlength=len(palette)).astype(np.int64)
    return _finish(palette, labels, counts)


def to_features(colors: NDArray[np.uint8], space: ColorSpace) -> NDArray[np.float64]:
    """Colour (RGB or RGBA uint8) to clustering features in ``space``."""
    rgb = colors[:, :3]
    base = rgb.astype(np.float64) if space is ColorSpace.RGB else rgb_to_lab(rgb)
    if colors.shape[1] == 3:
        return base
    # Alpha on the same scale as the colour axes: 0..255 in RGB, 0..100 in Lab (like L*).
    alpha_scale = 1.0 if space is ColorSpace.RGB else 100.0 / 255.0
    return np.column_stack([base, colors[:, 3].astype(np.float64) * alpha_scale])


def from_features(features: NDArray[np.float64], space: ColorSpace, channels: int) -> NDArray[np.uint8]:
    """Clustering features back to 8-bit colours (rounded, clipped)."""
    rgb = features[:, :3] if space is ColorSpace.RGB else lab_to_rgb(features[:, :3])
    if channels == 4:
        alpha_scale = 1.0 if space is ColorSpace.RGB else 100.0 / 255.0
        rgb = np.column_stack([rgb, features[:, 3] / alpha_scale])
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _kmeans_centers(
    features: NDArray[np.float64],
    weights: NDArray[np.int64],
    *,
    k: int,
    seed: int,
    sample: int,
) -> NDArray[np.float64]:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    fit_x, fit_w = _sample(features, weights, sample=sample, seed=seed, k=k)
    with warnings.catch_warnings():
        # Few distinct colours can leave clusters empty; duplicates are merged after rounding.
        warnings.simplefilter("ignore")
        batch = MiniBatchKMeans(
            n_clusters=k,
            random_state=seed,
            n_init=1,
            batch_size=_MINIBATCH_SIZE,
            compute_labels=False,
        ).fit(fit_x, sample_weight=fit_w)
        polish = KMeans(
            n_clusters=k,
            init=batch.cluster_centers_,
            n_init=1,
            max_iter=_SAMPLE_LLOYD_PASSES,
            random_state=seed,
        ).fit(fit_x, sample_weight=fit_w)
    return np.asarray(polish.cluster_centers_, dtype=np.float64)


def _sample(
    features: NDArray[np.float64],
    weights: NDArray[np.int64],
    *,
    sample: int,
    seed: int,
    k: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Draw ``sample`` pixels (with replacement) from the histogram, as a smaller histogram."""
    total = int(weights.sum())
    if sample <= 0 or total <= sample:
        return features, weights.astype(np.float64)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(sample, weights / total)
    keep = np.flatnonzero(drawn)
    if len(keep) <= k:
        return features, weights.astype(np.float64)
    return features[keep], drawn[keep].astype(np.float64)


def _lloyd_passes(
    features: NDArray[np.float64],
    weights: NDArray[np.int64],
    centers: NDArray[np.float64],
    passes: int,
) -> NDArray[np.float64]:
    """Weighted Lloyd iterations over all distinct colours; empty clusters keep their centre."""
    w = weights.astype(np.float64)
    for _ in range(passes):
        labels = nearest_center(features, centers)
        mass = np.bincount(labels, weights=w, minlength=len(centers))
        sums = np.stack(
            [
                np.bincount(labels, weights=w * features[:, d], minlength=len(centers))
                for d in range(features.shape[1])
            ],
            axis=1,
        )
        filled = mass > 0
        centers = centers.copy()
        centers[filled] = sums[filled] / mass[filled, None]
    return centers


def nearest_center(features: NDArray[np.float64], centers: NDArray[np.float64]) -> NDArray[np.intp]:
    """Index of the nearest centre (squared Euclidean) for each row, ties to the lowest index."""
    centers = np.asarray(centers, dtype=np.float64)
    center_norms = np.einsum("ij,ij->i", centers, centers)
    labels = np.empty(len(features), dtype=np.intp)
    for start in range(0, len(features), _CHUNK):
        block = features[start : start + _CHUNK]
        distances = center_norms - 2.0 * (block @ centers.T)
        labels[start : start + _CHUNK] = np.argmin(distances, axis=1)
    return labels


def _unique_rows(colors: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.unique(colors, axis=0)


def _finish(palette: NDArray[np.uint8], labels: NDArray[np.intp], counts: NDArray[np.int64]) -> FittedPalette:
    """Drop unused entries and order the palette by descending pixel count (ties by colour)."""
    used = np.flatnonzero(counts > 0)
    order = used[np.lexsort((np.arange(len(used)), -counts[used]))]
    remap = np.full(len(palette), -1, dtype=np.intp)
    remap[order] = np.arange(len(order))
    return FittedPalette(colors=palette[order], labels=remap[labels], counts=counts[order])

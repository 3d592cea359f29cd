"""Unsupervised grouping of images by k-means, and its evaluation against known labels.

The seed tutorial's "K-means for Unsupervised Classification" clusters scikit-learn's 8x8 digits
with k-means, maps each cluster to its most frequent true label and reports the accuracy
(0.79); this module does the same for any set of images:

1. :func:`image_features` turns one image into a feature vector: either its pixels, resized to a
   small fixed size (``8x8`` by default, grey or colour) and flattened row by row as in the seed,
   or a joint colour histogram (``bins`` per channel) for photos, whose layout matters less than
   their colours.
2. :func:`cluster_features` runs scikit-learn's ``KMeans`` (Lloyd, k-means++ seeding,
   ``n_init`` restarts, the best inertia kept) on the stacked vectors and reports each image's
   cluster and Euclidean distance to its centre.
3. :func:`evaluate` compares the clusters with known labels: accuracy after mapping every
   cluster to its majority label (the seed's ``map2labels``), adjusted Rand index (Hubert and
   Arabie 1985) and normalized mutual information (arithmetic mean normalisation, Strehl and
   Ghosh 2002), both from ``sklearn.metrics``.

Scaling. Pixel features are intensities in 0..1 (so a distance is in units of full-scale
brightness, whatever the image size); transparent pixels are composited over black. Histogram
features are the square roots of the bin fractions (each vector has unit length), so Euclidean
distance between two images is sqrt(2) times their Hellinger distance, which k-means handles far
better than raw fractions dominated by a few large bins. ``standardize`` rescales every feature
to zero mean and unit variance before clustering (features that never vary are left at 0).

Determinism: the same feature vectors, options and ``seed`` give the same clusters and
distances; clusters are numbered by decreasing size (ties by their first member in input
order), so the numbering does not depend on k-means' internal order, and the fit runs on one
thread so floating-point sums are always added in the same order.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.errors import InputError
from kmimg.notes import ignoring
from kmimg.options import FeatureOptions as FeatureOptions
from kmimg.options import GroupOptions
from kmimg.types import FeatureKind

DEFAULT_N_INIT = GroupOptions.n_init
DEFAULT_SIZE = FeatureOptions.size
DEFAULT_BINS = FeatureOptions.bins
#: ITU-R BT.601 luma weights, the ones Pillow's ``convert("L")`` uses.
_LUMA = np.array([0.299, 0.587, 0.114])


# ----------------------------------------------------------------------------- features


def image_features(
    rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None, options: FeatureOptions
) -> NDArray[np.float64]:
    """One image's feature vector, of length ``options.length``.

    ``rgb`` is ``(h, w, 3)`` uint8, ``alpha`` ``(h, w)`` uint8 or ``None`` (opaque).

    Raises
    ------
    InputError
        A histogram of an image with no visible pixel.
    """
    if options.kind is FeatureKind.HISTOGRAM:
        return color_histogram(rgb, alpha, bins=options.bins)
    return pixel_features(rgb, alpha, size=options.size, color=options.color)


def pixel_features(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    color: bool = False,
) -> NDArray[np.float64]:
    """Pixels composited over black, converted to grey (BT.601 luma) unless ``color``, resized
    to ``size`` by area averaging (Pillow's box filter; an image already that size is used as
    is), scaled to 0..1 and flattened row by row (channels last)."""
    values = rgb.astype(np.float64)
    if alpha is not None:
        values *= alpha[..., None].astype(np.float64) / 255.0
    planes = [values[..., c] for c in range(3)] if color else [values @ _LUMA]
    resized = [_resize_plane(plane, size) for plane in planes]
    stacked = np.stack(resized, axis=-1) if color else resized[0]
    return np.ascontiguousarray(stacked, dtype=np.float64).reshape(-1) / 255.0


def _resize_plane(plane: NDArray[np.float64], size: tuple[int, int]) -> NDArray[np.float64]:
    width, height = size
    if plane.shape == (height, width):
        return plane
    from PIL import Image

    image = Image.fromarray(plane.astype(np.float32))
    return np.asarray(image.resize((width, height), Image.Resampling.BOX), dtype=np.float64)


def color_histogram(
    rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None, *, bins: int = DEFAULT_BINS
) -> NDArray[np.float64]:
    """Joint RGB histogram with ``bins`` equal bins per channel (``bins**3`` features, red
    slowest), each pixel weighted by its opacity, as square roots of the bin fractions."""
    levels = (rgb.reshape(-1, 3).astype(np.intp) * bins) >> 8
    index = (levels[:, 0] * bins + levels[:, 1]) * bins + levels[:, 2]
    weights = None if alpha is None else alpha.reshape(-1).astype(np.float64)
    counts = np.bincount(index, weights=weights, minlength=bins**3).astype(np.float64)
    total = float(counts.sum())
    if total <= 0:
        raise InputError("image has no visible pixel (fully transparent)")
    shares: NDArray[np.float64] = np.sqrt(counts / total)
    return shares


def histogram_bin_colors(bins: int) -> NDArray[np.uint8]:
    """The centre colour of every histogram bin, in feature order (``(bins**3, 3)`` uint8)."""
    centers = (np.arange(bins) + 0.5) * 256.0 / bins
    r, g, b = np.meshgrid(centers, centers, centers, indexing="ij")
    grid = np.stack([r.reshape(-1), g.reshape(-1), b.reshape(-1)], axis=1)
    return np.clip(np.floor(grid), 0, 255).astype(np.uint8)


def feature_image(vector: NDArray[np.float64], options: FeatureOptions) -> NDArray[np.uint8]:
    """A feature vector (such as a cluster centre) drawn as an RGB image.

    Pixel features become the ``size`` image they describe (the seed's "Kmeans Center"
    pictures). A histogram becomes a 64x64 swatch of vertical stripes, one per non-empty bin in
    decreasing share, each as wide as the bin's share of the pixels.
    """
    if options.kind is FeatureKind.PIXELS:
        width, height = options.size
        shape = (height, width, 3) if options.color else (height, width)
        pixels = np.clip(np.rint(np.asarray(vector).reshape(shape) * 255.0), 0, 255).astype(np.uint8)
        return pixels if options.color else np.repeat(pixels[..., None], 3, axis=2)
    shares = np.clip(np.asarray(vector, dtype=np.float64), 0, None) ** 2
    shares = shares / shares.sum() if shares.sum() > 0 else np.full(len(shares), 1.0 / len(shares))
    colors = histogram_bin_colors(options.bins)
    side = 64
    edges = np.rint(np.cumsum(shares[np.argsort(-shares, kind="stable")]) * side).astype(np.intp)
    stripe = np.zeros((side, 3), dtype=np.uint8)
    start = 0
    for bin_index, end in zip(np.argsort(-shares, kind="stable"), edges, strict=True):
        stripe[start:end] = colors[bin_index]
        start = max(start, int(end))
    return np.ascontiguousarray(np.broadcast_to(stripe[None, :, :], (side, side, 3)))


# ----------------------------------------------------------------------------- clustering


@frozen
class Clustering:
    """Result of :func:`cluster_features` for ``n`` images and ``k`` clusters.

    ``labels`` ``(n,)`` cluster of each image (0 = largest cluster); ``distances`` ``(n,)``
    Euclidean distance to its centre in the space that was clustered (standardized features when
    ``standardize``); ``centers`` ``(k, d)`` in the original feature units (so pixel centres can be
    drawn as images); ``sizes`` ``(k,)``; ``inertia`` the sum of squared distances;
    ``distinct`` the number of distinct feature vectors (below ``k``, some clusters are empty).
    """

    labels: NDArray[np.intp]
    distances: NDArray[np.float64]
    centers: NDArray[np.float64]
    sizes: NDArray[np.int64]
    inertia: float
    distinct: int

    @property
    def k(self) -> int:
        return len(self.centers)

    def members(self, cluster: int, count: int) -> list[int]:
        """Indices of up to ``count`` members of ``cluster``, nearest to its centre first."""
        inside = np.flatnonzero(self.labels == cluster)
        order = np.lexsort((inside, self.distances[inside]))
        return [int(i) for i in inside[order][:count]]


def cluster_features(
    features: NDArray[np.float64],
    *,
    k: int,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT,
    standardize: bool = False,
) -> Clustering:
    """Group the rows of ``features`` ``(n, d)`` into ``k`` clusters by k-means.

    Deterministic for the same input, options and seed (see the module docstring).

    Raises
    ------
    ValueError
        ``k`` below 1 or above the number of rows, ``n_init`` below 1, non-finite features.
    """
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    data = np.asarray(features, dtype=np.float64)
    if data.ndim != 2 or len(data) == 0:
        raise ValueError("features must be a non-empty (n, d) array")
    if not 1 <= k <= len(data):
        raise ValueError(f"k={k} needs between 1 and {len(data)} clusters (one per image at most)")
    if n_init < 1:
        raise ValueError("n_init must be at least 1")
    if not np.isfinite(data).all():
        raise ValueError("features must be finite")
    mean, scale = _scaling(data, standardize=standardize)
    scaled = (data - mean) / scale
    distinct = len(np.unique(data, axis=0))
    # Fewer distinct vectors than k leaves clusters empty: reported through ``distinct``.
    with threadpool_limits(limits=1), ignoring(ConvergenceWarning):
        model = KMeans(n_clusters=k, n_init=n_init, random_state=seed, algorithm="lloyd").fit(scaled)
    raw_labels = np.asarray(model.labels_, dtype=np.intp)
    raw_centers = np.asarray(model.cluster_centers_, dtype=np.float64)
    distances = np.sqrt(((scaled - raw_centers[raw_labels]) ** 2).sum(axis=1))
    return _numbered(raw_labels, distances, raw_centers, mean, scale, distinct)


#: Passes of :func:`cluster_in_batches` over the shuffled vectors. On the digits at
#: ``batch_size=1024`` more passes move the accuracy by at most 0.002 (docs/classify.md).
STREAM_EPOCHS = 3

#: ``rows(indices)``: the feature vectors at ``indices`` (ascending) as an ``(len, d)`` array.
RowReader = Callable[[NDArray[np.intp]], NDArray[np.float64]]


def cluster_in_batches(
    rows: RowReader,
    count: int,
    *,
    k: int,
    batch_size: int,
    seed: int = 0,
    n_init: int = DEFAULT_N_INIT,
    standardize: bool = False,
    epochs: int = STREAM_EPOCHS,
) -> Clustering:
    """k-means of ``count`` feature vectors read through ``rows``, never more than
    ``batch_size`` of them at a time: scikit-learn's ``MiniBatchKMeans``, fed by ``partial_fit``.

    1. With ``standardize``, the mean and spread of every feature, from two passes in order.
    2. ``epochs`` times, the vectors in a seeded random order (the same for any reading order),
       in batches of ``batch_size``; the first batch seeds the centres by ``KMeans`` (k-means++,
       ``n_init`` restarts), each batch is one ``partial_fit`` step.
    3. One pass in order: each vector's nearest centre and distance (the final centres, as
       :func:`cluster_features` reports them); ``distinct`` is counted up to ``k`` only.

    Clusters are numbered as :func:`cluster_features` numbers them. Deterministic for the same
    vectors, options and seed.

    Raises
    ------
    ValueError
        ``k`` below 1 or above ``count``, ``batch_size`` below ``k``, non-finite features.
    """
    from threadpoolctl import threadpool_limits

    if not 1 <= k <= count:
        raise ValueError(f"k={k} needs between 1 and {count} clusters (one per image at most)")
    if batch_size < k:
        raise ValueError(f"batch_size must be at least k ({k}), got {batch_size}")
    with threadpool_limits(limits=1):
        mean, scale = _streamed_scaling(rows, count, batch_size, standardize=standardize)

        def scaled(indices: NDArray[np.intp]) -> NDArray[np.float64]:
            data = np.asarray(rows(indices), dtype=np.float64)
            if not np.isfinite(data).all():
                raise ValueError("features must be finite")
            return (data - mean) / scale

        centers = _minibatch_centers(scaled, count, k, batch_size, seed, n_init, epochs)
        labels, distances, distinct = _assign_in_batches(scaled, count, centers, batch_size, k)
    return _numbered(labels, distances, centers, mean, scale, distinct)


def _batches(count: int, size: int) -> list[NDArray[np.intp]]:
    return [np.arange(start, min(count, start + size), dtype=np.intp) for start in range(0, count, size)]


def _streamed_scaling(
    rows: RowReader, count: int, batch_size: int, *, standardize: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if not standardize:
        width = rows(np.zeros(1, dtype=np.intp)).shape[1]
        return np.zeros(width), np.ones(width)
    total = sum(rows(batch).sum(axis=0) for batch in _batches(count, batch_size))
    mean = np.asarray(total, dtype=np.float64) / count
    squares = sum(((rows(batch) - mean) ** 2).sum(axis=0) for batch in _batches(count, batch_size))
    spread = np.sqrt(np.asarray(squares, dtype=np.float64) / count)
    return mean, np.where(spread > 1e-12, spread, 1.0)


def _minibatch_centers(
    scaled: RowReader, count: int, k: int, batch_size: int, seed: int, n_init: int, epochs: int
) -> NDArray[np.float64]:
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.exceptions import ConvergenceWarning

    order = np.random.default_rng(seed)
    model = None
    with ignoring(ConvergenceWarning):
        for _ in range(epochs):
            shuffled = order.permutation(count)
            for start in range(0, count, batch_size):
                batch = scaled(np.sort(shuffled[start : start + batch_size]))
                if model is None:
                    first = KMeans(n_clusters=k, n_init=n_init, random_state=seed, algorithm="lloyd")
                    start_centers = first.fit(batch).cluster_centers_
                    model = MiniBatchKMeans(
                        n_clusters=k,
                        init=start_centers,
                        n_init=1,
                        batch_size=batch_size,
                        random_state=seed,
                        compute_labels=False,
                    )
                model.partial_fit(batch)
    assert model is not None
    return np.asarray(model.cluster_centers_, dtype=np.float64)


def _assign_in_batches(
    scaled: RowReader, count: int, centers: NDArray[np.float64], batch_size: int, k: int
) -> tuple[NDArray[np.intp], NDArray[np.float64], int]:
    """Each vector's nearest centre and distance, in order; distinct vectors counted up to k."""
    labels = np.empty(count, dtype=np.intp)
    distances = np.empty(count, dtype=np.float64)
    seen: set[bytes] = set()
    norms = (centers**2).sum(axis=1)
    for batch in _batches(count, batch_size):
        data = scaled(batch)
        # |x - c|^2 up to |x|^2, which is the same for every centre: a (batch, k) matrix.
        nearest = np.argmin(norms[None, :] - 2.0 * (data @ centers.T), axis=1)
        labels[batch] = nearest
        distances[batch] = np.sqrt(((data - centers[nearest]) ** 2).sum(axis=1))
        for row in np.unique(data, axis=0) if len(seen) < k else ():
            if len(seen) >= k:
                break
            seen.add(row.tobytes())
    return labels, distances, len(seen)


def _numbered(
    raw_labels: NDArray[np.intp],
    distances: NDArray[np.float64],
    raw_centers: NDArray[np.float64],
    mean: NDArray[np.float64],
    scale: NDArray[np.float64],
    distinct: int,
) -> Clustering:
    """A :class:`Clustering` with clusters numbered by decreasing size (see :func:`_size_order`)."""
    k = len(raw_centers)
    order = _size_order(raw_labels, k)
    remap = np.empty(k, dtype=np.intp)
    remap[order] = np.arange(k)
    labels = remap[raw_labels]
    return Clustering(
        labels=labels,
        distances=distances,
        centers=raw_centers[order] * scale + mean,
        sizes=np.bincount(labels, minlength=k).astype(np.int64),
        inertia=float((distances**2).sum()),
        distinct=distinct,
    )


def _scaling(
    data: NDArray[np.float64], *, standardize: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    width = data.shape[1]
    if not standardize:
        return np.zeros(width), np.ones(width)
    mean = data.mean(axis=0)
    spread = data.std(axis=0)
    # A feature that never varies (a digit's always-black corner) carries no information.
    return mean, np.where(spread > 1e-12, spread, 1.0)


def _size_order(labels: NDArray[np.intp], k: int) -> NDArray[np.intp]:
    """k-means' cluster numbers sorted by decreasing size, ties by first member (empty last)."""
    sizes = np.bincount(labels, minlength=k)
    first = np.full(k, len(labels), dtype=np.intp)
    np.minimum.at(first, labels, np.arange(len(labels)))
    return np.lexsort((np.arange(k), first, -sizes)).astype(np.intp)


# ----------------------------------------------------------------------------- evaluation


@frozen
class Evaluation:
    """Clusters against known labels (only images with a label count).

    ``mapping`` gives each non-empty cluster its majority label (ties: the smallest label in
    natural order); ``majority`` how many of its labelled members carry that label.
    """

    labelled: int
    accuracy: float
    adjusted_rand_index: float
    normalized_mutual_information: float
    mapping: dict[int, str] = field(default_factory=dict)
    majority: dict[int, int] = field(default_factory=dict)
    classes: int = 0


def evaluate(clusters: Sequence[int] | NDArray[np.intp], truth: Sequence[str]) -> Evaluation:
    """Majority-label accuracy, adjusted Rand index and normalized mutual information.

    ``clusters`` and ``truth`` are parallel: the cluster and true label of each labelled image.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    cluster_ids = [int(c) for c in clusters]
    if len(cluster_ids) != len(truth):
        raise ValueError("clusters and truth must have the same length")
    if not cluster_ids:
        raise ValueError("no labelled image to evaluate")
    by_cluster: dict[int, Counter[str]] = {}
    for cluster, label in zip(cluster_ids, truth, strict=True):
        by_cluster.setdefault(cluster, Counter())[label] += 1
    mapping: dict[int, str] = {}
    majority: dict[int, int] = {}
    for cluster in sorted(by_cluster):
        label, count = min(by_cluster[cluster].items(), key=lambda item: (-item[1], natural_key(item[0])))
        mapping[cluster] = label
        majority[cluster] = count
    return Evaluation(
        labelled=len(cluster_ids),
        accuracy=sum(majority.values()) / len(cluster_ids),
        adjusted_rand_index=float(adjusted_rand_score(list(truth), cluster_ids)),
        normalized_mutual_information=float(normalized_mutual_info_score(list(truth), cluster_ids)),
        mapping=mapping,
        majority=majority,
        classes=len(set(truth)),
    )


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting ``2`` before ``10`` (numbers compare as numbers, the rest as text)."""
    parts = re.split(r"(\d+)", text)
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts if part)


# ----------------------------------------------------------------------------- labels file


def parse_labels_csv(text: str) -> list[tuple[str, str]]:
    """``(file, label)`` rows of a labels CSV: two columns, an optional ``file,label`` header,
    blank lines ignored. Raises :class:`InputError` naming the first bad line."""
    rows: list[tuple[str, str]] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            raise InputError(f"line {number}: expected 'file,label'")
        if number == 1 and (cells[0].lower(), cells[1].lower()) in _HEADERS:
            continue
        rows.append((cells[0], cells[1]))
    if not rows:
        raise InputError("no 'file,label' rows")
    return rows


_HEADERS = {("file", "label"), ("path", "label"), ("filename", "label"), ("image", "label")}


def match_labels(rows: Sequence[tuple[str, str]], *, base: Path, inputs: Sequence[str]) -> dict[int, str]:
    """Label of each input (by index) that the rows name.

    A row's file is a path relative to ``base`` (the labels file's folder) or absolute; a row
    that is a bare file name and names no input by path matches the input of that name when
    exactly one input has it. A file given two different labels raises :class:`InputError`.
    """
    by_path = {_canonical(Path(source)): index for index, source in enumerate(inputs)}
    names: dict[str, list[int]] = {}
    for index, source in enumerate(inputs):
        names.setdefault(Path(source).name, []).append(index)
    found: dict[int, str] = {}
    for name, label in rows:
        path = Path(name) if Path(name).is_absolute() else base / name
        matched = by_path.get(_canonical(path))
        if matched is None:
            same_name = names.get(name, []) if Path(name).name == name else []
            if len(same_name) != 1:
                continue
            matched = same_name[0]
        index = matched
        if found.get(index, label) != label:
            raise InputError(f"{inputs[index]} has two labels: {found[index]!r} and {label!r}")
        found[index] = label
    return found


def _canonical(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))

"""Image segmentation by k-means: labels, masks, a background cut-out and contours.

The method is the seed tutorial's "background removal by image segmentation": smooth the image,
shrink it, cluster its pixels into k groups; one group is the background, the rest the object.
kmimg adds what makes the result usable:

1. **Smooth** the whole image with a Gaussian of ``sigma`` pixels (of the original image), per
   RGB channel, so texture and noise do not split a region.
2. Optionally **flatten** uneven lighting (``flatten > 0``): a background estimate -- a grey-level
   opening (bright objects) or closing (dark objects) with a square window of ``flatten`` times the
   longest side, then blurred -- is subtracted from every channel. Which of the two is chosen by
   the image border: a border darker than the image means bright objects on a dark ground.
3. **Features**: the colour in CIELAB (or RGB) and, with ``spatial > 0``, the pixel position
   scaled so that the longest side spans ``spatial`` times the full lightness range (100 L* in
   Lab, 255 in RGB) -- the compactness trade-off of SLIC (Achanta et al. 2012).
4. **Fit** scikit-learn's ``KMeans`` (seeded, several initialisations) on the smoothed image
   shrunk so its longest side is at most ``max_side`` pixels (area-averaged with anti-aliasing).
5. **Assign every original pixel** to its nearest centre, from the full-resolution smoothed
   features: labels, masks and cut-out have the input's exact size and line up with it.
6. Optional **clean-up** (``min_region``): every 8-connected region (of any cluster) smaller
   than ``min_region`` pixels takes the label of the nearest pixels outside it, so specks vanish
   and small holes in the foreground are filled.
7. **Order** clusters by descending pixel count (ties: darker mean colour first, then the
   k-means index); cluster ``i`` is label ``i`` everywhere (label map, mask file names, JSON).
8. **Background**: the cluster holding most of the one-pixel image border (``auto``), the
   darkest or lightest cluster by mean L*, or clusters chosen by index.

Determinism: the same pixels and options give the same labels, whatever the number of threads.
Alpha is not a feature: pixels are clustered by colour only; the cut-out keeps the input's alpha
on foreground pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kmimg.cluster import build_color_table, nearest_center
from kmimg.colorspace import rgb_to_lab
from kmimg.types import ColorSpace

MIN_K = 2
#: Labels are one byte; beyond a few dozen clusters k-means stops being a segmentation.
MAX_K = 64
DEFAULT_SIGMA = 2.0
DEFAULT_MAX_SIDE = 256
#: Initialisations of the k-means fit; the best (lowest inertia) wins.
_N_INIT = 4
_ROW_BLOCK_PIXELS = 1 << 18
#: Candidate contour colours, the most distant from every cluster's mean colour is used.
CONTOUR_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 255),
)
BACKGROUND_RULES = ("auto", "dark", "light")


@dataclass(frozen=True)
class SegmentOptions:
    """Options of one segmentation; the defaults are the CLI's defaults.

    ``background`` is ``"auto"``, ``"dark"``, ``"light"`` or cluster indices such as ``"0"``
    or ``"0,2"`` (see :func:`parse_background`).
    """

    k: int = 2
    sigma: float = DEFAULT_SIGMA
    max_side: int = DEFAULT_MAX_SIDE
    spatial: float = 0.0
    space: ColorSpace = ColorSpace.LAB
    flatten: float = 0.0
    min_region: int = 0
    background: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if not MIN_K <= self.k <= MAX_K:
            raise ValueError(f"k must be between {MIN_K} and {MAX_K}, got {self.k}")
        if self.sigma < 0:
            raise ValueError("sigma must be 0 (no smoothing) or positive")
        if self.max_side < 0 or 0 < self.max_side < 8:
            raise ValueError("max-side must be 0 (fit at full size) or at least 8")
        if self.spatial < 0:
            raise ValueError("spatial weight must be 0 or positive")
        if not 0.0 <= self.flatten <= 1.0:
            raise ValueError("flatten must be between 0 (off) and 1")
        if self.min_region < 0:
            raise ValueError("min-region must be 0 (off) or positive")
        parse_background(self.background, self.k)


@dataclass(frozen=True)
class BoundingBox:
    """Smallest axis-aligned box holding a cluster's pixels (x, y of the top-left pixel)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class ClusterStats:
    """What the JSON says about one cluster (``index`` is its label value)."""

    index: int
    pixels: int
    fraction: float
    rgb: tuple[int, int, int]
    lightness: float
    border_share: float
    background: bool
    bbox: BoundingBox | None
    regions: int


@dataclass(frozen=True)
class Segmentation:
    """A segmented image.

    ``labels`` ``(h, w)`` uint8 holds cluster indices in the documented order (descending pixel
    count); ``colors`` ``(k, 3)`` the mean original colour of each cluster (black if empty);
    ``background`` the background cluster indices.
    """

    labels: NDArray[np.uint8]
    colors: NDArray[np.uint8]
    background: tuple[int, ...]
    clusters: tuple[ClusterStats, ...]
    fit_shape: tuple[int, int]
    regions_merged: int = 0
    pixels_changed: int = 0
    options: SegmentOptions = field(default_factory=SegmentOptions)

    @property
    def k(self) -> int:
        return len(self.colors)

    @property
    def foreground(self) -> NDArray[np.bool_]:
        """True where the pixel belongs to a non-background cluster."""
        return ~np.isin(self.labels, np.array(self.background, dtype=np.uint8))

    def mask(self, index: int) -> NDArray[np.bool_]:
        """True where the pixel belongs to cluster ``index``."""
        return np.asarray(self.labels == index)


def parse_background(text: str, k: int) -> str | tuple[int, ...]:
    """``auto``/``dark``/``light``, or comma-separated cluster indices below ``k``.

    Raises ``ValueError`` for anything else, for an index out of range, or for a choice that
    would leave no foreground cluster.
    """
    rule = text.strip().lower()
    if rule in BACKGROUND_RULES:
        return rule
    try:
        indices = tuple(sorted({int(part) for part in rule.split(",")}))
    except ValueError:
        raise ValueError(
            f"background must be auto, dark, light or cluster indices like 0 or 0,2; got {text!r}"
        ) from None
    if any(not 0 <= i < k for i in indices):
        raise ValueError(f"background cluster indices must be between 0 and {k - 1}, got {text!r}")
    if len(indices) >= k:
        raise ValueError("background cannot be every cluster: nothing would be left")
    return indices


def segment(
    rgb: NDArray[np.uint8],
    options: SegmentOptions | None = None,
) -> Segmentation:
    """Segment an RGB image into ``options.k`` clusters (see the module docstring).

    Parameters
    ----------
    rgb
        ``(h, w, 3)`` uint8 image (grey images are given as three equal channels).
    options
        :class:`SegmentOptions`; the defaults when omitted.

    Returns
    -------
    Segmentation
        Full-resolution labels in the documented cluster order, with per-cluster statistics.
    """
    options = options or SegmentOptions()
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("rgb must be an (h, w, 3) uint8 array")
    smoothed = smooth(rgb, options.sigma)
    fit_image = shrink(smoothed, options.max_side)
    lighting: NDArray[np.float32] | None = None
    level: NDArray[np.float32] | None = None
    if options.flatten > 0:
        lighting_small = estimate_lighting(fit_image, options.flatten)
        level = lighting_small.reshape(-1, 3).mean(axis=0)
        fit_image = _flattened(fit_image, lighting_small, level)
        lighting = _enlarge(lighting_small, rgb.shape[:2])
    centers = fit_centers(fit_image, options, full_shape=rgb.shape[:2])
    raw = assign_labels(smoothed, centers, options, lighting=lighting, level=level)
    cleaned, merged = remove_small_regions(raw, options.min_region)
    labels, colors = _order_clusters(cleaned, rgb, options.k)
    background = choose_background(labels, colors, options.background)
    return Segmentation(
        labels=labels,
        colors=colors,
        background=background,
        clusters=cluster_stats(labels, colors, background),
        fit_shape=(int(fit_image.shape[0]), int(fit_image.shape[1])),
        regions_merged=merged,
        pixels_changed=int(np.count_nonzero(raw != cleaned)),
        options=options,
    )


# ----------------------------------------------------------------------------- pre-processing


def smooth(rgb: NDArray[np.uint8], sigma: float) -> NDArray[np.float32]:
    """Gaussian blur of each channel (``sigma`` in pixels; 0 = none), as float32 in 0..255."""
    from scipy import ndimage

    image = rgb.astype(np.float32)
    if sigma <= 0:
        return image
    result: NDArray[np.float32] = ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest")
    return result


def shrink(image: NDArray[np.float32], max_side: int) -> NDArray[np.float32]:
    """Resize so the longest side is at most ``max_side`` (0 = unchanged) by area averaging."""
    height, width = image.shape[:2]
    longest = max(height, width)
    if max_side <= 0 or longest <= max_side:
        return image
    from PIL import Image

    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Area averaging (Pillow's box filter on float planes): every original pixel counts once.
    planes = [
        np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c])).resize(size, Image.Resampling.BOX))
        for c in range(image.shape[2])
    ]
    return np.stack(planes, axis=-1).astype(np.float32)


def estimate_lighting(image: NDArray[np.float32], fraction: float) -> NDArray[np.float32]:
    """Large-scale lighting of ``image``: an opening (bright objects) or closing (dark objects)
    with a square window of ``fraction`` x the longest side, then a Gaussian blur.

    The polarity comes from the one-pixel border, taken to be background: darker than the
    whole image means bright objects.
    """
    from scipy import ndimage

    height, width = image.shape[:2]
    size = max(3, round(fraction * max(height, width)))
    grey = image.mean(axis=2)
    bright_objects = float(grey[_border_pixels(grey)].mean()) <= float(grey.mean())
    morph = ndimage.grey_opening if bright_objects else ndimage.grey_closing
    planes = [morph(image[..., c], size=(size, size), mode="nearest") for c in range(image.shape[2])]
    lighting = np.stack(planes, axis=-1)
    blurred = ndimage.gaussian_filter(lighting, sigma=(size / 2, size / 2, 0), mode="nearest")
    return np.asarray(blurred, dtype=np.float32)


def _flattened(
    image: NDArray[np.float32], lighting: NDArray[np.float32], level: NDArray[np.float32]
) -> NDArray[np.float32]:
    # Add back the lighting's mean level so that colours stay in range and Lab stays meaningful.
    flat: NDArray[np.float32] = np.clip(image - lighting + level, 0.0, 255.0).astype(np.float32)
    return flat


def _enlarge(image: NDArray[np.float32], shape: tuple[int, ...]) -> NDArray[np.float32]:
    if image.shape[:2] == tuple(shape[:2]):
        return image
    from skimage.transform import resize

    target = (int(shape[0]), int(shape[1]), image.shape[2])
    return np.asarray(resize(image, target, order=1, preserve_range=True), dtype=np.float32)  # type: ignore[no-untyped-call]


def _border_pixels(image: NDArray[np.generic]) -> NDArray[np.bool_]:
    frame = np.zeros(image.shape[:2], dtype=bool)
    frame[0, :] = frame[-1, :] = frame[:, 0] = frame[:, -1] = True
    return frame


# ----------------------------------------------------------------------------- clustering


def features(
    rgb: NDArray[np.floating],
    rows: NDArray[np.floating] | None,
    cols: NDArray[np.floating] | None,
    options: SegmentOptions,
    *,
    longest: int,
) -> NDArray[np.float64]:
    """Clustering features of ``(n, 3)`` colours at positions ``rows``, ``cols`` (pixels of an
    image whose longest side is ``longest``); positions are ignored when ``spatial`` is 0."""
    colour = rgb_to_lab(rgb) if options.space is ColorSpace.LAB else np.asarray(rgb, dtype=np.float64)
    if options.spatial <= 0 or rows is None or cols is None:
        return colour
    span = 100.0 if options.space is ColorSpace.LAB else 255.0
    scale = options.spatial * span / max(longest, 1)
    return np.column_stack([colour, rows * scale, cols * scale])


def fit_centers(
    fit_image: NDArray[np.float32], options: SegmentOptions, *, full_shape: tuple[int, ...]
) -> NDArray[np.float64]:
    """k-means centres (``(k, d)`` features) fitted on the shrunk smoothed image.

    Positions are measured in original-image pixels so the centres apply at full size.
    """
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    fh, fw = fit_image.shape[:2]
    full_h, full_w = int(full_shape[0]), int(full_shape[1])
    rows, cols = np.mgrid[0:fh, 0:fw]
    # Centre of each shrunk pixel in original coordinates.
    rows_full = (rows.ravel() + 0.5) * (full_h / fh) - 0.5
    cols_full = (cols.ravel() + 0.5) * (full_w / fw) - 0.5
    x = features(fit_image.reshape(-1, 3), rows_full, cols_full, options, longest=max(full_h, full_w))
    # One thread: the fit has at most max_side^2 points, where OpenMP start-up and, on a busy
    # machine, waiting for a second core cost more than the work (measured 5x slower).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # Fewer distinct pixels than k (a flat image) leaves duplicate centres: those clusters
        # simply stay empty.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = KMeans(n_clusters=min(options.k, len(x)), n_init=_N_INIT, random_state=options.seed).fit(x)
    centers = np.asarray(model.cluster_centers_, dtype=np.float64)
    # An image with fewer pixels than k: the missing clusters repeat a centre and stay empty.
    missing = options.k - len(centers)
    return np.vstack([centers, np.repeat(centers[-1:], missing, axis=0)]) if missing else centers


def assign_labels(
    smoothed: NDArray[np.float32],
    centers: NDArray[np.float64],
    options: SegmentOptions,
    *,
    lighting: NDArray[np.float32] | None = None,
    level: NDArray[np.float32] | None = None,
) -> NDArray[np.uint8]:
    """Nearest centre of every full-resolution pixel (``lighting`` is subtracted first).

    Colour-only features depend on the colour alone, so the smoothed colours are rounded to
    8 bits and each distinct colour is assigned once (a photo has far fewer distinct colours than
    pixels); with position features every pixel is assigned, in blocks of rows to bound memory.
    """
    height, width = smoothed.shape[:2]
    labels = np.empty((height, width), dtype=np.uint8)
    colours = np.empty((height, width, 3), dtype=np.uint8) if options.spatial <= 0 else None
    if lighting is not None and level is None:
        level = lighting.reshape(-1, 3).mean(axis=0)
    step = max(1, _ROW_BLOCK_PIXELS // max(width, 1))
    for top in range(0, height, step):
        block = smoothed[top : top + step]
        if lighting is not None and level is not None:
            block = _flattened(block, lighting[top : top + step], level)
        if colours is not None:
            colours[top : top + step] = np.rint(np.clip(block, 0.0, 255.0))
            continue
        rows, cols = np.mgrid[top : top + block.shape[0], 0:width]
        x = features(block.reshape(-1, 3), rows.ravel(), cols.ravel(), options, longest=max(height, width))
        labels[top : top + step] = nearest_center(x, centers).reshape(block.shape[:2]).astype(np.uint8)
    if colours is None:
        return labels
    table = build_color_table(colours.reshape(-1, 3))
    colour_features = features(table.colors.astype(np.float64), None, None, options, longest=1)
    per_colour = nearest_center(colour_features, centers)
    return np.asarray(table.spread(per_colour.astype(np.uint8)), dtype=np.uint8).reshape(height, width)


# ----------------------------------------------------------------------------- clean-up


def remove_small_regions(labels: NDArray[np.uint8], min_region: int) -> tuple[NDArray[np.uint8], int]:
    """Give every 8-connected region smaller than ``min_region`` pixels the label of the nearest
    pixel outside all such regions; returns the new labels and the number of regions merged.

    When every region is small the largest one is kept, so something always remains.
    """
    if min_region <= 1:
        return labels, 0
    from scipy import ndimage
    from skimage.measure import label as connected

    regions = connected(labels.astype(np.int16), background=-1, connectivity=2)  # type: ignore[no-untyped-call]
    sizes = np.bincount(regions.ravel())
    small = sizes < min_region
    small[0] = False  # region ids start at 1
    if bool(small[1:].all()):
        small[int(np.argmax(sizes[1:])) + 1] = False
    removed = small[regions]
    if not removed.any():
        return labels, 0
    _, (near_rows, near_cols) = ndimage.distance_transform_edt(removed, return_indices=True)
    return labels[near_rows, near_cols].astype(np.uint8), int(small.sum())


# ----------------------------------------------------------------------------- ordering, stats


def _order_clusters(
    labels: NDArray[np.uint8], rgb: NDArray[np.uint8], k: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Renumber clusters by descending pixel count (ties: darker first, then old index);
    returns the labels and each cluster's mean original colour."""
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=k)
    pixels = rgb.reshape(-1, 3).astype(np.float64)
    sums = np.stack([np.bincount(flat, weights=pixels[:, c], minlength=k) for c in range(3)], axis=1)
    means = sums / np.maximum(counts, 1)[:, None]
    lightness = rgb_to_lab(means)[:, 0]
    order = np.lexsort((np.arange(k), lightness, -counts))
    new_index = np.empty(k, dtype=np.uint8)
    new_index[order] = np.arange(k, dtype=np.uint8)
    colors = np.clip(np.rint(means[order]), 0, 255).astype(np.uint8)
    return new_index[labels], colors


def border_shares(labels: NDArray[np.uint8], k: int) -> NDArray[np.float64]:
    """Fraction of the one-pixel image border in each cluster (sums to 1)."""
    frame = labels[_border_pixels(labels)]
    return np.asarray(np.bincount(frame, minlength=k) / max(frame.size, 1), dtype=np.float64)


def choose_background(labels: NDArray[np.uint8], colors: NDArray[np.uint8], rule: str) -> tuple[int, ...]:
    """Background cluster indices under ``rule`` (see :func:`parse_background`).

    ``auto``: the cluster with the largest border share (ties: more pixels, i.e. lower index).
    ``dark``/``light``: the non-empty cluster with the lowest/highest mean L*.
    """
    k = len(colors)
    parsed = parse_background(rule, k)
    if isinstance(parsed, tuple):
        return parsed
    if parsed == "auto":
        return (int(np.argmax(border_shares(labels, k))),)
    counts = np.bincount(labels.ravel(), minlength=k)
    lightness = rgb_to_lab(colors.astype(np.float64))[:, 0]
    candidates = np.flatnonzero(counts > 0)
    pick = np.argmin if parsed == "dark" else np.argmax
    return (int(candidates[pick(lightness[candidates])]),)


def cluster_stats(
    labels: NDArray[np.uint8], colors: NDArray[np.uint8], background: tuple[int, ...]
) -> tuple[ClusterStats, ...]:
    """Pixel count and fraction, mean colour and L*, border share, background flag, bounding
    box and number of 8-connected regions of every cluster."""
    from skimage.measure import label as connected

    k = len(colors)
    counts = np.bincount(labels.ravel(), minlength=k)
    shares = border_shares(labels, k)
    lightness = rgb_to_lab(colors.astype(np.float64))[:, 0]
    regions = connected(labels.astype(np.int16), background=-1, connectivity=2)  # type: ignore[no-untyped-call]
    first_label = np.zeros(int(regions.max()) + 1, dtype=np.int64)
    first_label[regions.ravel()] = labels.ravel()
    region_counts = np.bincount(first_label[1:], minlength=k)
    total = max(labels.size, 1)
    stats = []
    for i in range(k):
        r, g, b = (int(v) for v in colors[i])
        stats.append(
            ClusterStats(
                index=i,
                pixels=int(counts[i]),
                fraction=float(counts[i]) / total,
                rgb=(r, g, b),
                lightness=float(lightness[i]),
                border_share=float(shares[i]),
                background=i in background,
                bbox=_bounding_box(labels == i),
                regions=int(region_counts[i]),
            )
        )
    return tuple(stats)


def _bounding_box(mask: NDArray[np.bool_]) -> BoundingBox | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return BoundingBox(
        x=int(cols[0]),
        y=int(rows[0]),
        width=int(cols[-1] - cols[0] + 1),
        height=int(rows[-1] - rows[0] + 1),
    )


def count_regions(mask: NDArray[np.bool_]) -> int:
    """Number of 8-connected regions of True pixels."""
    from skimage.measure import label as connected

    return int(connected(mask, background=0, connectivity=2).max())  # type: ignore[no-untyped-call]


# ----------------------------------------------------------------------------- rendering


def segmented_image(segmentation: Segmentation) -> NDArray[np.uint8]:
    """Every pixel replaced by its cluster's mean colour, ``(h, w, 3)``."""
    return np.asarray(segmentation.colors[segmentation.labels], dtype=np.uint8)


def mask_image(segmentation: Segmentation, index: int) -> NDArray[np.uint8]:
    """Cluster ``index`` as an 8-bit mask: 255 inside, 0 outside."""
    return np.where(segmentation.labels == index, 255, 0).astype(np.uint8)


def cutout_image(
    rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None, segmentation: Segmentation
) -> NDArray[np.uint8]:
    """RGBA image: foreground pixels as in the input (with its alpha), background fully
    transparent with colour 0 (nothing hidden under alpha 0)."""
    foreground = segmentation.foreground
    opacity = np.full(rgb.shape[:2], 255, dtype=np.uint8) if alpha is None else alpha
    out = np.zeros((*rgb.shape[:2], 4), dtype=np.uint8)
    out[..., :3] = np.where(foreground[..., None], rgb, 0)
    out[..., 3] = np.where(foreground, opacity, 0)
    return out


def contour_color(segmentation: Segmentation) -> tuple[int, int, int]:
    """The candidate colour farthest (in RGB) from every cluster's mean colour."""
    used = segmentation.colors[np.bincount(segmentation.labels.ravel(), minlength=segmentation.k) > 0]
    candidates = np.array(CONTOUR_COLORS, dtype=np.float64)
    distance = np.linalg.norm(candidates[:, None, :] - used[None, :, :].astype(np.float64), axis=2)
    best = int(np.argmax(distance.min(axis=1)))
    r, g, b = CONTOUR_COLORS[best]
    return r, g, b


def contour_image(
    rgb: NDArray[np.uint8],
    segmentation: Segmentation,
    color: tuple[int, int, int] | None = None,
) -> NDArray[np.uint8]:
    """The input with the boundaries between clusters drawn in ``color`` (automatic if None).

    Lines are two pixels wide (both sides of a boundary), one more per 800 pixels of the
    longest side so that they stay visible on large photos.
    """
    from scipy import ndimage
    from skimage.segmentation import find_boundaries

    edges = find_boundaries(segmentation.labels, connectivity=1, mode="thick")  # type: ignore[no-untyped-call]
    extra = max(rgb.shape[:2]) // 800
    if extra:
        edges = ndimage.binary_dilation(edges, iterations=extra)
    out = rgb.copy()
    out[edges] = np.array(color or contour_color(segmentation), dtype=np.uint8)
    return out

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
4. **Fit** k-means (seeded, several initialisations) on the smoothed image shrunk so its longest
   side is at most ``max_side`` pixels (area-averaged): exact k-means in numpy up to
   :data:`EXACT_FIT_PIXELS` points, scikit-learn's ``MiniBatchKMeans`` beyond (``max_side`` 0).
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

Alpha is not a feature: visible pixels are clustered by colour only and the cut-out keeps the
input's alpha on foreground pixels. Pixels with alpha 0 take no part in the smoothing or the fit:
they form a cluster of their own (one of the k), which is always background; the other k - 1
clusters are fitted on the visible pixels.
"""

from __future__ import annotations

from dataclasses import field

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg._threads import ordered_map, pieces
from kmimg.colorfit import nearest_center, weighted_kmeans
from kmimg.colorspace import rgb_to_lab, unpack_colors
from kmimg.notes import ignoring
from kmimg.options import SegmentOptions as SegmentOptions
from kmimg.options import parse_background
from kmimg.types import ColorSpace

MIN_K = SegmentOptions.MIN_K
MAX_K = SegmentOptions.MAX_K
#: Initialisations of the k-means fit; the best (lowest inertia) wins.
_N_INIT = 4
#: Fit sets up to this many points get exact k-means; larger ones (``max_side`` 0 on anything
#: over 512 x 512) get MiniBatchKMeans.
EXACT_FIT_PIXELS = 512 * 512
#: Lloyd stops when the centres move less than this fraction of the data's variance
#: (scikit-learn's ``tol``), after at most _MAX_ITER passes.
_TOL = 1e-4
_MAX_ITER = 300
#: Points per mini-batch (larger than scikit-learn's 1024 for a steadier fit) and batches.
_BATCH_SIZE = 4096
_STEPS = 128
#: Points of the exact fit that starts MiniBatchKMeans (the default fit's 256 x 256).
_INIT_SAMPLE = 1 << 16
_ROW_BLOCK_PIXELS = 1 << 18
#: From this many pixels distinct colours are found with a 2^24-entry table, not a sort.
_LOOKUP_MIN_PIXELS = 1 << 17
_NO_LABELS = np.zeros(0, dtype=np.uint8)
#: Candidate contour colours, the most distant from every cluster's mean colour is used.
CONTOUR_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 255),
)


@frozen
class BoundingBox:
    """Smallest axis-aligned box holding a cluster's pixels (x, y of the top-left pixel)."""

    x: int
    y: int
    width: int
    height: int


@frozen
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
    #: 8-connected regions of the cluster; None when not counted (``segment(count_regions=False)``).
    regions: int | None
    transparent: bool = False


@frozen
class Segmentation:
    """A segmented image.

    ``labels`` ``(h, w)`` uint8 holds cluster indices in the documented order (descending pixel
    count); ``colors`` ``(k, 3)`` the mean original colour of each cluster (black if empty);
    ``background`` the background cluster indices; ``transparent`` the cluster of the pixels
    with alpha 0 (None when there are none).
    """

    labels: NDArray[np.uint8]
    colors: NDArray[np.uint8]
    background: tuple[int, ...]
    clusters: tuple[ClusterStats, ...]
    fit_shape: tuple[int, int]
    regions_merged: int = 0
    pixels_changed: int = 0
    options: SegmentOptions = field(default_factory=SegmentOptions)
    transparent: int | None = None

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


def segment(
    rgb: NDArray[np.uint8],
    options: SegmentOptions | None = None,
    *,
    alpha: NDArray[np.uint8] | None = None,
    count_regions: bool = True,
) -> Segmentation:
    """Segment an RGB image into ``options.k`` clusters (see the module docstring).

    Parameters
    ----------
    rgb
        ``(h, w, 3)`` uint8 image (grey images are given as three equal channels).
    options
        :class:`SegmentOptions`; the defaults when omitted.
    alpha
        Optional ``(h, w)`` uint8 opacity. Pixels with alpha 0 take no part in the fit and form
        a background cluster of their own (see the module docstring).
    count_regions
        Count each cluster's 8-connected regions (``ClusterStats.regions``; None otherwise): a
        labelling of the whole image, ~0.4 s at 12 megapixels, that only the statistics need.

    Returns
    -------
    Segmentation
        Full-resolution labels in the documented cluster order, with per-cluster statistics.
    """
    options = options or SegmentOptions()
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("rgb must be an (h, w, 3) uint8 array")
    if alpha is not None and alpha.shape != rgb.shape[:2]:
        raise ValueError("alpha must be an (h, w) array of the image's size")
    visible = None if alpha is None or bool(alpha.all()) else np.asarray(alpha > 0)
    # Transparent pixels are one cluster of their own: the fit shares the rest out.
    fitted_k = options.k - (visible is not None)
    smoothed = smooth(rgb, options.sigma, visible=visible)
    fit_image, coverage = shrink(smoothed, options.max_side, visible=visible)
    lighting: NDArray[np.float32] | None = None
    level: NDArray[np.float32] | None = None
    if options.flatten > 0:
        lighting_small = estimate_lighting(fit_image, options.flatten)
        level = lighting_small.reshape(-1, 3).mean(axis=0)
        fit_image = _flattened(fit_image, lighting_small, level)
        lighting = _enlarge(lighting_small, rgb.shape[:2])
    usable = None if coverage is None else coverage >= min(0.5, float(coverage.max()))
    centers = fit_centers(fit_image, options, full_shape=rgb.shape[:2], k=fitted_k, usable=usable)
    raw = assign_labels(smoothed, centers, options, lighting=lighting, level=level, visible=visible)
    cleaned, merged = remove_small_regions(
        raw, options.min_region, keep=None if visible is None else ~visible
    )
    labels, colors, new_index = _order_clusters(cleaned, rgb, options.k)
    transparent = None if visible is None else int(new_index[fitted_k])
    background = choose_background(labels, colors, options.background, transparent=transparent)
    return Segmentation(
        labels=labels,
        colors=colors,
        background=background,
        clusters=cluster_stats(
            labels, colors, background, transparent=transparent, count_regions=count_regions
        ),
        fit_shape=(int(fit_image.shape[0]), int(fit_image.shape[1])),
        regions_merged=merged,
        pixels_changed=int(np.count_nonzero(raw != cleaned)),
        options=options,
        transparent=transparent,
    )


# ----------------------------------------------------------------------------- pre-processing


def smooth(
    rgb: NDArray[np.uint8], sigma: float, *, visible: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """Gaussian blur of each channel (``sigma`` in pixels; 0 = none), as float32 in 0..255.

    With ``visible``, hidden pixels lend no colour to their neighbours (normalised convolution:
    the blur of the visible colours divided by the blur of the visibility).
    """
    from scipy import ndimage

    if sigma <= 0:
        return rgb.astype(np.float32)
    # Stored as three planes and returned as an (h, w, 3) view of them: every channel is one
    # contiguous array for the blur, the shrink and the rounding.
    planes = np.empty((3, *rgb.shape[:2]), dtype=np.float32)
    height, width = rgb.shape[:2]

    # scipy's gaussian_filter is a 1-D pass down the columns (uint8 in, float32 out: the same
    # sums as blurring a float32 copy, without the copy), then one along the rows, in place.
    # Each pass is split into strips across the other axis, which it never mixes: the result is
    # gaussian_filter's to the bit, and 3 channels x 2 strips keep 2 cores equally busy.
    def down(task: tuple[int, int]) -> None:
        c, start = task
        strip = slice(start, start + column_step)
        ndimage.gaussian_filter1d(rgb[:, strip, c], sigma, axis=0, mode="nearest", output=planes[c][:, strip])

    def along(task: tuple[int, int]) -> None:
        c, start = task
        rows = planes[c][start : start + row_step]
        ndimage.gaussian_filter1d(rows, sigma, axis=1, mode="nearest", output=rows)

    column_step = pieces(width, smallest=16, largest=width).step
    row_step = pieces(height, smallest=16, largest=height).step
    ordered_map(down, [(c, start) for c in range(3) for start in range(0, width, column_step)])
    ordered_map(along, [(c, start) for c in range(3) for start in range(0, height, row_step)])
    out: NDArray[np.float32] = np.moveaxis(planes, 0, -1)
    if visible is not None:
        weight = ndimage.gaussian_filter(visible.astype(np.float32), sigma=sigma, mode="nearest")
        np.divide(out, np.maximum(weight, 1e-6)[..., None], out=out)
        np.clip(out, 0.0, 255.0, out=out)
    return out


def shrink(
    image: NDArray[np.float32], max_side: int, *, visible: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """Resize so the longest side is at most ``max_side`` (0 = unchanged) by area averaging.

    Returns the image and, with ``visible``, the visible fraction of each shrunk pixel, whose
    colour is then the mean of its visible pixels only (``None`` without ``visible``).
    """
    height, width = image.shape[:2]
    longest = max(height, width)
    if max_side <= 0 or longest <= max_side:
        return image, None if visible is None else visible.astype(np.float32)
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if visible is None:
        return _box_resize(image, size), None
    weight = visible.astype(np.float32)
    coverage = _box_resize(weight[..., None], size)[..., 0]
    sums = _box_resize(image * weight[..., None], size)
    return np.asarray(sums / np.maximum(coverage, 1e-6)[..., None], dtype=np.float32), coverage


def _box_resize(image: NDArray[np.float32], size: tuple[int, int]) -> NDArray[np.float32]:
    from PIL import Image

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
    rgb: NDArray[np.generic],
    rows: NDArray[np.floating] | None,
    cols: NDArray[np.floating] | None,
    options: SegmentOptions,
    *,
    longest: int,
) -> NDArray[np.float64]:
    """Clustering features of ``(n, 3)`` colours (uint8 or float, 0-255) at positions ``rows``,
    ``cols`` (pixels of an image whose longest side is ``longest``); positions are ignored when
    ``spatial`` is 0."""
    colour = rgb_to_lab(rgb) if options.space is ColorSpace.LAB else np.asarray(rgb, dtype=np.float64)
    if options.spatial <= 0 or rows is None or cols is None:
        return colour
    span = 100.0 if options.space is ColorSpace.LAB else 255.0
    scale = options.spatial * span / max(longest, 1)
    return np.column_stack([colour, rows * scale, cols * scale])


def fit_centers(
    fit_image: NDArray[np.float32],
    options: SegmentOptions,
    *,
    full_shape: tuple[int, ...],
    k: int | None = None,
    usable: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """k-means centres (``(k, d)`` features, ``k`` defaulting to ``options.k``) fitted on the
    shrunk smoothed image, or on its ``usable`` pixels only.

    Positions are measured in original-image pixels so the centres apply at full size. Up to
    :data:`EXACT_FIT_PIXELS` points get exact k-means (:func:`kmeans`); more -- a full-size
    fit, ``max_side`` 0 -- get scikit-learn's ``MiniBatchKMeans`` (:func:`minibatch_kmeans`).
    """
    k = options.k if k is None else k
    x = fit_features(fit_image, options, full_shape=full_shape, usable=usable)
    if len(x) == 0:  # nothing visible: any centres do, no pixel is assigned to them
        return np.zeros((k, x.shape[1]), dtype=np.float64)
    fit = kmeans if len(x) <= EXACT_FIT_PIXELS else minibatch_kmeans
    centers = fit(x, min(k, len(x)), seed=options.seed)
    # An image with fewer pixels than k: the missing clusters repeat a centre and stay empty.
    missing = k - len(centers)
    return np.vstack([centers, np.repeat(centers[-1:], missing, axis=0)]) if missing else centers


def fit_features(
    fit_image: NDArray[np.float32],
    options: SegmentOptions,
    *,
    full_shape: tuple[int, ...],
    usable: NDArray[np.bool_] | None = None,
) -> NDArray[np.floating]:
    """Features of the fit image's (``usable``) pixels: float64 for an exact fit, float32 in
    row blocks for a large one (a 12-megapixel image: 144 MB instead of ~1 GB of temporaries)."""
    fh, fw = fit_image.shape[:2]
    full_h, full_w = int(full_shape[0]), int(full_shape[1])
    longest = max(full_h, full_w)
    width = 3 if options.spatial <= 0 else 5
    chosen = np.ones((fh, fw), dtype=bool) if usable is None else usable
    large = int(np.count_nonzero(chosen)) > EXACT_FIT_PIXELS
    blocks = []
    step = max(1, _ROW_BLOCK_PIXELS // max(fw, 1))
    for top in range(0, fh, step):
        keep = chosen[top : top + step]
        colours = fit_image[top : top + step][keep]
        rows, cols = np.nonzero(keep)
        # Centre of each shrunk pixel in original coordinates.
        rows_full = (rows + top + 0.5) * (full_h / fh) - 0.5
        cols_full = (cols + 0.5) * (full_w / fw) - 0.5
        if large:  # Lab of the 8-bit colours (a table lookup); the labels use them too
            colours = np.rint(np.clip(colours, 0.0, 255.0)).astype(np.uint8)
        block = features(colours, rows_full, cols_full, options, longest=longest)
        blocks.append(block.astype(np.float32) if large else block)
    if not blocks:
        return np.zeros((0, width), dtype=np.float64)
    return np.concatenate(blocks)


def kmeans(x: NDArray[np.floating], k: int, *, seed: int) -> NDArray[np.float64]:
    """Exact k-means of the rows of ``x``: the best (lowest inertia) of :data:`_N_INIT` runs of
    greedy k-means++ seeding and Lloyd passes, by the quantize engine
    (:func:`kmimg.colorfit.weighted_kmeans`), until no centre moves more than scikit-learn's
    tolerance (``_TOL`` of the mean variance, as a squared shift) allows.

    Not scikit-learn: importing ``sklearn.cluster`` costs about a second, ten times this fit on
    the 65,536 pixels of the default fit image.
    """
    points = np.asarray(x, dtype=np.float64)
    tol = float(np.sqrt(_TOL * float(np.mean(np.var(points, axis=0)))))
    distinct = len(np.unique(points, axis=0)) if len(points) <= 4 * k else k
    return weighted_kmeans(points, k=min(k, distinct), seed=seed, starts=_N_INIT, passes=_MAX_ITER, tol=tol)


def minibatch_kmeans(x: NDArray[np.floating], k: int, *, seed: int) -> NDArray[np.float64]:
    """k-means of millions of points: scikit-learn's ``MiniBatchKMeans`` (Sculley 2010), started
    from the exact :func:`kmeans` of a seeded sample of :data:`_INIT_SAMPLE` points, then
    :data:`_STEPS` mini-batches of :data:`_BATCH_SIZE` points drawn uniformly (seeded).

    MiniBatchKMeans's own k-means++ start, judged on a few thousand points, lands in poorer
    optima (7-11 % above KMeans's inertia at k = 5 on china.jpg). The batches are fed through
    ``partial_fit``: ``fit`` draws each batch with ``choice(p=weights)``, which sums all the
    weights again at every step (0.15 s per batch at 12 megapixels). One thread
    (``threadpoolctl``), so the result does not depend on the thread count.
    """
    from sklearn.cluster import MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(len(x), size=min(len(x), _INIT_SAMPLE), replace=False))]
    start = kmeans(sample, k, seed=seed)
    model = MiniBatchKMeans(
        n_clusters=k,
        init=start.astype(x.dtype),
        n_init=1,
        batch_size=_BATCH_SIZE,
        random_state=seed,
        compute_labels=False,  # every pixel is labelled afterwards, from the 8-bit colours
    )
    # Duplicate points leave clusters empty (a RuntimeWarning): dropped in this thread only.
    with ignoring(RuntimeWarning), threadpool_limits(limits=1):
        for _ in range(_STEPS):
            model.partial_fit(x[rng.integers(0, len(x), size=_BATCH_SIZE)])
    return np.asarray(model.cluster_centers_, dtype=np.float64)


def assign_labels(
    smoothed: NDArray[np.float32],
    centers: NDArray[np.float64],
    options: SegmentOptions,
    *,
    lighting: NDArray[np.float32] | None = None,
    level: NDArray[np.float32] | None = None,
    visible: NDArray[np.bool_] | None = None,
) -> NDArray[np.uint8]:
    """Nearest centre of every full-resolution pixel (``lighting`` is subtracted first); pixels
    outside ``visible`` get label ``len(centers)`` (the transparent cluster).

    Colour-only features depend on the colour alone, so the smoothed colours are rounded to
    8 bits and each distinct colour is assigned once (a photo has far fewer distinct colours than
    pixels); with position features every pixel is assigned, in blocks of rows to bound memory.
    """
    height, width = smoothed.shape[:2]
    labels = np.empty((height, width), dtype=np.uint8)
    keys = np.empty((height, width), dtype=np.uint32) if options.spatial <= 0 else None
    if lighting is not None and level is None:
        level = lighting.reshape(-1, 3).mean(axis=0)
    step = max(1, _ROW_BLOCK_PIXELS // max(width, 1))

    def assign_block(top: int) -> None:
        block = smoothed[top : top + step]
        if lighting is not None and level is not None:
            block = _flattened(block, lighting[top : top + step], level)
        if keys is not None:
            keys[top : top + step] = _colour_keys(block)
            return
        rows, cols = np.mgrid[top : top + block.shape[0], 0:width]
        x = features(block.reshape(-1, 3), rows.ravel(), cols.ravel(), options, longest=max(height, width))
        labels[top : top + step] = nearest_center(x, centers).reshape(block.shape[:2]).astype(np.uint8)

    # Blocks write disjoint rows, so threads cannot change the result.
    ordered_map(assign_block, range(0, height, step))
    if keys is not None:
        if visible is None:
            return _label_colours(keys.reshape(-1), centers, options).reshape(height, width)
        labels[visible] = _label_colours(keys[visible], centers, options)
    if visible is not None:
        labels[~visible] = len(centers)
    return labels


def _colour_keys(block: NDArray[np.float32]) -> NDArray[np.uint32]:
    """``0xRRGGBB`` of the rounded colours; float32 holds these integers below 2^24 exactly."""
    rounded = np.rint(np.clip(block, 0.0, 255.0))
    red, green, blue = (rounded[..., c] for c in range(3))
    return ((red * 256.0 + green) * 256.0 + blue).astype(np.uint32)


def _label_colours(
    keys: NDArray[np.uint32], centers: NDArray[np.float64], options: SegmentOptions
) -> NDArray[np.uint8]:
    """Nearest centre of each packed colour, searched once per distinct colour.

    A large image finds its distinct colours by marking them in a 2^24-entry table (16 MB; no
    sort, no counts: ~3x faster than a colour histogram at 12 megapixels) that is then reused
    as the colour -> label lookup.
    """
    if keys.size < _LOOKUP_MIN_PIXELS:
        unique, inverse = np.unique(keys, return_inverse=True)
        return _nearest_of_colours(unique, centers, options)[inverse.reshape(-1)]
    lookup = np.zeros(1 << 24, dtype=np.uint8)
    lookup[keys] = 1
    unique = np.flatnonzero(lookup).astype(np.uint32)
    lookup[unique] = _nearest_of_colours(unique, centers, options)
    return lookup[keys]


def _nearest_of_colours(
    keys: NDArray[np.uint32], centers: NDArray[np.float64], options: SegmentOptions
) -> NDArray[np.uint8]:
    def nearest(start: int) -> NDArray[np.uint8]:
        # 8-bit colours take sRGB -> Lab from a table: equal to the float path within 1e-12.
        colours = unpack_colors(keys[start : start + _ROW_BLOCK_PIXELS], 3)
        x = features(colours, None, None, options, longest=1)
        return nearest_center(x, centers).astype(np.uint8)

    return np.concatenate([*ordered_map(nearest, range(0, len(keys), _ROW_BLOCK_PIXELS)), _NO_LABELS])


# ----------------------------------------------------------------------------- clean-up


def remove_small_regions(
    labels: NDArray[np.uint8], min_region: int, *, keep: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.uint8], int]:
    """Give every 8-connected region smaller than ``min_region`` pixels the label of the nearest
    pixel outside all such regions; returns the new labels and the number of regions merged.

    When every region is small the largest one is kept, so something always remains. Regions
    of ``keep`` pixels (the transparent cluster, whose regions hold nothing else) stay as they are.
    """
    if min_region <= 1:
        return labels, 0
    from scipy import ndimage
    from skimage.measure import label as connected

    regions = connected(labels.astype(np.int16), background=-1, connectivity=2)  # type: ignore[no-untyped-call]
    sizes = np.bincount(regions.ravel())
    small = sizes < min_region
    small[0] = False  # region ids start at 1
    if keep is not None:
        small[np.unique(regions[keep])] = False
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
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Renumber clusters by descending pixel count (ties: darker first, then old index);
    returns the labels, each cluster's mean original colour and the new index of each old one."""
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=k)
    means = _cluster_sums(flat, rgb.reshape(-1, 3), k) / np.maximum(counts, 1)[:, None]
    lightness = rgb_to_lab(means)[:, 0]
    order = np.lexsort((np.arange(k), lightness, -counts))
    new_index = np.empty(k, dtype=np.uint8)
    new_index[order] = np.arange(k, dtype=np.uint8)
    colors = np.clip(np.rint(means[order]), 0, 255).astype(np.uint8)
    return new_index[labels], colors, new_index


def _cluster_sums(flat: NDArray[np.uint8], pixels: NDArray[np.uint8], k: int) -> NDArray[np.float64]:
    """``(k, 3)`` sums of each cluster's 8-bit colours, exact: a histogram of (label, value)
    pairs per channel, weighted by the values afterwards -- no float64 copy of the pixels."""
    keys = flat.astype(np.uint16) << np.uint16(8)
    values = np.arange(256, dtype=np.int64)
    sums = np.empty((k, 3), dtype=np.float64)
    for c in range(3):
        histogram = np.bincount(keys | pixels[:, c], minlength=k * 256).reshape(k, 256)
        sums[:, c] = histogram @ values
    return sums


def border_shares(labels: NDArray[np.uint8], k: int) -> NDArray[np.float64]:
    """Fraction of the one-pixel image border in each cluster (sums to 1)."""
    frame = labels[_border_pixels(labels)]
    return np.asarray(np.bincount(frame, minlength=k) / max(frame.size, 1), dtype=np.float64)


def choose_background(
    labels: NDArray[np.uint8], colors: NDArray[np.uint8], rule: str, *, transparent: int | None = None
) -> tuple[int, ...]:
    """Background cluster indices under ``rule`` (see :func:`parse_background`).

    ``auto``: the cluster with the largest border share (ties: more pixels, i.e. lower index).
    ``dark``/``light``: the non-empty cluster with the lowest/highest mean L*.
    The ``transparent`` cluster, if any, is always background and never a candidate: ``auto``
    looks at the visible border pixels only (none: the transparent cluster alone, as for a
    logo on a transparent canvas), and a choice that would leave no foreground is dropped.
    """
    k = len(colors)
    parsed = parse_background(rule, k)
    if isinstance(parsed, tuple):
        chosen = parsed
    elif parsed == "auto":
        shares = border_shares(labels, k)
        if transparent is not None:  # the visible part of the border decides
            shares[transparent] = 0.0
        chosen = (int(np.argmax(shares)),) if shares.max() > 0 else ()
    else:
        counts = np.bincount(labels.ravel(), minlength=k)
        counts[[] if transparent is None else [transparent]] = 0
        lightness = rgb_to_lab(colors.astype(np.float64))[:, 0]
        candidates = np.flatnonzero(counts > 0)
        pick = np.argmin if parsed == "dark" else np.argmax
        chosen = (int(candidates[pick(lightness[candidates])]),) if len(candidates) else ()
    if transparent is None:
        return chosen
    joined = tuple(sorted({*chosen, transparent}))
    return joined if len(joined) < k else (transparent,)


def cluster_stats(
    labels: NDArray[np.uint8],
    colors: NDArray[np.uint8],
    background: tuple[int, ...],
    *,
    transparent: int | None = None,
    count_regions: bool = True,
) -> tuple[ClusterStats, ...]:
    """Pixel count and fraction, mean colour and L*, border share, background and transparency
    flags, bounding box and (with ``count_regions``) number of 8-connected regions of every
    cluster."""
    k = len(colors)
    counts = np.bincount(labels.ravel(), minlength=k)
    shares = border_shares(labels, k)
    lightness = rgb_to_lab(colors.astype(np.float64))[:, 0]
    region_counts = _region_counts(labels, k) if count_regions else None
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
                transparent=i == transparent,
                bbox=_bounding_box(labels == i),
                regions=None if region_counts is None else int(region_counts[i]),
            )
        )
    return tuple(stats)


def _region_counts(labels: NDArray[np.uint8], k: int) -> NDArray[np.intp]:
    """Number of 8-connected regions of each of the ``k`` labels."""
    from skimage.measure import label as connected

    regions = connected(labels.astype(np.int16), background=-1, connectivity=2)  # type: ignore[no-untyped-call]
    first_label = np.zeros(int(regions.max()) + 1, dtype=np.int64)
    first_label[regions.ravel()] = labels.ravel()
    return np.bincount(first_label[1:], minlength=k)


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


def count_foreground_regions(segmentation: Segmentation) -> int:
    """Number of 8-connected regions of the foreground: a single foreground cluster's own
    count (no second labelling of the image), else :func:`count_regions` of the mask."""
    foreground = [c for c in segmentation.clusters if not c.background]
    if len(foreground) == 1 and foreground[0].regions is not None:
        return foreground[0].regions
    return count_regions(segmentation.foreground)


def count_regions(mask: NDArray[np.bool_]) -> int:
    """Number of 8-connected regions of True pixels."""
    from skimage.measure import label as connected

    return int(connected(mask, background=0, connectivity=2).max())  # type: ignore[no-untyped-call]


# ----------------------------------------------------------------------------- rendering


def segmented_image(segmentation: Segmentation) -> NDArray[np.uint8]:
    """Every pixel replaced by its cluster's mean colour, ``(h, w, 3)``."""
    out = np.empty((*segmentation.labels.shape, 3), dtype=np.uint8)
    for c in range(3):  # a lookup per channel: half the time of one (h, w, 3) fancy index
        np.take(segmentation.colors[:, c], segmentation.labels, out=out[..., c])
    return out


def mask_image(segmentation: Segmentation, index: int) -> NDArray[np.uint8]:
    """Cluster ``index`` as an 8-bit mask: 255 inside, 0 outside."""
    return np.where(segmentation.labels == index, 255, 0).astype(np.uint8)


def cutout_image(
    rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None, segmentation: Segmentation
) -> NDArray[np.uint8]:
    """RGBA image: foreground pixels as in the input (with its alpha), background fully
    transparent with colour 0 (nothing hidden under alpha 0)."""
    foreground = segmentation.foreground
    out = np.empty((*rgb.shape[:2], 4), dtype=np.uint8)
    # uint8 x bool: the value where True, 0 elsewhere (twice as fast as np.where here).
    np.multiply(rgb, foreground[..., None], out=out[..., :3])
    np.multiply(np.uint8(255) if alpha is None else alpha, foreground, out=out[..., 3])
    return out


def contour_color(segmentation: Segmentation) -> tuple[int, int, int]:
    """The candidate colour farthest (in RGB) from every cluster's mean colour."""
    used = segmentation.colors[[cluster.pixels > 0 for cluster in segmentation.clusters]]
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
    edges = _widen(boundaries(segmentation.labels), max(rgb.shape[:2]) // 800)
    out = rgb.copy()
    np.copyto(out, np.array(color or contour_color(segmentation), dtype=np.uint8), where=edges[..., None])
    return out


def boundaries(labels: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Pixels with a 4-neighbour of another label: both sides of every boundary.

    The same pixels as ``skimage.segmentation.find_boundaries(labels, connectivity=1,
    mode="thick")``, from four array comparisons (~40x faster at 12 megapixels).
    """
    edges = np.zeros(labels.shape, dtype=bool)
    across = labels[:, 1:] != labels[:, :-1]
    edges[:, 1:] |= across
    edges[:, :-1] |= across
    down = labels[1:] != labels[:-1]
    edges[1:] |= down
    edges[:-1] |= down
    return edges


def _widen(mask: NDArray[np.bool_], steps: int) -> NDArray[np.bool_]:
    """``mask`` grown by ``steps`` pixels through 4-neighbours, as ``binary_dilation`` with the
    cross and ``iterations=steps`` (shifted ORs: ~6x faster)."""
    for _ in range(steps):
        grown = mask.copy()
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        mask = grown
    return mask

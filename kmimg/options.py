"""Every option of kmimg's work, with its default and its bounds, said once.

The cores take these dataclasses (``quantize(..., QuantizeOptions(k=64))``); the command line
declares its Typer options from the same defaults and bounds (:mod:`kmimg.cli._options`). This
module imports nothing heavy, so ``kmimg --help`` does not load numpy. Each dataclass checks its
values on creation and raises ``ValueError`` naming the option; the CLI turns that into a usage
error (exit 2) before any work.

Options that only the command line has (output names, ``--emit``, picture sizes) are declared
once, in their command's module under :mod:`kmimg.cli`.
"""

from __future__ import annotations

import math
import re
from typing import ClassVar

from kmimg._records import frozen
from kmimg.types import ColorSpace, FeatureKind, Nearest

#: Largest width x height of an input (``--max-pixels``), checked from the header.
DEFAULT_MAX_PIXELS = 250_000_000
#: Seeds are 32-bit: numpy's generators take any, but a JSON reader in another language may not.
MAX_SEED = 2**32 - 1
#: Pixels drawn from the colour histogram for the k-means fit of ``quantize`` (``--sample``).
DEFAULT_SAMPLE = 250_000
#: Dithering level of a bare ``--dither`` (0-1, as pngquant's ``--floyd``; 0 = no dithering).
DEFAULT_DITHER_LEVEL = 1.0
#: Alpha below which a pixel becomes fully transparent when the palette holds no translucent
#: colour (a palette file without alpha), unless ``--alpha-threshold`` says otherwise.
DEFAULT_ALPHA_THRESHOLD = 128
#: How hard the indexed PNG writer works for fewer bytes (``--optimize``, 0-3; the levels:
#: :data:`kmimg.io.png.OPTIMIZE_LEVELS`): the pixels are the same at every level.
DEFAULT_OPTIMIZE = 1
MAX_OPTIMIZE = 3


@frozen
class QuantizeOptions:
    """Options of one quantization (``kmimg quantize``, and every k of ``compress-report``)."""

    MIN_K: ClassVar[int] = 2
    MAX_K: ClassVar[int] = 256

    k: int = 16
    seed: int = 0
    space: ColorSpace = ColorSpace.RGB
    #: Dithering level, 0-1 (0 = no dithering; see :mod:`kmimg.dither`).
    dither: float = 0.0
    sample: int = DEFAULT_SAMPLE
    #: Colours that must be palette entries, bit-exact (RGB triples; ``--keep``).
    keep: tuple[tuple[int, int, int], ...] = ()
    #: The palette slot of fully transparent pixels (``--transparent-index``): always a
    #: transparent entry, never a visible pixel's; ``None``: wherever it falls, and only if needed.
    transparent_index: int | None = None
    #: Alpha below which pixels become fully transparent and from which opaque, before anything
    #: else (``--alpha-threshold``); ``None``: graded alpha is kept (see
    #: :data:`DEFAULT_ALPHA_THRESHOLD` for palettes without translucent colours).
    alpha_threshold: int | None = None
    #: How pixels are matched to a given palette (``--nearest``; a fitted palette uses its fit's).
    nearest: Nearest = Nearest.PLAIN
    #: Bits of each channel's precision a fitted palette gives up (``--posterize``, pngquant's
    #: option: 3 for RGB565's red and blue, 4 for RGBA4444), 0 to :attr:`MAX_POSTERIZE`.
    posterize: int = 0

    MAX_POSTERIZE: ClassVar[int] = 4

    def __post_init__(self) -> None:
        if not self.MIN_K <= self.k <= self.MAX_K:
            raise ValueError(f"k must be between {self.MIN_K} and {self.MAX_K}, got {self.k}")
        if self.transparent_index is not None and not 0 <= self.transparent_index < self.MAX_K:
            raise ValueError(
                f"transparent index must be between 0 and {self.MAX_K - 1}, got {self.transparent_index}"
            )
        if self.alpha_threshold is not None and not 1 <= self.alpha_threshold <= 255:
            raise ValueError(f"alpha threshold must be between 1 and 255, got {self.alpha_threshold}")
        if self.nearest is Nearest.LUMA and self.space is not ColorSpace.RGB:
            raise ValueError("--nearest luma weights luma in RGB; with --space lab use --nearest plain")
        if self.sample < 0:
            raise ValueError("sample must be 0 (all pixels) or positive")
        if not 0.0 <= self.dither <= 1.0:
            raise ValueError(f"dither level must be between 0 and 1, got {self.dither}")
        if len(self.keep) > self.k:
            raise ValueError(f"--keep lists {len(self.keep)} colours, more than k = {self.k}")
        if not 0 <= self.posterize <= self.MAX_POSTERIZE:
            raise ValueError(f"posterize must be 0 to {self.MAX_POSTERIZE} bits, got {self.posterize}")


#: The palette size quality mode searches up to when ``-k`` is not given (pngquant's 256).
QUALITY_MAX_K = 256


@frozen
class QualityGoal:
    """What quality mode searches for (``quantize --quality``, ``--target-*``): the fewest colours
    whose result reaches ``maximum`` on pngquant's 0-100 quality scale (when given) and every
    target given; ``minimum``: below it even the largest palette is not written (exit 99).

    Quality is kmimg's mean squared error in its alpha-aware space mapped to libimagequant's
    scale (:mod:`kmimg.core.quality`). Targets: PSNR and SSIM at least, mean ΔE2000 at most.
    """

    MAX_QUALITY: ClassVar[int] = 100

    minimum: int = 0
    maximum: int | None = None
    psnr: float | None = None
    ssim: float | None = None
    delta_e: float | None = None

    def __post_init__(self) -> None:
        top = self.MAX_QUALITY
        if self.maximum is not None and not 0 <= self.minimum <= self.maximum <= top:
            raise ValueError(f"quality must be MIN-MAX with 0 <= MIN <= MAX <= {top}")
        if self.maximum is None and self.minimum:
            raise ValueError("a minimum quality needs a maximum (--quality MIN-MAX)")
        for name in ("psnr", "ssim", "delta_e"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"the {name} target must be a finite number")
        if self.psnr is not None and self.psnr < 0:
            raise ValueError("a PSNR target must not be negative")
        if self.ssim is not None and not -1.0 <= self.ssim <= 1.0:
            raise ValueError("an SSIM target must be between -1 and 1")
        if self.delta_e is not None and self.delta_e < 0:
            raise ValueError("a ΔE2000 target must not be negative")
        if self.maximum is None and self.psnr is None and self.ssim is None and self.delta_e is None:
            raise ValueError("a quality goal needs --quality or a --target-* value")


def parse_quality(text: str) -> tuple[int, int]:
    """``"60-80"`` -> ``(60, 80)``; ``"80"`` -> ``(0, 80)`` (pngquant's ``--quality``)."""
    match = re.fullmatch(r"\s*(\d{1,3})?\s*(?:-\s*(\d{1,3}))?\s*", text)
    if match is None or (match.group(1) is None and match.group(2) is None):
        raise ValueError(f"{text!r} is not a quality like 60-80 or 80 (0-100)")
    low, high = match.group(1), match.group(2)
    if high is None:
        minimum, maximum = 0, int(low)
    else:
        minimum, maximum = int(low or 0), int(high)
    if not 0 <= minimum <= maximum <= QualityGoal.MAX_QUALITY:
        raise ValueError(f"{text!r}: give MIN-MAX with 0 <= MIN <= MAX <= 100")
    return minimum, maximum


#: ``--background`` rules other than cluster indices.
BACKGROUND_RULES = ("auto", "dark", "light")


@frozen
class SegmentOptions:
    """Options of one segmentation (``kmimg segment``; see :mod:`kmimg.core.segment`).

    ``background`` is ``"auto"``, ``"dark"``, ``"light"`` or cluster indices such as ``"0"``
    or ``"0,2"`` (see :func:`parse_background`).
    """

    MIN_K: ClassVar[int] = 2
    #: Labels are one byte; beyond a few dozen clusters k-means stops being a segmentation.
    MAX_K: ClassVar[int] = 64
    #: The smallest ``max_side`` that still leaves something to fit (0 means full size).
    MIN_SIDE: ClassVar[int] = 8

    k: int = 2
    sigma: float = 2.0
    max_side: int = 256
    spatial: float = 0.0
    space: ColorSpace = ColorSpace.LAB
    flatten: float = 0.0
    min_region: int = 0
    background: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.MIN_K <= self.k <= self.MAX_K:
            raise ValueError(f"k must be between {self.MIN_K} and {self.MAX_K}, got {self.k}")
        if self.sigma < 0:
            raise ValueError("sigma must be 0 (no smoothing) or positive")
        if self.max_side < 0 or 0 < self.max_side < self.MIN_SIDE:
            raise ValueError(f"max-side must be 0 (fit at full size) or at least {self.MIN_SIDE}")
        if self.spatial < 0:
            raise ValueError("spatial weight must be 0 or positive")
        if not 0.0 <= self.flatten <= 1.0:
            raise ValueError("flatten must be between 0 (off) and 1")
        if self.min_region < 0:
            raise ValueError("min-region must be 0 (off) or positive")
        parse_background(self.background, self.k)


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


@frozen
class FeatureOptions:
    """How ``kmimg classify`` turns an image into a feature vector (see :mod:`kmimg.core.classify`)."""

    MAX_SIDE: ClassVar[int] = 256
    MIN_BINS: ClassVar[int] = 2
    MAX_BINS: ClassVar[int] = 16

    kind: FeatureKind = FeatureKind.PIXELS
    size: tuple[int, int] = (8, 8)
    color: bool = False
    bins: int = 4

    def __post_init__(self) -> None:
        width, height = self.size
        side = self.MAX_SIDE
        if not (1 <= width <= side and 1 <= height <= side):
            raise ValueError(f"size must be between 1x1 and {side}x{side}")
        if not self.MIN_BINS <= self.bins <= self.MAX_BINS:
            raise ValueError(f"bins must be between {self.MIN_BINS} and {self.MAX_BINS}")

    @property
    def length(self) -> int:
        """Number of features per image."""
        if self.kind is FeatureKind.HISTOGRAM:
            return self.bins**3
        width, height = self.size
        return width * height * (3 if self.color else 1)

    def describe(self) -> str:
        """Short human description, e.g. ``8x8 grey pixels`` or ``4^3-bin colour histogram``."""
        if self.kind is FeatureKind.HISTOGRAM:
            return f"{self.bins}^3-bin colour histogram"
        width, height = self.size
        return f"{width}x{height} {'colour' if self.color else 'grey'} pixels"


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` (or a single number for a square) into ``(width, height)``."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*", text)
    if match is None:
        raise ValueError(f"{text!r} is not a size like 8x8")
    width = int(match.group(1))
    height = int(match.group(2) or match.group(1))
    side = FeatureOptions.MAX_SIDE
    if not (1 <= width <= side and 1 <= height <= side):
        raise ValueError(f"{text!r}: each side must be between 1 and {side}")
    return width, height


@frozen
class GroupOptions:
    """How ``kmimg classify`` clusters the feature vectors (see
    :func:`kmimg.core.classify.cluster_features`)."""

    MAX_K: ClassVar[int] = 1000

    k: int = 10
    seed: int = 0
    #: Restarts of k-means from different k-means++ seedings; the lowest inertia wins. 10 is
    #: scikit-learn's historical default (the seed ran with it). ``n_init="auto"`` would be 1
    #: for k-means++: on the digits with seed 0 that gives accuracy 0.725 instead of 0.792.
    n_init: int = 10
    standardize: bool = False
    #: ``None``: ``KMeans`` on every vector at once. A number: ``MiniBatchKMeans`` fed that many
    #: vectors at a time, the rest kept on disk (folders too big to hold; docs/classify.md).
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.MAX_K:
            raise ValueError(f"k must be between 1 and {self.MAX_K}, got {self.k}")
        if self.n_init < 1:
            raise ValueError("n_init must be at least 1")
        if self.batch_size is not None and self.batch_size < self.k:
            raise ValueError(
                f"--batch-size {self.batch_size} is below -k {self.k}: every batch must hold k vectors"
            )


#: The ks ``compress-report`` sweeps when none are given: every power of two a PNG palette holds.
DEFAULT_KS = (2, 4, 8, 16, 32, 64, 128, 256)
#: The PSNR target when none is given: 32 dB, where 8-bit photos quantized by k-means usually
#: stop showing obvious banding (the seed's flower reaches it at k = 64).
DEFAULT_TARGET_PSNR = 32.0


def parse_ks(text: str) -> tuple[int, ...]:
    """Parse ``"2,4,8"`` into sorted distinct ks, each a valid :attr:`QuantizeOptions.k`.

    Raises
    ------
    ValueError
        Empty list, a value that is not an integer, or one outside 2..256.
    """
    low, high = QuantizeOptions.MIN_K, QuantizeOptions.MAX_K
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("give at least one k, e.g. 2,4,8,16")
    ks: set[int] = set()
    for part in parts:
        try:
            k = int(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a whole number") from None
        if not low <= k <= high:
            raise ValueError(f"k must be between {low} and {high}, got {k}")
        ks.add(k)
    return tuple(sorted(ks))


#: Pictures made from results: the longest side of each contact-sheet thumbnail
#: (``compress-report --thumb``), and the side of each montage tile and the members drawn per
#: cluster (``classify --thumb``, ``--members``).
SHEET_THUMB = 320
SHEET_MIN_THUMB = 16
MONTAGE_THUMB = 64
MONTAGE_MIN_THUMB = 8
MONTAGE_MAX_THUMB = 1024
MONTAGE_MEMBERS = 6

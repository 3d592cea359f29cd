"""kmimg's Pillow-native API: one image (a path, bytes, a binary file, a ``PIL.Image`` or a
numpy array) in, a result out that holds the arrays, the figures, a Pillow image and the exact
bytes the command line writes.

:func:`quantize`, :func:`segment` and :func:`palette` take the image first and the number of
colours (or clusters) second; every other option is keyword-only and named as on the command
line (``--space`` is ``space=``). A value out of range is a :class:`ValueError`, a value of the
wrong kind a :class:`TypeError`; both name the parameter. An image that cannot be read is a
:class:`~kmimg.errors.InputError` (itself a :class:`ValueError`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, Union

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.core.quantize import Quantized
from kmimg.errors import InputError
from kmimg.options import (
    DEFAULT_DITHER_LEVEL,
    DEFAULT_MAX_PIXELS,
    DEFAULT_OPTIMIZE,
    DEFAULT_SAMPLE,
    MAX_OPTIMIZE,
    MAX_SEED,
    QUALITY_MAX_K,
    QualityGoal,
    QuantizeOptions,
    SegmentOptions,
    parse_quality,
)
from kmimg.types import ColorSpace, Nearest, PaletteWeight

if TYPE_CHECKING:
    from PIL import Image

    from kmimg.colorfit import FittedPalette
    from kmimg.core.segment import ClusterStats, Segmentation
    from kmimg.io.decode import Picture
    from kmimg.io.png import PngMetadata
    from kmimg.palettes.files import Palette

#: What :func:`quantize`, :func:`segment`, :func:`palette` and :func:`kmimg.load_image` read: a
#: path, the bytes of an image file, a binary file object, a ``PIL.Image.Image`` of any mode, or
#: a numpy array shaped ``(h, w)``, ``(h, w, 3)`` or ``(h, w, 4)`` of uint8, uint16 or floats in
#: [0, 1].
ImageSource = Union[str, "os.PathLike[str]", bytes, IO[bytes], "Image.Image", "NDArray[Any]"]
#: Where a result is saved: a path, or a binary file object open for writing.
Target = Union[str, "os.PathLike[str]", IO[bytes]]
#: Colours: ``"#rrggbb,#rrggbb"``, a sequence of ``"#rrggbb"`` strings or of ``(r, g, b)``.
Colors = Union[str, Sequence[Union[str, Sequence[int]]]]  # noqa: UP007 - evaluated at run time (3.10)
#: A quality (``quality=``): ``"60-80"``, ``(60, 80)``, ``80`` (meaning 0-80), or ``None``.
QualityRange = Union[str, int, tuple[int, int], None]  # noqa: UP007 - evaluated at run time (3.10)


@frozen
class QuantizeResult(Quantized):
    """A quantized image (:class:`~kmimg.core.quantize.Quantized`: ``indices`` ``(h, w)`` into
    ``palette`` ``(m, 4)`` RGBA, ``counts``, ``quality`` and its ``psnr``, ``ssim``, ``delta_e``),
    as a Pillow image or as the indexed PNG ``kmimg quantize`` writes.

    >>> import kmimg
    >>> result = kmimg.quantize("sample_images/coins.png", 8)
    >>> result.colors_used, result.indices.shape
    (8, (303, 384))
    >>> result.to_pil().mode
    'P'

    ``metadata`` holds the input's chunks the PNG keeps (``None`` with ``strip=True``),
    ``optimize`` the encoder's effort (``--optimize``), ``reorder`` whether that effort may
    reorder the PNG's palette (a fitted palette without ``transparent_index``).
    """

    #: Quality mode (``quality=``, ``target_*=``): the quality reached, 0-100 on pngquant's
    #: scale (undithered; ``options.k`` is the palette size the search chose); ``None`` otherwise.
    quality_score: int | None = None
    metadata: PngMetadata | None = None
    optimize: int = DEFAULT_OPTIMIZE
    reorder: bool = False

    def to_png(self) -> bytes:
        """The indexed PNG, byte for byte what ``kmimg quantize`` writes for the same image
        and options (the smallest bit depth, ``tRNS`` when needed, the input's DPI, text and
        colour-space chunks unless stripped; the palette in this order unless ``reorder``, with
        which the encoder may order it by luminance for its row filters at ``optimize`` 1-3:
        the same pixels, other indices. :func:`kmimg.io.png.encode_indexed` gives that order)."""
        from kmimg.io.png import encode_indexed_png

        return encode_indexed_png(
            self.indices, self.palette, optimize=self.optimize, metadata=self.metadata, reorder=self.reorder
        )

    def to_pil(self) -> Image.Image:
        """A Pillow ``P``-mode image: the indices, the palette's colours, and its alpha values
        as the image's ``transparency`` when any entry is not opaque."""
        return indexed_image(self.indices, self.palette)

    def save(self, target: Target) -> None:
        """Write :meth:`to_png`'s bytes to a path (atomically, as the command line does) or to a
        binary file object; a path ending in ``.gif`` gets a GIF89a of the same pixels instead,
        one ending in ``.webp`` a lossless WebP of them (``optimize`` sets libwebp's effort), and
        one ending like another image format (``.jpg``...) is a ``ValueError``."""
        if isinstance(target, (str, os.PathLike)):
            from kmimg.io.formats import output_format

            kind = output_format(os.fspath(target))
            if kind == "GIF":
                from kmimg.io.gif import encode_indexed_gif

                save_bytes(encode_indexed_gif(self.indices, self.palette), target)
                return
            if kind == "WEBP":
                from kmimg.io.webp import encode_webp

                save_bytes(encode_webp(self.indices, self.palette, optimize=self.optimize), target)
                return
        save_bytes(self.to_png(), target)


def quantize(
    image: ImageSource,
    k: int | None = None,
    *,
    quality: QualityRange = None,
    target_psnr: float | None = None,
    target_ssim: float | None = None,
    target_de: float | None = None,
    space: ColorSpace | str = ColorSpace.RGB,
    dither: float | bool = 0.0,
    palette: Palette | str | os.PathLike[str] | NDArray[np.uint8] | Sequence[Sequence[int]] | None = None,
    keep: Colors = (),
    seed: int = 0,
    sample: int = DEFAULT_SAMPLE,
    transparent_index: int | None = None,
    alpha_threshold: int | None = None,
    nearest: Nearest | str = Nearest.PLAIN,
    posterize: int = 0,
    measure: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
    optimize: int = DEFAULT_OPTIMIZE,
    strip: bool = False,
) -> QuantizeResult:
    """Reduce ``image`` to at most ``k`` colours fitted by k-means (``kmimg quantize``).

    Parameters
    ----------
    image
        A path, an image file's bytes, a binary file, a ``PIL.Image`` of any mode, or an array
        ``(h, w)``, ``(h, w, 3)`` or ``(h, w, 4)`` of uint8, uint16 or floats in [0, 1]. One
        image: an animation's path, bytes or file give its first frame (with a warning), a
        ``PIL.Image`` the frame it is at (``image.seek(n)``); :func:`kmimg.quantize_files` and
        the command line keep animations whole (``docs/animation.md``).
    k
        Palette size, 2-256 (fully transparent pixels take one entry of the ``k``); 16 when not
        given, and in quality mode the most colours the search may use (256 when not given).
    quality
        Quality mode (``--quality``): ``"60-80"``, ``(60, 80)`` or ``80`` (``0-80``), on
        pngquant's 0-100 scale: the fewest colours up to ``k`` that reach the maximum; a
        :class:`~kmimg.errors.QualityTooLowError` when even ``k`` colours stay below the minimum.
        ``result.options.k`` is the palette size chosen, ``result.quality_score`` the quality.
    target_psnr, target_ssim, target_de
        Quality mode too (``--target-*``): the fewest colours with PSNR and SSIM at least, mean
        ΔE2000 at most, these (all that are given, with ``quality``'s maximum).
    space
        ``"rgb"`` (best PSNR) or ``"lab"`` (best ΔE2000): where colours are compared.
    dither
        Error-diffusion level, 0-1 (``True``: 1.0, as a bare ``--dither``).
    palette
        Map onto these colours instead of fitting (``--palette``): a :class:`~kmimg.Palette`, a
        palette file's path, or ``(m, 3)``/``(m, 4)`` rows. ``k`` is then not given.
    keep
        Colours that must be palette entries, bit-exact (``--keep``): ``"#e60012,#ffffff"``.
    seed
        Seed of the fit: the same image, options and seed give the same bytes.
    sample
        Pixels sampled for the fit (0 = all); every pixel is mapped.
    transparent_index
        The palette slot of fully transparent pixels, always transparent (``--transparent-index``).
    alpha_threshold
        Make alpha binary first: below it fully transparent, from it opaque (``--alpha-threshold``).
    nearest
        ``"plain"`` or ``"luma"``: how pixels are matched to a given ``palette`` (``--nearest``).
    posterize
        Bits of each channel's precision the fitted palette gives up, 0-4 (``--posterize``,
        pngquant's option): 4 for an RGBA4444 texture, 3 for RGB565 (its red and blue).
    measure
        Compute PSNR, SSIM and ΔE2000 (``result.quality``); ``False`` is faster.
    optimize
        How hard :meth:`~QuantizeResult.save` and ``to_png`` work for fewer bytes, 0-3
        (``--optimize``; the same pixels at every level).
    strip
        Keep none of the input's optional chunks (DPI, text, colour space) in the PNG (``--strip``).

    Examples
    --------
    >>> import kmimg
    >>> from PIL import Image
    >>> result = kmimg.quantize(Image.open("sample_images/flower.jpg"), 16, seed=0)
    >>> result.colors_used, round(result.psnr, 2)
    (16, 29.53)
    >>> result.save("out/flower-k16.png")  # the bytes `kmimg quantize -k 16` writes
    >>> found = kmimg.quantize("sample_images/flower.jpg", quality="50-70")
    >>> found.options.k, found.quality_score
    (148, 71)
    """
    goal = quality_goal(quality, target_psnr, target_ssim, target_de)
    if goal is not None and palette is not None:
        raise ValueError("quality and target_* fit a palette: not with palette")
    if posterize and palette is not None:
        raise ValueError("posterize changes a fitted palette: not with palette")
    k = (QUALITY_MAX_K if goal is not None else 16) if k is None else k
    picture = load_picture(image, max_pixels=max_pixels, allow_truncated=allow_truncated)
    fixed = None if palette is None else palette_rows(palette, k=k)
    options = quantize_options(
        k, space=space, dither=dither, keep=keep, seed=seed, sample=sample,
        transparent_index=transparent_index, alpha_threshold=alpha_threshold, nearest=nearest,
        posterize=posterize,
    )  # fmt: skip
    try:
        result, score = _quantized(picture, options, fixed, goal, measure=measure)
    except InputError as exc:  # the core words it for the command line (--keep)
        if str(exc).startswith("--keep"):
            raise ValueError(str(exc).removeprefix("--")) from None
        raise
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    return QuantizeResult(
        **fields,
        quality_score=score,
        metadata=None if strip else picture.metadata,
        optimize=check_optimize(optimize),
        reorder=fixed is None and options.transparent_index is None,
    )


def _quantized(
    picture: Picture,
    options: QuantizeOptions,
    fixed: NDArray[np.uint8] | None,
    goal: QualityGoal | None,
    *,
    measure: bool,
) -> tuple[Quantized, int | None]:
    from kmimg.core.quantize import analyze, quantize_onto
    from kmimg.core.quantize import quantize as quantize_core

    if fixed is not None:
        return quantize_onto(analyze(picture.rgb, picture.alpha), fixed, options, measure=measure), None
    if goal is None:
        return quantize_core(picture.rgb, picture.alpha, options, measure=measure), None
    from kmimg.core.quality import quantize_to_goal
    from kmimg.errors import QualityTooLowError

    found = quantize_to_goal(analyze(picture.rgb, picture.alpha), options, goal, measure=measure)
    if found.below_minimum:
        raise QualityTooLowError(
            f"quality {found.measured.quality} with {found.k} colours is below the minimum {goal.minimum}"
        )
    return found.quantized, found.measured.quality


def quality_goal(
    quality: QualityRange, psnr: float | None = None, ssim: float | None = None, delta_e: float | None = None
) -> QualityGoal | None:
    """The :class:`~kmimg.options.QualityGoal` of the public parameters (``None``: a fixed k)."""
    if quality is None and psnr is None and ssim is None and delta_e is None:
        return None
    minimum, maximum = 0, None
    if isinstance(quality, str):
        minimum, maximum = parse_quality(quality)
    elif isinstance(quality, tuple):
        minimum, maximum = (_integer(value, "quality") for value in quality)
    elif quality is not None:
        maximum = _integer(quality, "quality")
    return QualityGoal(minimum=minimum, maximum=maximum, psnr=psnr, ssim=ssim, delta_e=delta_e)


@frozen
class SegmentResult:
    """A segmented image (``kmimg segment``): ``labels`` (``indices``) ``(h, w)`` of cluster
    numbers, ``palette`` ``(k, 3)`` the clusters' mean colours, ``background`` and
    ``foreground``, ``clusters`` (one :class:`~kmimg.core.segment.ClusterStats` each), and each
    of the command's outputs as an array, a Pillow image or its PNG bytes.

    Outputs are named as ``--emit`` names them: ``"seg"``, ``"labels"``, ``"cutout"``,
    ``"contours"``, and ``"mask-N"`` for cluster N's mask.
    """

    segmentation: Segmentation
    rgb: NDArray[np.uint8]
    alpha: NDArray[np.uint8] | None
    contour_color: tuple[int, int, int] | None = None

    @property
    def labels(self) -> NDArray[np.uint8]:
        return self.segmentation.labels

    @property
    def indices(self) -> NDArray[np.uint8]:
        """The labels (the same name as a quantized image's)."""
        return self.segmentation.labels

    @property
    def palette(self) -> NDArray[np.uint8]:
        """Each cluster's mean colour, ``(k, 3)`` RGB."""
        return self.segmentation.colors

    @property
    def background(self) -> tuple[int, ...]:
        return self.segmentation.background

    @property
    def foreground(self) -> NDArray[np.bool_]:
        return self.segmentation.foreground

    @property
    def clusters(self) -> tuple[ClusterStats, ...]:
        return self.segmentation.clusters

    def image(self, output: str = "seg") -> NDArray[np.uint8]:
        """The pixels of one output (see the class docstring)."""
        from kmimg.jobs.segment import render_output

        return render_output(
            _output_name(output, self.segmentation.k),
            self.rgb,
            self.alpha,
            self.segmentation,
            self.contour_color,
        )

    def to_png(self, output: str = "seg") -> bytes:
        """The PNG ``kmimg segment`` writes for ``output``, byte for byte."""
        from kmimg.jobs.segment import encode_output

        name = _output_name(output, self.segmentation.k)
        return encode_output(name, self.image(name))

    def to_pil(self, output: str = "seg") -> Image.Image:
        """One output as a Pillow image (``L``, ``RGB`` or ``RGBA``)."""
        from PIL import Image

        return Image.fromarray(self.image(output))

    def save(self, target: Target, output: str = "seg") -> None:
        """Write :meth:`to_png`'s bytes to a path (atomically) or a binary file object."""
        save_bytes(self.to_png(output), target)


def segment(
    image: ImageSource,
    k: int = 2,
    *,
    sigma: float = SegmentOptions.sigma,
    max_side: int = SegmentOptions.max_side,
    spatial: float = SegmentOptions.spatial,
    space: ColorSpace | str = SegmentOptions.space,
    flatten: float = SegmentOptions.flatten,
    min_region: int = SegmentOptions.min_region,
    background: str = SegmentOptions.background,
    contour_color: str | tuple[int, int, int] | None = None,
    seed: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
) -> SegmentResult:
    """Split ``image`` into ``k`` clusters by k-means on smoothed colour (``kmimg segment``).

    The options are ``kmimg segment``'s (``--sigma`` is ``sigma=``, ...); ``background`` is
    ``"auto"``, ``"dark"``, ``"light"`` or cluster indices such as ``"0,2"``; ``contour_color``
    ``None`` (automatic), ``"#rrggbb"`` or ``(r, g, b)``.

    Examples
    --------
    >>> import kmimg
    >>> coins = kmimg.segment("sample_images/coins.png", 2, flatten=0.15, min_region=64)
    >>> coins.labels.shape, coins.background
    ((303, 384), (0,))
    >>> coins.to_pil("cutout").mode
    'RGBA'
    """
    picture = load_picture(image, max_pixels=max_pixels, allow_truncated=allow_truncated)
    options = segment_options(
        k, sigma=sigma, max_side=max_side, spatial=spatial, space=space, flatten=flatten,
        min_region=min_region, background=background, seed=seed,
    )  # fmt: skip
    color = contour_rgb(contour_color)
    from kmimg.core.segment import segment as segment_core

    result = segment_core(picture.rgb, options, alpha=picture.alpha)
    return SegmentResult(result, picture.rgb, picture.alpha, color)


@frozen
class PaletteResult:
    """One palette fitted across images (``kmimg palette``): ``palette`` ``(m, 4)`` RGBA in
    the fit's order (descending share), ``shares`` each colour's share of the pixels; as a
    palette file (:meth:`save`, the bytes ``kmimg palette -o`` writes) or as its swatch picture
    (:meth:`to_pil`, what ``--swatch`` draws)."""

    fitted: FittedPalette
    shares: tuple[float, ...]

    @property
    def palette(self) -> NDArray[np.uint8]:
        return self.to_palette().colors

    def to_palette(self, title: str = "kmimg") -> Palette:
        """As a :class:`~kmimg.Palette` (the kind :func:`kmimg.parse_palette` reads)."""
        from kmimg.jobs.palette import fitted_palette

        return fitted_palette(self.fitted, title=title)

    def to_bytes(self, format: str = "gpl", *, title: str = "kmimg") -> bytes:
        """The palette file in ``format``: ``"gpl"``, ``"act"``, ``"hex"`` or ``"json"``."""
        from kmimg.palettes.files import PaletteFormat, format_palette

        try:
            kind = PaletteFormat(format)
        except ValueError:
            choices = ", ".join(repr(f.value) for f in PaletteFormat)
            raise ValueError(f"format must be one of {choices}, got {format!r}") from None
        return format_palette(self.to_palette(title), kind)

    def to_pil(self) -> Image.Image:
        """The swatch: each colour with its index, hex code and share."""
        from PIL import Image

        from kmimg.render.swatch import draw_swatch

        return Image.fromarray(draw_swatch(self.palette, list(self.shares)))

    def save(self, target: Target, *, format: str | None = None) -> None:
        """Write the palette file: to a path in the format its extension names (titled with its
        stem, as ``kmimg palette -o`` does), or to a binary file in ``format`` (default gpl)."""
        if isinstance(target, (str, os.PathLike)):
            from kmimg.jobs.palette import write_palette_file

            path = os.fspath(target)
            write_palette_file(self.to_palette(title=os.path.splitext(os.path.basename(path))[0]), path)
            return
        target.write(self.to_bytes(format or "gpl"))


def palette(
    images: ImageSource | Sequence[ImageSource],
    k: int = 16,
    *,
    weight: PaletteWeight | str = PaletteWeight.PIXELS,
    keep: Colors = (),
    seed: int = 0,
    space: ColorSpace | str = ColorSpace.RGB,
    sample: int = DEFAULT_SAMPLE,
    posterize: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
) -> PaletteResult:
    """One palette of at most ``k`` colours fitted across ``images`` (one image or a list),
    their colour histograms merged exactly (``kmimg palette``): the result does not depend on
    the order of the images. ``weight="images"`` makes every image count the same;
    ``posterize`` as in :func:`quantize` (``--posterize``).

    Examples
    --------
    >>> import kmimg
    >>> shared = kmimg.palette(["sample_images/coffee.png", "sample_images/chelsea.png"], 16)
    >>> shared.palette.shape
    (16, 4)
    >>> mapped = kmimg.quantize("sample_images/coffee.png", palette=shared.palette)
    >>> bool((mapped.palette == shared.palette).all())
    True
    """
    many: list[ImageSource] = list(images) if isinstance(images, (list, tuple)) else [images]  # type: ignore[list-item]
    if not many:
        raise ValueError("images must hold at least one image")
    kept = keep_rows(keep, k=k)
    options = quantize_options(k, space=space, keep=(), seed=seed, sample=sample, posterize=posterize)
    total = _histograms(many, _weight(weight), max_pixels=max_pixels, allow_truncated=allow_truncated)
    from kmimg.jobs.palette import fit_merged, palette_shares

    fitted = fit_merged(
        total, k=k, keep=None if not kept else np.array(kept, dtype=np.uint8), seed=seed, space=options.space,
        sample=sample, posterize=options.posterize,
    )  # fmt: skip
    return PaletteResult(fitted, tuple(palette_shares(fitted)))


def _histograms(
    images: Sequence[ImageSource], weight: PaletteWeight, *, max_pixels: int, allow_truncated: bool
) -> Any:
    """The merged colour histogram of ``images`` (what ``kmimg palette`` counts per file)."""
    from kmimg.core.quantize import analyze
    from kmimg.palettes.shared import HistogramSum, histogram_of

    total = HistogramSum(weight=weight)
    for image in images:
        picture = load_picture(image, max_pixels=max_pixels, allow_truncated=allow_truncated)
        analysis = analyze(picture.rgb, picture.alpha)
        hidden = 0 if analysis.visible is None else int((~analysis.visible).sum())
        total.add(histogram_of(analysis.table, hidden=hidden))
    return total


# ----------------------------------------------------------------------------- checks and helpers


def load_picture(image: ImageSource, *, max_pixels: int, allow_truncated: bool) -> Picture:
    """:func:`kmimg.io.load_image` of any :data:`ImageSource`."""
    from kmimg.io.decode import load_image

    return load_image(image, max_pixels=max_pixels, allow_truncated=allow_truncated)


def _integer(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def _space(space: ColorSpace | str) -> ColorSpace:
    try:
        return ColorSpace(space.lower() if isinstance(space, str) else space)
    except ValueError:
        raise ValueError(f"space must be 'rgb' or 'lab', got {space!r}") from None


def _weight(weight: PaletteWeight | str) -> PaletteWeight:
    try:
        return PaletteWeight(weight.lower() if isinstance(weight, str) else weight)
    except ValueError:
        raise ValueError(f"weight must be 'pixels' or 'images', got {weight!r}") from None


def _dither_level(dither: float | bool) -> float:
    if isinstance(dither, bool):
        return DEFAULT_DITHER_LEVEL if dither else 0.0
    if not isinstance(dither, (int, float, np.floating, np.integer)):
        raise TypeError(f"dither must be a number between 0 and 1 or a bool, got {type(dither).__name__}")
    if not 0.0 <= float(dither) <= 1.0:
        raise ValueError(f"dither must be between 0 and 1, got {dither}")
    return float(dither)


def check_optimize(optimize: object) -> int:
    """``optimize`` checked by name: an int 0 to :data:`~kmimg.options.MAX_OPTIMIZE`."""
    value = _integer(optimize, "optimize")
    if not 0 <= value <= MAX_OPTIMIZE:
        raise ValueError(f"optimize must be between 0 and {MAX_OPTIMIZE}, got {value}")
    return value


def _seed(seed: object) -> int:
    value = _integer(seed, "seed")
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {value}")
    return value


def quantize_options(
    k: int,
    *,
    space: ColorSpace | str = ColorSpace.RGB,
    dither: float | bool = 0.0,
    keep: Colors = (),
    seed: int = 0,
    sample: int = DEFAULT_SAMPLE,
    transparent_index: int | None = None,
    alpha_threshold: int | None = None,
    nearest: Nearest | str = Nearest.PLAIN,
    posterize: int = 0,
) -> QuantizeOptions:
    """The :class:`~kmimg.QuantizeOptions` of the public parameters, each checked by name."""
    k = _integer(k, "k")
    if not QuantizeOptions.MIN_K <= k <= QuantizeOptions.MAX_K:
        raise ValueError(f"k must be between {QuantizeOptions.MIN_K} and {QuantizeOptions.MAX_K}, got {k}")
    sample = _integer(sample, "sample")
    if sample < 0:
        raise ValueError(f"sample must be 0 (all pixels) or positive, got {sample}")
    try:
        match = Nearest(nearest)
    except ValueError:
        raise ValueError(f"nearest must be 'plain' or 'luma', got {nearest!r}") from None
    posterize = _integer(posterize, "posterize")
    if not 0 <= posterize <= QuantizeOptions.MAX_POSTERIZE:
        raise ValueError(f"posterize must be 0 to {QuantizeOptions.MAX_POSTERIZE} bits, got {posterize}")
    return QuantizeOptions(
        k=k, seed=_seed(seed), space=_space(space), dither=_dither_level(dither), sample=sample,
        keep=keep_rows(keep, k=k), transparent_index=transparent_index, alpha_threshold=alpha_threshold,
        nearest=match, posterize=posterize,
    )  # fmt: skip


def keep_rows(keep: Colors, *, k: int) -> tuple[tuple[int, int, int], ...]:
    """``keep`` as RGB triples (``"#e60012,#fff000"``, ``["#e60012"]`` or ``[(230, 0, 18)]``)."""
    from kmimg.errors import PaletteError
    from kmimg.palettes.files import parse_keep

    words = keep.split(",") if isinstance(keep, str) else list(keep)
    rows: list[tuple[int, int, int]] = []
    for word in words:
        if isinstance(word, str):
            try:
                r, g, b, _ = parse_keep(word).colors[0].tolist()
            except PaletteError as exc:
                raise ValueError(f"keep: {str(exc).removeprefix('--keep: ')}") from None
            row = (r, g, b)
        else:
            row = _rgb(word, "keep")
        if row not in rows:
            rows.append(row)
    if len(rows) > k:
        raise ValueError(f"keep lists {len(rows)} colours, more than k = {k}")
    return tuple(rows)


def _rgb(value: object, name: str) -> tuple[int, int, int]:
    if not isinstance(value, Sequence) or len(value) != 3:
        raise TypeError(f"{name} colours are '#rrggbb' strings or (r, g, b) triples, got {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= 255 for v in value):
        raise ValueError(f"{name}: {tuple(value)!r} is not an (r, g, b) triple of 0-255 integers")
    return int(value[0]), int(value[1]), int(value[2])


def palette_rows(
    palette: Palette | str | os.PathLike[str] | NDArray[np.uint8] | Sequence[Sequence[int]], *, k: int
) -> NDArray[np.uint8]:
    """The ``(m, 4)`` RGBA entries of a :func:`quantize` ``palette=`` argument."""
    from kmimg.palettes.files import Palette, palette_from_rgb

    if k != 16:
        raise ValueError("give k or palette, not both: the palette gives the colours")
    if isinstance(palette, Palette):
        return palette.colors
    if isinstance(palette, (str, os.PathLike)):
        from kmimg.jobs.palette import read_palette_file

        return read_palette_file(os.fspath(palette)).colors
    rows = np.asarray(palette)
    if rows.ndim != 2 or rows.shape[1] not in (3, 4) or not 1 <= len(rows) <= QuantizeOptions.MAX_K:
        raise ValueError(f"palette must hold 1-256 rows of (r, g, b) or (r, g, b, a), got shape {rows.shape}")
    if rows.dtype != np.uint8 and (
        not np.issubdtype(rows.dtype, np.integer) or rows.min() < 0 or rows.max() > 255
    ):
        raise ValueError("palette values must be integers 0-255")
    return palette_from_rgb(rows.astype(np.uint8)).colors


def segment_options(k: int, *, space: ColorSpace | str, seed: int, **values: Any) -> SegmentOptions:
    """The :class:`~kmimg.SegmentOptions` of the public parameters; a ``ValueError`` names the
    parameter (``max_side``, not ``max-side``)."""
    k = _integer(k, "k")
    try:
        return SegmentOptions(k=k, space=_space(space), seed=_seed(seed), **values)
    except ValueError as exc:
        text = str(exc)
        for option in ("max-side", "min-region"):
            text = text.replace(option, option.replace("-", "_"))
        raise ValueError(text) from None


def contour_rgb(color: str | tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    """``contour_color`` as RGB (``None``: the automatic colour)."""
    if color is None or (isinstance(color, str) and color.strip().lower() == "auto"):
        return None
    if isinstance(color, str):
        from kmimg.errors import UsageError
        from kmimg.jobs.segment import parse_color

        try:
            return parse_color(color)
        except UsageError:
            raise ValueError(f"contour_color takes '#rrggbb' or (r, g, b); got {color!r}") from None
    return _rgb(color, "contour_color")


def _output_name(output: str, k: int) -> str:
    names = ("seg", "labels", "cutout", "contours")
    if output in names:
        return output
    if output.startswith("mask-") and output[5:].isdigit() and int(output[5:]) < k:
        return output
    raise ValueError(f"output must be one of {', '.join(names)} or mask-0 ... mask-{k - 1}, got {output!r}")


def indexed_image(indices: NDArray[np.uint8], palette: NDArray[np.uint8]) -> Image.Image:
    """A Pillow ``P`` image of ``indices`` into ``palette`` ``(m, 4)`` RGBA (its alpha values as
    the ``transparency`` of each entry when any is below 255)."""
    from PIL import Image

    height, width = indices.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(indices, dtype=np.uint8).tobytes())
    image.putpalette(np.ascontiguousarray(palette[:, :3]).tobytes(), "RGB")
    if bool((palette[:, 3] < 255).any()):
        image.info["transparency"] = np.ascontiguousarray(palette[:, 3]).tobytes()
    return image


def save_bytes(data: bytes, target: Target) -> None:
    """``data`` written to a path (atomically: a temporary file renamed into place, as the
    command line writes) or to a binary file object."""
    if isinstance(target, (str, os.PathLike)):
        from kmimg.io.files import write_atomic

        write_atomic(os.fspath(target), data)
        return
    if not hasattr(target, "write"):
        raise TypeError(f"target must be a path or a binary file, got {type(target).__name__}")
    target.write(data)


__all__ = [
    "ImageSource",
    "PaletteResult",
    "QuantizeResult",
    "SegmentResult",
    "palette",
    "quantize",
    "segment",
]

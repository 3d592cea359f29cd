"""The per-file work of ``kmimg segment`` (and :func:`kmimg.segment_files`): one input loaded,
segmented, and each asked-for output rendered and encoded; its record."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.errors import UsageError
from kmimg.io.files import check_writable_folder
from kmimg.jobs.paths import InputItem, check_outputs, expand_inputs, output_path
from kmimg.jobs.tasks import FileTask, Produced, Stopwatch
from kmimg.options import SegmentOptions
from kmimg.types import EMIT_ORDER, Emit

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.core.segment import ClusterStats, Segmentation

#: zlib levels. seg/labels/masks are flat areas: 6 deflates a 12-megapixel seg image twice as
#: fast as 9 for ~6 % more bytes. The cut-out and contours carry the photo's detail, where 1 is
#: ~4x faster than 6 for ~20 % more bytes.
FLAT_COMPRESS_LEVEL = 6
PHOTO_COMPRESS_LEVEL = 1


@frozen
class SegmentTask(FileTask):
    """One input to segment and where each of its outputs goes."""

    targets: dict[str, str]
    masks: tuple[str, ...]
    options: SegmentOptions
    max_pixels: int
    contour_color: tuple[int, int, int] | None
    allow_truncated: bool = False
    #: Count regions (for --json and the terminal table only: a labelling of the whole image).
    measure: bool = True


@frozen
class SegmentedFile:
    """What a worker hands back for one segmented input: enough for its JSON record and its row
    in the summary table (the label map stays in the worker)."""

    task: SegmentTask
    width: int
    height: int
    fit_shape: tuple[int, int]
    background: tuple[int, ...]
    foreground_fraction: float
    #: None when not counted (no --json, not on a terminal).
    foreground_regions: int | None
    regions_merged: int
    pixels_changed: int
    clusters: tuple[ClusterStats, ...]
    seconds: float

    @property
    def files(self) -> int:
        return len(self.task.targets) + len(self.task.masks)


def segment_one(task: SegmentTask) -> Produced[SegmentedFile]:
    """Load, segment, render and encode one input's outputs; returns its record and its files
    (runs in a worker, touches no file: the batch room writes them)."""
    from kmimg._threads import ordered_map
    from kmimg.core.segment import count_foreground_regions, segment
    from kmimg.io import OutputFile

    clock = Stopwatch()
    picture = task.input.load(max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
    result = segment(picture.rgb, task.options, alpha=picture.alpha, count_regions=task.measure)
    files = [(target, kind) for kind, target in task.targets.items()]
    files += [(target, f"mask-{i}") for i, target in enumerate(task.masks)]

    def encode(file: tuple[str, str]) -> OutputFile:
        target, name = file
        pixels = render_output(name, picture.rgb, picture.alpha, result, task.contour_color)
        return OutputFile(target, encode_output(name, pixels))

    # Pillow's encoder releases the GIL: the outputs are rendered and deflated side by side (one
    # thread per core, none in batch workers); each file's bytes do not depend on it.
    encoded = tuple(ordered_map(encode, files))
    record = SegmentedFile(
        task.bare(),
        picture.width,
        picture.height,
        result.fit_shape,
        result.background,
        float(result.foreground.mean()),
        count_foreground_regions(result) if task.measure else None,
        result.regions_merged,
        result.pixels_changed,
        result.clusters,
        clock.seconds(),
    )
    return Produced(record, encoded)


def render_output(
    name: str,
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    result: Segmentation,
    contour_color: tuple[int, int, int] | None,
) -> NDArray[np.uint8]:
    """The pixels of one output: ``seg``, ``labels``, ``cutout``, ``contours`` or ``mask-N``."""
    from kmimg.core.segment import contour_image, cutout_image, mask_image, segmented_image

    if name.startswith("mask-"):
        return mask_image(result, int(name.removeprefix("mask-")))
    if name == Emit.SEG.value:
        return segmented_image(result)
    if name == Emit.LABELS.value:
        return result.labels
    if name == Emit.CUTOUT.value:
        return cutout_image(rgb, alpha, result)
    if name == Emit.CONTOURS.value:
        return contour_image(rgb, result, contour_color)
    raise ValueError(f"unknown segment output {name!r}")


def encode_output(name: str, pixels: NDArray[np.uint8]) -> bytes:
    """An output's PNG at its zlib level (the cut-out and contours carry the photo's detail)."""
    from kmimg.io import encode_png

    photographic = name in (Emit.CUTOUT.value, Emit.CONTOURS.value)
    return encode_png(pixels, compress_level=PHOTO_COMPRESS_LEVEL if photographic else FLAT_COMPRESS_LEVEL)


def parse_emit(text: str) -> tuple[Emit, ...]:
    """``--emit`` as outputs in the fixed order seg, labels, masks, cutout, contours."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if "all" in names:
        return EMIT_ORDER
    known = {e.value for e in Emit}
    unknown = sorted(names - known)
    if unknown or not names:
        raise UsageError(
            f"--emit takes a comma-separated list of {', '.join(sorted(known))} or all; got {text!r}"
        )
    return tuple(e for e in EMIT_ORDER if e.value in names)


def parse_color(text: str) -> tuple[int, int, int] | None:
    """``auto`` (None) or ``#rrggbb``."""
    value = text.strip().lower()
    if value == "auto":
        return None
    digits = value.removeprefix("#")
    if len(digits) != 6 or any(c not in "0123456789abcdef" for c in digits):
        raise UsageError(f"--contour-color takes auto or #rrggbb; got {text!r}")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def plan_outputs(
    inputs: list[str],
    *,
    wanted: tuple[Emit, ...],
    k: int,
    out_dir: Path | None,
    recursive: bool,
    force: bool,
) -> tuple[list[tuple[InputItem, dict[str, str], tuple[str, ...]]], dict[str, str]]:
    """Every input's output files, all checked before any work; and the inputs refused."""
    items = expand_inputs(inputs, recursive=recursive)
    if out_dir is not None:
        check_writable_folder(out_dir)
    planned = []
    pairs: list[tuple[InputItem, Path]] = []
    for item in items:
        targets: dict[str, str] = {}
        masks: tuple[str, ...] = ()
        for kind in wanted:
            if kind is Emit.MASKS:
                paths = [output_path(item, suffix=f"-mask-{i}.png", out_dir=out_dir) for i in range(k)]
                masks = tuple(str(path) for path in paths)
                pairs.extend((item, path) for path in paths)
            else:
                path = output_path(item, suffix=f"-{kind.value}.png", out_dir=out_dir)
                targets[kind.value] = str(path)
                pairs.append((item, path))
        planned.append((item, targets, masks))
    refused = check_outputs(pairs, force=force)
    return planned, refused

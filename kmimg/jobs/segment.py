"""The per-file work of ``kmimg segment`` (and :func:`kmimg.segment_files`): one input loaded,
segmented, and each asked-for output rendered and encoded; its record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.jobs.tasks import FileTask, Produced, Stopwatch
from kmimg.options import SegmentOptions
from kmimg.types import Emit

if TYPE_CHECKING:
    from collections.abc import Callable

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
    from kmimg.core.segment import (
        contour_image,
        count_foreground_regions,
        cutout_image,
        segment,
        segmented_image,
    )
    from kmimg.io import OutputFile, encode_png

    clock = Stopwatch()
    picture = task.input.load(max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
    result = segment(picture.rgb, task.options, alpha=picture.alpha, count_regions=task.measure)
    renderers: dict[str, Callable[[], NDArray[np.uint8]]] = {
        Emit.SEG.value: lambda: segmented_image(result),
        Emit.LABELS.value: lambda: result.labels,
        Emit.CUTOUT.value: lambda: cutout_image(picture.rgb, picture.alpha, result),
        Emit.CONTOURS.value: lambda: contour_image(picture.rgb, result, task.contour_color),
    }
    files = [(target, renderers[kind]) for kind, target in task.targets.items()]
    files += [(target, _mask_renderer(result, i)) for i, target in enumerate(task.masks)]
    photographic = {task.targets.get(Emit.CUTOUT.value), task.targets.get(Emit.CONTOURS.value)}

    def encode(file: tuple[str, Callable[[], NDArray[np.uint8]]]) -> OutputFile:
        target, render = file
        level = PHOTO_COMPRESS_LEVEL if target in photographic else FLAT_COMPRESS_LEVEL
        return OutputFile(target, encode_png(render(), compress_level=level))

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


def _mask_renderer(result: Segmentation, index: int) -> Callable[[], NDArray[np.uint8]]:
    from kmimg.core.segment import mask_image

    return lambda: mask_image(result, index)

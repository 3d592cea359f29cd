"""The per-file work of ``kmimg quantize`` (and :func:`kmimg.quantize_files`): one input loaded,
quantized (fitted, or mapped onto a given palette) and encoded as an indexed PNG; its record."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.errors import UsageError
from kmimg.io.files import check_writable_folder
from kmimg.io.formats import output_format
from kmimg.jobs.paths import STDIO, InputItem, check_outputs, expand_inputs, output_path, plan_rerun
from kmimg.jobs.tasks import FileTask, Produced, Stopwatch
from kmimg.options import QuantizeOptions

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.core.quantize import Measure, Quality


@frozen
class QuantizeTask(FileTask):
    """One input to quantize and where its PNG goes (``-`` for stdout)."""

    target: str
    options: QuantizeOptions
    max_pixels: int
    allow_truncated: bool = False
    #: Compute PSNR, SSIM and ΔE2000 (``True``, for --json), the PSNR only (``"psnr"``, for the
    #: terminal table) or nothing (``False``).
    measure: Measure = True
    #: A given palette ``(m, 4)`` RGBA to map onto (fits nothing), and where it came from:
    #: ``fitted`` (per image), ``shared`` or the palette file's path.
    palette: NDArray[np.uint8] | None = None
    palette_source: str = "fitted"
    #: ``--skip-if-larger``: write nothing when the PNG would not be smaller than the input file.
    skip_if_larger: bool = False

    @property
    def uses_stdio(self) -> bool:
        return self.input.is_stdin or self.target == STDIO

    @property
    def k_requested(self) -> int:
        """The palette size asked for: ``-k``, or the palette file's number of colours."""
        if self.palette is None or self.palette_source == "shared":
            return self.options.k
        return len(self.palette)


@frozen
class QuantizedFile:
    """What a worker hands back for one written PNG: enough for its JSON record and its row in
    the summary table (the pixels stay in the worker)."""

    task: QuantizeTask
    width: int
    height: int
    #: The PNG's palette ``(m, 4)`` RGBA and the pixels on each entry.
    palette: NDArray[np.uint8]
    counts: NDArray[np.int64]
    quality: Quality | None
    input_bytes: int
    output_bytes: int
    seconds: float
    #: Why nothing was written (:data:`SKIPPED_LARGER`), or ``""``: the PNG was written.
    skipped: str = ""

    @property
    def colors_used(self) -> int:
        return len(self.palette)

    @property
    def output_shown(self) -> str:
        """The output as the summary table names it."""
        if self.skipped:
            return "not written: not smaller"
        return "<stdout>" if self.task.target == STDIO else self.task.target


#: :attr:`QuantizedFile.skipped` of a PNG not smaller than its input (``--skip-if-larger``).
SKIPPED_LARGER = "larger"


def quantize_one(task: QuantizeTask) -> Produced[QuantizedFile]:
    """Load, quantize and encode one input; returns its record and its PNG, or GIF for a
    target named ``.gif`` (runs in a worker, touches no file: the batch room writes it)."""
    from kmimg.core.quantize import analyze, quantize, quantize_onto
    from kmimg.io import OutputFile, encode_indexed_png

    clock = Stopwatch()
    picture = task.input.load(max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
    if task.palette is None:
        result = quantize(picture.rgb, picture.alpha, task.options, measure=task.measure)
    else:
        analysis = analyze(picture.rgb, picture.alpha)
        result = quantize_onto(analysis, task.palette, task.options, measure=task.measure)
    if task.target != STDIO and output_format(task.target) == "GIF":
        from kmimg.io.gif import encode_indexed_gif

        png = encode_indexed_gif(result.indices, result.palette)
    else:
        png = encode_indexed_png(result.indices, result.palette)
    size = (picture.width, picture.height)
    larger = task.skip_if_larger and len(png) >= picture.byte_size
    record = QuantizedFile(
        task.bare(),
        *size,
        result.palette,
        result.counts,
        result.quality,
        picture.byte_size,
        len(png),
        clock.seconds(),
        SKIPPED_LARGER if larger else "",
    )
    if larger:
        from kmimg.notes import warn

        warn(
            f"not written: the {len(png):,}-byte PNG would not be smaller than the input "
            f"({picture.byte_size:,} bytes; --skip-if-larger)"
        )
        return Produced(record)
    return Produced(record, (OutputFile(task.target, png),))


def output_suffix(colors: int, palette_file: str | None, ext: str | None = None) -> str:
    """``-kK.png``, or ``-<palette name>.png`` for outputs mapped onto a palette file, or
    ``ext`` (``--ext``) in place of either."""
    if ext is not None:
        if not ext or "/" in ext or "\0" in ext or (os.altsep and os.altsep in ext) or os.sep in ext:
            raise UsageError(f"--ext {ext!r}: give the end of a file name, such as .png or -min.png")
        try:  # --ext .jpg: PNG bytes are never written under another format's name
            output_format(f"output{ext}")
        except UsageError:
            raise UsageError(f"--ext {ext}: kmimg writes PNG or GIF; end it with .png or .gif") from None
        return ext
    return f"-{Path(palette_file).stem}.png" if palette_file else f"-k{colors}.png"


def plan_outputs(
    inputs: list[str],
    *,
    suffix: str,
    output: str | None,
    out_dir: Path | None,
    recursive: bool,
    force: bool,
    in_place: bool = False,
    skip_existing: bool = False,
) -> tuple[list[tuple[InputItem, str]], dict[str, str], dict[str, str]]:
    """Inputs with their output targets, the inputs refused before any work, and the inputs
    skipped (not failures), each with its reason.

    ``in_place`` (``--ext`` with ``--force``) lets an output be its own input (``--ext .png``):
    it is replaced atomically, as every output is. With ``force`` or ``skip_existing`` a rerun
    works (:func:`~kmimg.jobs.paths.plan_rerun`): an input that is another input's output is
    skipped, and ``skip_existing`` skips the inputs whose output exists.
    """
    if force and skip_existing:
        raise UsageError("give --force or --skip-existing, not both")
    items = expand_inputs(inputs, recursive=recursive)
    if output is not None and len(items) != 1:
        raise UsageError("-o/--output needs exactly one input; use --out-dir for several")
    if output is not None and out_dir is not None:
        raise UsageError("give -o/--output or --out-dir, not both")
    if output is not None:
        if output != STDIO:
            output_format(output)  # a .jpg, .bmp... name: a usage error, nothing written
            check_outputs([(items[0], Path(output))], force=True)
            if skip_existing and os.path.lexists(output):
                return [], {}, {items[0].source: f"output {output} exists (--skip-existing)"}
        return [(items[0], output)], {}, {}
    if items[0].is_stdin and len(items) == 1 and out_dir is None:
        return [(items[0], STDIO)], {}, {}
    if out_dir is not None:
        check_writable_folder(out_dir)
    pairs = [(item, output_path(item, suffix=suffix, out_dir=out_dir)) for item in items]
    skipped: dict[str, str] = {}
    if force or skip_existing:
        pairs, skipped = plan_rerun(pairs, skip_existing=skip_existing)
    try:
        refused = check_outputs(pairs, force=force, own_input_ok=in_place)
    except UsageError as exc:
        if "is another input" in str(exc) and not (force or skip_existing):
            raise UsageError(f"{exc}; to rerun, add --force or --skip-existing") from None
        raise
    return [(item, str(path)) for item, path in pairs], refused, skipped

"""The per-file work of ``kmimg quantize`` (and :func:`kmimg.quantize_files`): one input loaded,
quantized (fitted, or mapped onto a given palette) and encoded as an indexed PNG; its record."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.errors import UsageError
from kmimg.io.files import check_writable_folder
from kmimg.io.formats import output_format
from kmimg.jobs.paths import STDIO, InputItem, check_outputs, expand_inputs, output_path
from kmimg.jobs.tasks import FileTask, Produced, Stopwatch
from kmimg.options import QuantizeOptions

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.core.quantize import Quality


@frozen
class QuantizeTask(FileTask):
    """One input to quantize and where its PNG goes (``-`` for stdout)."""

    target: str
    options: QuantizeOptions
    max_pixels: int
    allow_truncated: bool = False
    #: Compute PSNR, SSIM and ΔE2000 (for --json and the terminal table only).
    measure: bool = True
    #: A given palette ``(m, 4)`` RGBA to map onto (fits nothing), and where it came from:
    #: ``fitted`` (per image), ``shared`` or the palette file's path.
    palette: NDArray[np.uint8] | None = None
    palette_source: str = "fitted"

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

    @property
    def colors_used(self) -> int:
        return len(self.palette)


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
    record = QuantizedFile(
        task.bare(),
        *size,
        result.palette,
        result.counts,
        result.quality,
        picture.byte_size,
        len(png),
        clock.seconds(),
    )
    return Produced(record, (OutputFile(task.target, png),))


def output_suffix(colors: int, palette_file: str | None) -> str:
    """``-kK.png``, or ``-<palette name>.png`` for outputs mapped onto a palette file."""
    return f"-{Path(palette_file).stem}.png" if palette_file else f"-k{colors}.png"


def plan_outputs(
    inputs: list[str], *, suffix: str, output: str | None, out_dir: Path | None, recursive: bool, force: bool
) -> tuple[list[tuple[InputItem, str]], dict[str, str]]:
    """Inputs with their output targets, and the inputs refused before any work."""
    items = expand_inputs(inputs, recursive=recursive)
    if output is not None and len(items) != 1:
        raise UsageError("-o/--output needs exactly one input; use --out-dir for several")
    if output is not None and out_dir is not None:
        raise UsageError("give -o/--output or --out-dir, not both")
    if output is not None:
        if output != STDIO:
            output_format(output)  # a .jpg, .bmp... name: a usage error, nothing written
            check_outputs([(items[0], Path(output))], force=True)
        return [(items[0], output)], {}
    if items[0].is_stdin and len(items) == 1 and out_dir is None:
        return [(items[0], STDIO)], {}
    if out_dir is not None:
        check_writable_folder(out_dir)
    pairs = [(item, output_path(item, suffix=suffix, out_dir=out_dir)) for item in items]
    refused = check_outputs(pairs, force=force)
    return [(item, str(path)) for item, path in pairs], refused

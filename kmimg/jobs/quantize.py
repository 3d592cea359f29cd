"""The per-file work of ``kmimg quantize`` (and :func:`kmimg.quantize_files`): one input loaded,
quantized (fitted, or mapped onto a given palette) and encoded as an indexed PNG; its record."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmimg._records import frozen
from kmimg.errors import UsageError
from kmimg.io.files import check_writable_folder
from kmimg.io.formats import NO_WEBP, output_format
from kmimg.jobs.paths import STDIO, InputItem, check_outputs, expand_inputs, output_path, plan_rerun
from kmimg.jobs.tasks import FileTask, Produced, Stopwatch
from kmimg.options import DEFAULT_OPTIMIZE, QualityGoal, QuantizeOptions

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.core.animation import FramePalettes, QuantizedFrames
    from kmimg.core.quality import GoalResult
    from kmimg.core.quantize import Measure, Quality, Quantized
    from kmimg.io.animation import Animation
    from kmimg.io.png import PngMetadata


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
    #: ``--optimize``: how hard the PNG encoder works (:data:`kmimg.io.png.OPTIMIZE_LEVELS`).
    optimize: int = DEFAULT_OPTIMIZE
    #: ``--strip``: no optional chunk (DPI, text, colour space) is carried over from the input.
    strip: bool = False
    #: Quality mode (``--quality``, ``--target-*``): the fewest colours up to ``options.k``
    #: that reach it (:mod:`kmimg.core.quality`); ``None``: exactly ``options.k``.
    goal: QualityGoal | None = None
    #: ``--frame-palettes`` (the command line's and ``quantize_files``' default unless a palette is
    #: given, shared or searched for): an animated GIF's frames may each get a colour table of
    #: their own (:func:`kmimg.core.animation.quantize_frame_palettes`); APNG and WebP outputs, and
    #: ``False`` (``--one-palette``), keep one palette for all frames.
    frame_palettes: bool = False

    @property
    def reorder(self) -> bool:
        """Whether the PNG encoder may reorder the palette: a fitted one without a fixed
        transparent slot (a given palette keeps its indices)."""
        return self.palette is None and self.options.transparent_index is None

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
    #: Why nothing was written (:data:`SKIPPED_LARGER`, :data:`SKIPPED_QUALITY`), or ``""``:
    #: the PNG was written.
    skipped: str = ""
    #: Quality mode: the palette size the search chose, the quality reached (0-100, pngquant's
    #: scale, undithered) and whether it reached the quality maximum and every target.
    k_chosen: int | None = None
    quality_score: int | None = None
    goal_met: bool | None = None
    #: Frames written: 1 for a still image, every frame of an animation kept whole.
    frames: int = 1

    @property
    def colors_used(self) -> int:
        return len(self.palette)

    @property
    def output_shown(self) -> str:
        """The output as the summary table names it."""
        if self.skipped == SKIPPED_QUALITY:
            return "not written: quality too low"
        if self.skipped:
            return "not written: not smaller"
        return "<stdout>" if self.task.target == STDIO else self.task.target


#: :attr:`QuantizedFile.skipped` of a PNG not smaller than its input (``--skip-if-larger``).
SKIPPED_LARGER = "larger"
#: :attr:`QuantizedFile.skipped` of an input whose best result is below ``--quality``'s MIN.
SKIPPED_QUALITY = "quality"


def quantize_one(task: QuantizeTask) -> Produced[QuantizedFile]:
    """Load, quantize and encode one input; returns its record and its PNG, or GIF for a
    target named ``.gif``, WebP for ``.webp`` (runs in a worker, touches no file: the batch
    room writes it). An animated GIF, PNG or WebP stays an animation (:func:`quantize_animation`)."""
    clock = Stopwatch()
    source = task.input.read()
    animation = source.animation(max_pixels=task.max_pixels)
    if animation is not None:
        return quantize_animation(task, animation, clock)
    picture = source.load(max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
    result, found = _quantized(task, picture.rgb, picture.alpha)
    if found is not None and found.below_minimum:
        return _too_low(task, (picture.width, picture.height), picture.byte_size, result, found, clock)
    data, palette, counts = _encoded(task, result, None if task.strip else picture.metadata)
    size = (picture.width, picture.height)
    return _produced(
        task, size, result, picture.byte_size, data, clock, found=found, entries=(palette, counts)
    )


def quantize_animation(task: QuantizeTask, animation: Animation, clock: Stopwatch) -> Produced[QuantizedFile]:
    """Every frame on one palette (:func:`kmimg.core.animation.quantize_frames`), written as an
    animated GIF for a target named ``.gif``, an animated WebP for ``.webp``, else as an APNG:
    the same frames, durations and loop count."""
    from kmimg.core.animation import quantize_frames

    options, found = task.options, _animation_goal(task, animation)
    size = (animation.width, animation.height)
    if found is not None:
        if found.below_minimum:
            return _too_low(task, size, animation.byte_size, found.quantized, found, clock)
        options = dataclasses.replace(options, k=found.k)
    if task.frame_palettes and _format(task) == "GIF":
        return _with_frame_palettes(task, animation, clock)
    frames = quantize_frames(
        animation.rgb, animation.alpha, options, palette=task.palette, measure=task.measure
    )
    arguments = (frames.indices, frames.palette, animation.durations, animation.loop)
    if _format(task) == "GIF":
        from kmimg.io.gif import encode_animated_gif

        data = encode_animated_gif(*arguments)
    elif _format(task) == "WEBP":
        from kmimg.io.webp import encode_animated_webp

        data = encode_animated_webp(*arguments, optimize=task.optimize)
    else:
        from kmimg.io.apng import encode_apng

        data = encode_apng(*arguments)
    return _produced(
        task, size, frames, animation.byte_size, data, clock, frames=frames.frame_count, found=found
    )


def _with_frame_palettes(
    task: QuantizeTask, animation: Animation, clock: Stopwatch
) -> Produced[QuantizedFile]:
    """An animated GIF whose frames each carry a palette of their own (``--frame-palettes``), or
    the frames on the one palette they share, written as the default writes them, when that
    costs less in squared error plus bytes at the byte price the frames were chosen at."""
    from kmimg.core.animation import frame_palettes_unrestored, measured_one
    from kmimg.io.gif import encode_animated_gif, encode_gif_frame_palettes, gif_frame_bytes

    def written(frames: FramePalettes) -> bytes:
        return encode_gif_frame_palettes(
            frames.indices, frames.drawn, frames.palettes, frames.own, frames.shared, frames.cleared,
            animation.durations, animation.loop, frames.restored,
        )  # fmt: skip

    frames, plain = frame_palettes_unrestored(
        animation.rgb, animation.alpha, task.options, frame_bytes=gif_frame_bytes, measure=task.measure
    )
    data = written(frames)
    if plain is not None:
        # frames the core restores leave the writer fewer to restore on its own: the file without
        # them is sometimes smaller at the same error
        plain_data = written(plain)
        if plain.costs_less(len(plain_data), frames, len(data)):
            frames, data = plain, plain_data
    size = (animation.width, animation.height)
    if frames.one is not None and frames.one_palette_may_pay(len(data)):
        one_data = encode_animated_gif(
            frames.one.indices, frames.one.palette, animation.durations, animation.loop
        )
        if frames.one_palette_cheaper(len(data), len(one_data)):
            one = measured_one(frames, animation.rgb, task.measure)
            return _produced(task, size, one, animation.byte_size, one_data, clock, frames=one.frame_count)
    return _produced(task, size, frames, animation.byte_size, data, clock, frames=frames.frame_count)


def _animation_goal(task: QuantizeTask, animation: Animation) -> GoalResult | None:
    """Quality mode on an animation: the fewest colours that reach the goal over all frames
    (the frames stacked into one image, as :func:`~kmimg.core.animation.quantize_frames` fits
    them; undithered), or ``None`` at a fixed k."""
    if task.goal is None or task.palette is not None:
        return None
    from kmimg.core.quality import quantize_to_goal
    from kmimg.core.quantize import analyze

    count, height, width = animation.rgb.shape[:3]
    alpha = None if animation.alpha is None else animation.alpha.reshape(count * height, width)
    analysis = analyze(animation.rgb.reshape(count * height, width, 3), alpha)
    plain = dataclasses.replace(task.options, dither=0.0)
    return quantize_to_goal(analysis, plain, task.goal, measure=False)


def _format(task: QuantizeTask) -> str:
    """``PNG``, ``GIF`` or ``WEBP``: what the target's name asks for (standard output: PNG)."""
    return "PNG" if task.target == STDIO else output_format(task.target)


def _produced(
    task: QuantizeTask,
    size: tuple[int, int],
    result: Quantized | QuantizedFrames | FramePalettes,
    input_bytes: int,
    data: bytes,
    clock: Stopwatch,
    *,
    frames: int = 1,
    found: GoalResult | None = None,
    entries: tuple[NDArray[np.uint8], NDArray[np.int64]] | None = None,
) -> Produced[QuantizedFile]:
    """The record of one input and its output file, or no file with ``--skip-if-larger``
    (``entries``: the palette and counts in the file's order when the encoder reordered them)."""
    from kmimg.io.files import OutputFile  # not the package: its lazy __getattr__ per file

    palette, counts = (result.palette, result.counts) if entries is None else entries

    larger = task.skip_if_larger and len(data) >= input_bytes
    record = QuantizedFile(
        task.bare(),
        *size,
        palette,
        counts,
        result.quality,
        input_bytes,
        len(data),
        clock.seconds(),
        SKIPPED_LARGER if larger else "",
        frames=frames,
        **_goal_fields(found),
    )
    if larger:
        from kmimg.notes import warn

        warn(
            f"not written: the {len(data):,}-byte {_format(task).replace('WEBP', 'WebP')} would not be "
            f"smaller than the input "
            f"({input_bytes:,} bytes; --skip-if-larger)"
        )
        return Produced(record)
    return Produced(record, (OutputFile(task.target, data),))


def _quantized(
    task: QuantizeTask, rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None
) -> tuple[Quantized, GoalResult | None]:
    """The input quantized: at ``options.k``, onto the given palette, or in quality mode."""
    from kmimg.core.quantize import analyze, quantize, quantize_onto

    if task.palette is not None:
        return quantize_onto(analyze(rgb, alpha), task.palette, task.options, measure=task.measure), None
    if task.goal is None:
        return quantize(rgb, alpha, task.options, measure=task.measure), None
    from kmimg.core.quality import quantize_to_goal

    found = quantize_to_goal(analyze(rgb, alpha), task.options, task.goal, measure=task.measure)
    return found.quantized, found


def _encoded(
    task: QuantizeTask, result: Quantized, metadata: PngMetadata | None
) -> tuple[bytes, NDArray[np.uint8], NDArray[np.int64]]:
    """The output's bytes, and the palette and counts in the order the file holds them."""
    if _format(task) == "GIF":
        from kmimg.io.gif import encode_indexed_gif

        return encode_indexed_gif(result.indices, result.palette), result.palette, result.counts
    if _format(task) == "WEBP":
        from kmimg.io.webp import encode_webp

        return (
            encode_webp(result.indices, result.palette, optimize=task.optimize),
            result.palette,
            result.counts,
        )
    from kmimg.io.png import encode_indexed

    encoded = encode_indexed(
        result.indices, result.palette, optimize=task.optimize, metadata=metadata, reorder=task.reorder
    )
    return encoded.data, result.palette[encoded.order], result.counts[encoded.order]


def _goal_fields(found: GoalResult | None) -> dict[str, Any]:
    """The quality-mode fields of a record (none at a fixed k)."""
    if found is None:
        return {}
    return {"k_chosen": found.k, "quality_score": found.measured.quality, "goal_met": found.meets}


def _too_low(
    task: QuantizeTask,
    size: tuple[int, int],
    input_bytes: int,
    result: Quantized,
    found: GoalResult,
    clock: Stopwatch,
) -> Produced[QuantizedFile]:
    """Nothing written: even ``-k`` colours stay below ``--quality``'s MIN (exit 99)."""
    from kmimg.notes import warn

    goal = task.goal
    minimum = goal.minimum if goal is not None else 0
    warn(
        f"not written: quality {found.measured.quality} with {found.k} colours is below the "
        f"minimum {minimum} (--quality)"
    )
    record = QuantizedFile(
        task.bare(),
        *size,
        result.palette,
        result.counts,
        result.quality,
        input_bytes,
        0,
        clock.seconds(),
        SKIPPED_QUALITY,
        **_goal_fields(found),
    )
    return Produced(record)


def output_suffix(
    colors: int, palette_file: str | None, ext: str | None = None, goal: QualityGoal | None = None
) -> str:
    """``-kK.png``, ``-qMIN-MAX.png`` (``-target.png`` for ``--target-*`` alone) in quality
    mode, or ``-<palette name>.png`` for outputs mapped onto a palette file; or ``ext``
    (``--ext``) in place of any."""
    if ext is not None:
        if not ext or "/" in ext or "\0" in ext or (os.altsep and os.altsep in ext) or os.sep in ext:
            raise UsageError(f"--ext {ext!r}: give the end of a file name, such as .png or -min.png")
        try:  # --ext .jpg: PNG bytes are never written under another format's name
            output_format(f"output{ext}")
        except UsageError:
            if ext.lower().endswith(".webp"):  # a Pillow without WebP support
                raise UsageError(f"--ext {ext}: {NO_WEBP}") from None
            raise UsageError(
                f"--ext {ext}: kmimg writes PNG, GIF or WebP; end it with .png, .gif or .webp"
            ) from None
        return ext
    if palette_file:
        return f"-{Path(palette_file).stem}.png"
    if goal is not None:
        return "-target.png" if goal.maximum is None else f"-q{goal.minimum}-{goal.maximum}.png"
    return f"-k{colors}.png"


#: The names the default naming rule gives, whatever the K or quality: ``NAME-k64.png``,
#: ``NAME-q60-80.png``, ``NAME-target.png`` (the rerun rule: these are outputs, not inputs).
NAMING_RULE = re.compile(r"(?P<stem>.+)-(?:k\d+|q\d+-\d+|target)\.png")


def naming_rule_outputs(
    pairs: list[tuple[InputItem, Path]],
) -> tuple[list[tuple[InputItem, Path]], dict[str, str]]:
    """Inputs named by the default naming rule after another input beside them (``a-k64.png``
    next to ``a.png``, from a run with any ``-k`` or ``--quality``) are that input's outputs,
    not inputs: a rerun with another ``-k`` writes no ``a-k64-k32.png``. Returns the pairs left
    and the skipped inputs with their reasons."""
    stems: dict[tuple[str, str], str] = {}
    for item, _ in pairs:
        if not item.is_stdin:
            stems.setdefault(_folder_and_stem(item.source), item.display)
    # This run's own outputs are left to the rules of reruns (plan_rerun, check_outputs).
    targets = {os.path.normpath(os.path.abspath(target)) for _, target in pairs}
    kept: list[tuple[InputItem, Path]] = []
    skipped: dict[str, str] = {}
    for item, target in pairs:
        own = item.is_stdin or os.path.normpath(os.path.abspath(item.source)) in targets
        match = None if own else NAMING_RULE.fullmatch(os.path.basename(item.source))
        folder = _folder_and_stem(item.source)[0]
        maker = stems.get((folder, match.group("stem"))) if match else None
        if maker is not None and maker != item.display:
            skipped[item.source] = f"it is an output of {maker} (kmimg's naming rule NAME-kK.png)"
        else:
            kept.append((item, target))
    return kept, skipped


def _folder_and_stem(source: str) -> tuple[str, str]:
    """A file's folder and its name without the suffix, as ``Path(source).parent`` and
    ``.stem`` give them (``a.`` keeps its dot), from strings: planning thousands of files
    builds no Path objects."""
    folder, name = os.path.split(os.path.normpath(source))
    dot = name.rfind(".")
    return folder or ".", name[:dot] if 0 < dot < len(name) - 1 else name


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
    naming_rule: bool = False,
) -> tuple[list[tuple[InputItem, str]], dict[str, str], dict[str, str]]:
    """Inputs with their output targets, the inputs refused before any work, and the inputs
    skipped (not failures), each with its reason.

    ``naming_rule`` (outputs named by the default rule, ``NAME-kK.png``): inputs that are
    outputs of that rule for another input, with any K (:func:`naming_rule_outputs`), are
    skipped too.

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
    if naming_rule:
        pairs, also = naming_rule_outputs(pairs)
        skipped.update(also)
    try:
        refused = check_outputs(pairs, force=force, own_input_ok=in_place)
    except UsageError as exc:
        if "is another input" in str(exc) and not (force or skip_existing):
            raise UsageError(f"{exc}; to rerun, add --force or --skip-existing") from None
        raise
    return [(item, str(path)) for item, path in pairs], refused, skipped

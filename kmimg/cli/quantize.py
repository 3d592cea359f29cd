"""``kmimg quantize``: fit a palette of k colours by k-means and write an indexed PNG."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from kmimg.cli import _options as opt
from kmimg.cli._common import (
    STDIO,
    InputItem,
    Record,
    Reporter,
    Stopwatch,
    boundary,
    check_outputs,
    check_side_output,
    check_writable_folder,
    expand_inputs,
    finish,
    output_path,
    run_batch,
    skip_blas_threads,
    write_json,
)
from kmimg.cli._dither import BareDither, DitherLevel, NoDither, dither_level
from kmimg.errors import UsageError
from kmimg.types import DEFAULT_MAX_PIXELS, DEFAULT_SAMPLE, ColorSpace

if TYPE_CHECKING:
    from kmimg.quantize import Quantized, QuantizeOptions

JSON_SCHEMA = "kmimg.quantize"
JSON_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class QuantizeTask:
    """One input to quantize and where its PNG goes (``-`` for stdout)."""

    source: str
    target: str
    options: QuantizeOptions
    max_pixels: int
    allow_truncated: bool = False
    #: Compute PSNR, SSIM and ΔE2000 (for --json and the terminal table only).
    measure: bool = True


def register(app: typer.Typer) -> None:
    app.command("quantize", cls=BareDither)(quantize_command)


def quantize_command(
    inputs: opt.Inputs,
    colors: Annotated[int, typer.Option("--colors", "-k", help="Palette size, 2-256.", min=2, max=256)] = 16,
    output: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--output",
            "-o",
            help="Output PNG for a single input ('-' = standard output); overwrites.",
            metavar="PATH|-",
        ),
    ] = None,
    out_dir: opt.OutDir = None,
    recursive: opt.Recursive = False,
    force: opt.Force = False,
    seed: opt.Seed = 0,
    space: Annotated[
        ColorSpace,
        typer.Option("--space", help="Fit and map colours in RGB (best PSNR) or CIELAB (best ΔE)."),
    ] = ColorSpace.RGB,
    dither: DitherLevel = None,
    no_dither: NoDither = False,
    sample: Annotated[
        int,
        typer.Option(
            "--sample", help="Pixels sampled for the k-means fit (0 = all). Every pixel is mapped.", min=0
        ),
    ] = DEFAULT_SAMPLE,
    json_dest: opt.JsonDest = None,
    quiet: opt.Quiet = False,
    jobs: opt.Jobs = None,
    fail_fast: opt.FailFast = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    allow_truncated: opt.AllowTruncated = False,
    debug: opt.Debug = False,
) -> None:
    """Reduce images to at most K colours fitted by k-means; write indexed PNGs.

    Outputs go to -o PATH (one input), into --out-dir, or next to each input as NAME-kK.png.
    Existing files are not overwritten without --force (an explicit -o always overwrites).

    Example: kmimg quantize sample_images/flower.jpg -k 16 -o out/flower-k16.png
    """
    reporter = Reporter(quiet=quiet, debug=debug)
    skip_blas_threads()
    with boundary(reporter):
        from kmimg.quantize import QuantizeOptions

        level = dither_level(dither, no_dither)
        options = QuantizeOptions(k=colors, seed=seed, space=space, dither=level, sample=sample)
        tasks, refused = _plan(
            inputs, suffix=f"-k{colors}.png", output=output, out_dir=out_dir, recursive=recursive, force=force
        )
        if json_dest == STDIO and any(target == STDIO for _, target in tasks):
            raise UsageError("--json - and a PNG on standard output cannot share it")
        check_side_output(json_dest, "--json", tasks)
        runnable = [
            QuantizeTask(
                source=item.source,
                target=target,
                options=options,
                max_pixels=max_pixels,
                allow_truncated=allow_truncated,
                measure=json_dest is not None or reporter.fancy,
            )
            for item, target in tasks
            if item.source not in refused
        ]
        outcome = run_batch(
            runnable,
            quantize_one,
            name_of=lambda task: task.source,
            reporter=reporter,
            jobs=jobs,
            fail_fast=fail_fast,
            label="quantizing",
            refused=refused,
        )

        if json_dest is not None:
            write_json(_json_document(options, outcome.results, outcome.failures), json_dest)
        if reporter.fancy:
            _print_summary(reporter, outcome.results)
    finish(outcome)


def _plan(
    inputs: list[str], *, suffix: str, output: str | None, out_dir: Path | None, recursive: bool, force: bool
) -> tuple[list[tuple[InputItem, str]], dict[str, str]]:
    """Inputs with their output targets, and the inputs refused before any work."""
    items = expand_inputs(inputs, recursive=recursive)
    if not items:
        raise UsageError("no input images found")
    if output is not None and len(items) != 1:
        raise UsageError("-o/--output needs exactly one input; use --out-dir for several")
    if output is not None and out_dir is not None:
        raise UsageError("give -o/--output or --out-dir, not both")
    if output is not None:
        target = Path(output)
        if output != STDIO:
            check_outputs([(items[0], target)], force=True)
        return [(items[0], output)], {}
    if items[0].is_stdin and len(items) == 1 and out_dir is None:
        return [(items[0], STDIO)], {}
    if out_dir is not None:
        check_writable_folder(out_dir)
    pairs = [(item, output_path(item, suffix=suffix, out_dir=out_dir)) for item in items]
    refused = check_outputs(pairs, force=force)
    return [(item, str(path)) for item, path in pairs], refused


def quantize_one(task: QuantizeTask) -> Record:
    """Load, quantize, encode and write one input; returns its record (runs in a worker)."""
    from kmimg.io import encode_indexed_png, load_image, write_atomic, write_stdout
    from kmimg.quantize import quantize

    clock = Stopwatch()
    picture = load_image(task.source, max_pixels=task.max_pixels, allow_truncated=task.allow_truncated)
    result = quantize(picture.rgb, picture.alpha, task.options, measure=task.measure)
    png = encode_indexed_png(result.indices, result.palette)
    if task.target == STDIO:
        if sys.stdout.isatty():
            raise UsageError("refusing to write PNG data to a terminal; redirect it or use -o PATH")
        write_stdout(png)
    else:
        Path(task.target).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(task.target, png)
    return Record(
        _record_fields(task, picture.width, picture.height, picture.byte_size, result, len(png), clock)
    )


def _record_fields(
    task: QuantizeTask,
    width: int,
    height: int,
    input_bytes: int,
    result: Quantized,
    output_bytes: int,
    clock: Stopwatch,
) -> dict[str, Any]:
    total = max(int(result.counts.sum()), 1)
    order = sorted(range(result.colors_used), key=lambda i: (-int(result.counts[i]), i))
    palette = [_palette_entry(result, i, total) for i in order]
    quality = result.quality
    return {
        "input": "<stdin>" if task.source == STDIO else task.source,
        "output": "<stdout>" if task.target == STDIO else task.target,
        "width": width,
        "height": height,
        "k_requested": task.options.k,
        "k_used": result.colors_used,
        "palette": palette,
        "psnr": _finite(quality.psnr) if quality else None,
        "ssim": round(quality.ssim, 6) if quality else None,
        "delta_e2000": round(quality.delta_e, 4) if quality else None,
        "input_bytes": input_bytes,
        "output_bytes": output_bytes,
        "seconds": clock.seconds(),
        "seed": task.options.seed,
        "space": task.options.space.value,
        "dither": task.options.dither,
    }


def _palette_entry(result: Quantized, index: int, total: int) -> dict[str, Any]:
    r, g, b, a = (int(v) for v in result.palette[index])
    hex_code = f"#{r:02x}{g:02x}{b:02x}" + (f"{a:02x}" if a < 255 else "")
    return {
        "index": index,
        "hex": hex_code,
        "rgb": [r, g, b],
        "alpha": a,
        "fraction": round(int(result.counts[index]) / total, 6),
    }


def _finite(value: float) -> float | None:
    # JSON has no infinity: a lossless result reports PSNR as null.
    return None if value == float("inf") else round(value, 4)


def _json_document(options: QuantizeOptions, results: list[Record], failures: list[Any]) -> dict[str, Any]:
    from kmimg import __version__

    return {
        "schema": JSON_SCHEMA,
        "schema_version": JSON_SCHEMA_VERSION,
        "kmimg_version": __version__,
        "results": [record.fields for record in results],
        "failures": [{"input": f.source, "error": f.reason} for f in failures],
    }


def _print_summary(reporter: Reporter, results: list[Record]) -> None:
    if not results:
        return
    from rich.table import Table

    table = Table(title=None, show_edge=False)
    for column in ("input", "output", "colours", "PSNR dB", "SSIM", "ΔE2000", "bytes", "s"):
        is_path = column in ("input", "output")
        table.add_column(
            column, justify="left" if is_path else "right", overflow="fold" if is_path else "ellipsis"
        )
    for record in results:
        f = record.fields
        psnr = "lossless" if f["psnr"] is None else f"{f['psnr']:.2f}"
        table.add_row(
            f["input"],
            f["output"],
            str(f["k_used"]),
            psnr,
            f"{f['ssim']:.4f}",
            f"{f['delta_e2000']:.2f}",
            f"{f['input_bytes']:,} → {f['output_bytes']:,}",
            f"{f['seconds']:.2f}",
        )
    reporter.console().print(table)

"""``kmimg palette``: fit one palette across images and write it as a palette file. The
histogram pass and the shared fit, which ``kmimg quantize --shared-palette`` uses too, are
:mod:`kmimg.jobs.palette`; checking quantize's palette options is :mod:`kmimg.cli.palette_plan`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kmimg.cli import _options as opt
from kmimg.cli.documents import palette_document, write_json
from kmimg.cli.frame import Reporter, command, finish
from kmimg.cli.palette_plan import parse_keep_option
from kmimg.errors import UsageError
from kmimg.io.formats import check_png_name
from kmimg.jobs.palette import (
    PaletteRun,
    fit_merged,
    fitted_palette,
    merge_histograms,
    palette_shares,
    write_palette_file,
)
from kmimg.jobs.paths import STDIO, check_side_output, expand_inputs
from kmimg.jobs.tasks import ImageInput
from kmimg.options import DEFAULT_MAX_PIXELS, QuantizeOptions
from kmimg.types import ColorSpace, PaletteWeight

if TYPE_CHECKING:
    from kmimg.palettes.files import Palette

DEFAULTS = QuantizeOptions()

Weight = Annotated[
    PaletteWeight,
    typer.Option("--weight", help="Across images, every pixel counts the same, or every image does."),
]


def register(app: typer.Typer) -> None:
    app.command("palette")(palette_command)


def palette_command(
    inputs: opt.Inputs,
    colors: Annotated[
        int,
        typer.Option("--colors", "-k", help="Palette size, 1-256.", min=1, max=QuantizeOptions.MAX_K),
    ] = DEFAULTS.k,
    output: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--output",
            "-o",
            help="Palette file: .gpl, .act, .pal, .hex, .txt or .json by its extension; '-' writes hex "
            "lines to standard output. Overwrites.",
            metavar="FILE|-",
        ),
    ] = None,
    swatch: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--swatch", help="Also draw the palette as a labelled PNG.", metavar="PNG", dir_okay=False
        ),
    ] = None,
    weight: Weight = PaletteWeight.PIXELS,
    keep: opt.Keep = None,
    recursive: opt.Recursive = False,
    seed: opt.Seed = DEFAULTS.seed,
    space: Annotated[
        ColorSpace, typer.Option("--space", help="Fit colours in RGB (best PSNR) or CIELAB (best ΔE).")
    ] = DEFAULTS.space,
    sample: Annotated[
        int, typer.Option("--sample", help="Pixels sampled for the k-means fit (0 = all).", min=0)
    ] = DEFAULTS.sample,
    posterize: Annotated[
        int,
        typer.Option(
            "--posterize",
            help="Colours with BITS fewer bits a channel, as quantize --posterize (4: RGBA4444, 3: RGB565).",
            min=0,
            max=QuantizeOptions.MAX_POSTERIZE,
            metavar="BITS",
        ),
    ] = DEFAULTS.posterize,
    json_dest: opt.JsonDest = None,
    quiet: opt.Quiet = False,
    jobs: opt.Jobs = None,
    scheduler: opt.Scheduler = None,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    allow_truncated: opt.AllowTruncated = False,
    debug: opt.Debug = False,
) -> None:
    """Fit one palette of K colours across all inputs (their colour histograms merged) and write
    it as a palette file; on a terminal, show its colours.

    No palette is written when an input cannot be read (exit 1): it would not be the palette
    of all of them.

    Example: kmimg palette frames/ -k 32 -o frames.gpl --swatch swatch.png
    """
    with command(quiet=quiet, debug=debug, numpy_threads=False) as reporter:
        kept = parse_keep_option(keep, colors)
        _check_palette_outputs(output, swatch, json_dest)
        items = expand_inputs(inputs, recursive=recursive)
        for destination, option in (
            (json_dest, "--json"),
            (None if swatch is None else str(swatch), "--swatch"),
        ):
            check_side_output(destination, option, [(item, STDIO) for item in items])
        total, outcome = merge_histograms(
            [ImageInput(item.source) for item in items],
            weight=weight,
            listener=reporter,
            jobs=jobs,
            scheduler=scheduler,
            max_pixels=max_pixels,
            allow_truncated=allow_truncated,
        )
        run = PaletteRun(
            None, [], kept, outcome.results, colors, weight, seed, space, None, outcome.failures, posterize
        )
        if outcome.failures:  # no palette: it would not be the palette of all the inputs
            if json_dest is not None:
                write_json(palette_document(run), json_dest)
            finish(outcome)
        fitted = fit_merged(
            total, k=colors, keep=kept, seed=seed, space=space, sample=sample, posterize=posterize
        )
        palette = fitted_palette(fitted, title=Path(output).stem if output and output != STDIO else "kmimg")
        run = dataclasses.replace(run, palette=palette, shares=palette_shares(fitted), output=output)
        _write_outputs(palette, run.shares, output=output, swatch=swatch)
        if json_dest is not None:
            write_json(palette_document(run), json_dest)
        if reporter.fancy:
            show_blocks(reporter, palette, run.shares)


def _check_palette_outputs(output: str | None, swatch: Path | None, json_dest: str | None) -> None:
    from kmimg.palettes.files import format_of

    if output is not None and output != STDIO:
        format_of(output)
    if output == STDIO and json_dest == STDIO:
        raise UsageError("--json - and -o - cannot share standard output")
    if swatch is not None:
        check_png_name(str(swatch), "--swatch")
    if swatch is not None and output is not None and output != STDIO and Path(output) == swatch:
        raise UsageError("--swatch and -o name the same file")


# ----------------------------------------------------------------------------- outputs


def _write_outputs(palette: Palette, shares: list[float], *, output: str | None, swatch: Path | None) -> None:
    if output is not None:
        write_palette_file(palette, output)
    if swatch is not None:
        from kmimg.io import encode_png, write_atomic
        from kmimg.render.swatch import draw_swatch

        write_atomic(swatch, encode_png(draw_swatch(palette.colors, shares)), parents=True)


def show_blocks(reporter: Reporter, palette: Palette, shares: list[float] | None) -> None:
    """The palette on the terminal (stderr): a colour block, index, hex code and share a line."""
    from rich.text import Text

    from kmimg.palettes.files import hex_code

    console = reporter.console()
    for index, row in enumerate(palette.colors.tolist()):
        line = Text()
        line.append("      ", style=f"on {hex_code(row[:3])}")
        line.append(f" {index:3d}  {hex_code(row):<9}")
        if shares is not None:
            line.append(f" {100 * shares[index]:5.1f} %")
        console.print(line)

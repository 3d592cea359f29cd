"""``kmimg quantize``: fit a palette of k colours by k-means and write an indexed PNG. The Typer
declaration of every option; what the command does is :func:`kmimg.cli.quantize_run.run_quantize`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kmimg.cli import _options as opt
from kmimg.cli._dither import BareDither, DitherLevel, NoDither
from kmimg.cli.quantize_run import ARGS, PSNR_ONLY, QuantizeArgs, run_quantize
from kmimg.options import MAX_OPTIMIZE, QuantizeOptions
from kmimg.types import Nearest

__all__ = ["PSNR_ONLY", "register"]


def register(app: typer.Typer) -> None:
    app.command("quantize", cls=BareDither)(quantize_command)


def quantize_command(
    ctx: typer.Context,
    inputs: opt.Inputs,
    colors: Annotated[
        int,
        typer.Option(
            "--colors",
            "-k",
            help=f"Palette size, {QuantizeOptions.MIN_K}-{QuantizeOptions.MAX_K}.",
            min=QuantizeOptions.MIN_K,
            max=QuantizeOptions.MAX_K,
        ),
    ] = ARGS.colors,
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
    ext: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--ext", help="Name outputs NAME+EXT, not NAME-kK.png (.png + --force: in place).", metavar="EXT"
        ),
    ] = None,
    recursive: opt.Recursive = False,
    force: opt.Force = False,
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing", help="Skip inputs whose output exists (resume a stopped batch)."),
    ] = False,
    seed: opt.Seed = ARGS.seed,
    space: opt.QuantizeSpace = ARGS.space,
    dither: DitherLevel = None,
    no_dither: NoDither = False,
    sample: Annotated[
        int,
        typer.Option(
            "--sample", help="Pixels sampled for the k-means fit (0 = all). Every pixel is mapped.", min=0
        ),
    ] = ARGS.sample,
    palette_file: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--palette",
            help="Map every input onto this palette (.gpl, .act, .pal, .hex, .txt, .json, or a PNG of at "
            "most 256 colours), fitting nothing: the PLTE lists the file's colours in the file's order.",
            metavar="FILE",
        ),
    ] = None,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared-palette",
            help="Fit one palette of K colours across all inputs: every output gets the same PLTE.",
        ),
    ] = False,
    palette_out: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--palette-out",
            help="Save the shared palette as a palette file (implies --shared-palette).",
            metavar="FILE",
        ),
    ] = None,
    keep: opt.Keep = None,
    transparent_index: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--transparent-index",
            help="The palette slot of fully transparent pixels, always transparent (0 for most game "
            "engines; with --palette it may reuse a colour's slot).",
            min=0,
            max=QuantizeOptions.MAX_K - 1,
            metavar="N",
        ),
    ] = None,
    alpha_threshold: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--alpha-threshold",
            help="Make alpha binary first: below A fully transparent, from A opaque (default for a "
            "--palette without translucent colours: 128).",
            min=1,
            max=255,
            metavar="A",
        ),
    ] = None,
    nearest: Annotated[
        Nearest,
        typer.Option(
            "--nearest",
            help="Match pixels to a --palette or shared palette by the plain distance of --space (best "
            "PSNR) or, in RGB, with luma weighted more (better SSIM).",
        ),
    ] = ARGS.nearest,
    posterize: Annotated[
        int,
        typer.Option(
            "--posterize",
            help="Fitted palette with BITS fewer bits a channel (pngquant's option): 4 for RGBA4444, "
            "3 for RGB565 (its red and blue).",
            min=0,
            max=QuantizeOptions.MAX_POSTERIZE,
            metavar="BITS",
        ),
    ] = ARGS.posterize,
    skip_if_larger: Annotated[
        bool,
        typer.Option("--skip-if-larger", help="Write no PNG that is not smaller than its input (exit 98)."),
    ] = False,
    quality: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--quality",
            help="pngquant's quality, 0-100: the fewest colours up to -k (default 256) that reach MAX; "
            "below MIN even with -k colours, nothing is written (exit 99). MAX alone means 0-MAX.",
            metavar="MIN-MAX",
            callback=opt.checked_by("kmimg.options", "parse_quality"),
        ),
    ] = None,
    target_psnr: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--target-psnr", help="The fewest colours up to -k with PSNR ≥ this (dB).", min=0.0),
    ] = None,
    target_ssim: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--target-ssim", help="The fewest colours up to -k with SSIM ≥ this.", min=0.0, max=1.0),
    ] = None,
    target_de: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--target-de", help="The fewest colours up to -k with mean ΔE2000 ≤ this.", min=0.0),
    ] = None,
    optimize: Annotated[
        int,
        typer.Option(
            "--optimize",
            "-O",
            help=f"PNG effort, 0-{MAX_OPTIMIZE}: 0 zlib (largest), 1 libdeflate 10, 2 libdeflate 12, "
            "3 also tries row filters (smallest); WebP: libwebp's effort. Same pixels at every level.",
            min=0,
            max=MAX_OPTIMIZE,
            metavar="LEVEL",
        ),
    ] = ARGS.optimize,
    strip: Annotated[
        bool,
        typer.Option("--strip", help="Write no optional chunk: no DPI (pHYs), text or sRGB from the input."),
    ] = False,
    frame_palettes: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--frame-palettes/--one-palette",
            help="Animated GIF output: each frame may get a colour table of up to K colours of its own, "
            "fitted to the pixels it changes, where that pays (the default for GIF output when no palette "
            "is given, shared or searched for); --one-palette: one palette for all frames. "
            "--frame-palettes: GIF only.",
            show_default=False,
        ),
    ] = None,
    json_dest: opt.JsonDest = None,
    quiet: opt.Quiet = False,
    jobs: opt.Jobs = None,
    scheduler: opt.Scheduler = None,
    fail_fast: opt.FailFast = False,
    max_pixels: opt.MaxPixels = ARGS.max_pixels,
    allow_truncated: opt.AllowTruncated = False,
    debug: opt.Debug = False,
) -> None:
    """Reduce images to at most K colours fitted by k-means; write indexed PNGs.

    Outputs go to -o PATH (one input), into --out-dir, or next to each input as NAME-kK.png
    (NAME-PALETTE.png with --palette PALETTE.gpl, NAME+EXT with --ext EXT).
    Existing files are not overwritten without --force (an explicit -o always overwrites).
    A name ending in .gif gets a GIF, .webp a lossless WebP. Animated GIF, APNG and WebP inputs
    stay animated, as a GIF (.gif: a frame may take a colour table of its own where that pays;
    --one-palette: one palette), a WebP (.webp) or an APNG (one palette for all frames).

    Example: kmimg quantize sample_images/flower.jpg -k 16 -o out/flower-k16.png
    """
    run_quantize(
        QuantizeArgs(
            inputs=tuple(inputs),
            colors=colors,
            output=output,
            out_dir=out_dir,
            ext=ext,
            recursive=recursive,
            force=force,
            skip_existing=skip_existing,
            seed=seed,
            space=space,
            dither=dither,
            no_dither=no_dither,
            sample=sample,
            palette_file=palette_file,
            shared=shared,
            palette_out=palette_out,
            keep=keep,
            transparent_index=transparent_index,
            alpha_threshold=alpha_threshold,
            nearest=nearest,
            posterize=posterize,
            skip_if_larger=skip_if_larger,
            quality=quality,
            target_psnr=target_psnr,
            target_ssim=target_ssim,
            target_de=target_de,
            optimize=optimize,
            strip=strip,
            frame_palettes=frame_palettes,
            json_dest=json_dest,
            quiet=quiet,
            jobs=jobs,
            scheduler=scheduler,
            fail_fast=fail_fast,
            max_pixels=max_pixels,
            allow_truncated=allow_truncated,
            debug=debug,
            colors_given=_given(ctx, "colors"),
        )
    )


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was on the command line (not its default)."""
    source = ctx.get_parameter_source(name)  # Click's ParameterSource (Typer may vendor Click)
    return source is not None and source.name == "COMMANDLINE"

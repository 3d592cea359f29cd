"""Translucent and grey images against pngquant and libimagequant (issue 24), for ``make bench``.

Sections of ``benchmarks/run.py`` (``--only translucent,grey``); the functions here take the
report and the timing helpers from it. The judged translucent set is made by
``translucent_set.py`` (never tuned on); the grey photos are scikit-image's greyscale photos,
saved as RGB PNGs, as people save grey photos for the web.

Three ways of measuring a translucent result, all over every pixel of the image:

- premultiplied RGBA: the mean squared error of ``(R A, G A, B A, alpha)`` (0-255 scale);
- over black: the RGB error of both images composited over black;
- over white: the same over white (how most web pages show them).

Contestants: ``kmimg quantize`` (one call per k for the whole set), ``pngquant K --nofs`` (its
default speed 4, one call per image) and libimagequant through PyPI ``imagequant`` (dithering
0, in this process; its PNGs are not compared, only its pixels: the PyPI package bundles
libimagequant 2.15.1, the C library pngquant 2.17 is built on, not the Rust libimagequant 4).
Same inputs, same k, one start each as each tool runs by default.

``python benchmarks/translucent.py --picture`` draws ``docs/translucent-icon.png``.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import inputs  # noqa: E402
import translucent_set  # noqa: E402

KS = (16, 64, 256)
DITHER_KS = (16, 64)
GREY_KS = tuple(range(4, 33))
GREY_SOURCES = ("camera", "moon", "brick", "grass", "gravel", "cell", "clock_motion", "page", "coins", "text")
MEASURES = ("premul", "black", "white")
#: Largest PSNR reported (a lossless result has an infinite one).
CAP = 99.0


def rgba_of(source: Path | bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    return np.asarray(image.convert("RGBA"))


def _psnr(mse: float) -> float:
    return CAP if mse <= 0 else min(CAP, 10 * float(np.log10(255.0**2 / mse)))


def measures(original: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """PSNR of ``output`` against ``original`` (both RGBA uint8) in the three ways."""
    o, q = original.astype(np.float64), output.astype(np.float64)
    ao, aq = o[..., 3:] / 255.0, q[..., 3:] / 255.0
    bo, bq = o[..., :3] * ao, q[..., :3] * aq
    black = float(((bo - bq) ** 2).mean())
    white = float(((bo + 255 * (1 - ao) - bq - 255 * (1 - aq)) ** 2).mean())
    premul = float(((((bo - bq) ** 2).sum(-1) + (o[..., 3] - q[..., 3]) ** 2) / 4).mean())
    return {"premul": _psnr(premul), "black": _psnr(black), "white": _psnr(white)}


def kmimg_outputs(kmimg: str, paths: Sequence[Path], k: int, folder: Path, *extra: str) -> dict[str, Path]:
    """``kmimg quantize`` of every path at ``k`` in one call; each input's output."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        kmimg,
        "quantize",
        *map(str, paths),
        "-k",
        str(k),
        "--out-dir",
        str(folder),
        "-q",
        "--force",
        *extra,
    ]
    subprocess.run(argv, check=True)
    return {p.name: folder / f"{p.stem}-k{k}.png" for p in paths}


def pngquant_output(path: Path, k: int, folder: Path, *, dither: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{path.stem}-k{k}.png"
    argv = ["pngquant", str(k), "--force", "-o", str(target), str(path)]
    subprocess.run(argv if dither else [*argv[:2], "--nofs", *argv[2:]], check=True)
    return target


def imagequant_rgba(path: Path, k: int) -> np.ndarray | None:
    """libimagequant's result (PyPI ``imagequant``), or ``None`` when it is not installed."""
    try:
        import imagequant
    except ImportError:
        return None
    out = imagequant.quantize_pil_image(Image.open(path).convert("RGBA"), dithering_level=0.0, max_colors=k)
    return np.asarray(out.convert("RGBA"))


Scores = dict[str, dict[str, float]]  # image name -> measure -> PSNR


def _gains(ours: Scores, theirs: Scores) -> dict[str, list[float]]:
    names = sorted(ours)
    return {m: [ours[n][m] - theirs[n][m] for n in names] for m in MEASURES}


def translucent_scores(kmimg: str, out: Path) -> dict[tuple[str, int], tuple[Scores, int]]:
    """(method, k) -> (scores per image, total PNG bytes) on the judged set."""
    paths = translucent_set.translucent_inputs("judged")
    originals = {p.name: rgba_of(p) for p in paths}
    found: dict[tuple[str, int], tuple[Scores, int]] = {}
    for k in KS:
        made = kmimg_outputs(kmimg, paths, k, out / f"kmimg-k{k}")
        found["kmimg", k] = (
            {n: measures(originals[n], rgba_of(made[n])) for n in originals},
            sum(made[n].stat().st_size for n in originals),
        )
        theirs = {p.name: pngquant_output(p, k, out / f"pngquant-k{k}") for p in paths}
        found["pngquant", k] = (
            {n: measures(originals[n], rgba_of(theirs[n])) for n in originals},
            sum(theirs[n].stat().st_size for n in originals),
        )
        liq = {p.name: imagequant_rgba(p, k) for p in paths}
        if all(v is not None for v in liq.values()):
            found["imagequant", k] = ({n: measures(originals[n], liq[n]) for n in originals}, 0)
    return found


def bench_translucent(report: Any, out: Path, kmimg: str) -> None:
    """Section: the judged translucent set, kmimg against pngquant and libimagequant."""
    found = translucent_scores(kmimg, out)
    paths = translucent_set.translucent_inputs("judged")
    report.add(
        "## Translucent images (issue 24)",
        "",
        f"{len(paths)} images of `benchmarks/translucent_set.py`'s judged set (anti-aliased shapes with "
        "shadows, text with shadows or glows, feathered cut-outs of the hold-out photos, sprite sheets "
        "with glows, icons of 16-64 px), never used for tuning. PSNR in three ways over every pixel "
        "(premultiplied RGBA; RGB composited over black; over white), kmimg minus the other tool, "
        "mean over the images and the worst image; bytes are totals of the output PNGs. "
        "libimagequant is PyPI `imagequant` (bundling libimagequant 2.15.1), dithering 0; only its "
        "pixels are compared.",
        "",
    )
    rows, gains = [], {}
    for other in ("pngquant", "imagequant"):
        for k in KS:
            if (other, k) not in found:
                continue
            g = _gains(found["kmimg", k][0], found[other, k][0])
            gains[other, k] = g
            bytes_ratio = found["kmimg", k][1] / found[other, k][1] if found[other, k][1] else float("nan")
            rows.append(
                [other, str(k)]
                + [f"{statistics.mean(g[m]):+.2f} (worst {min(g[m]):+.2f})" for m in MEASURES]
                + ["-" if other == "imagequant" else f"{bytes_ratio:.3f}"]
            )
    header = ["vs", "k", "Δ premultiplied dB", "Δ over black dB", "Δ over white dB", "bytes kmimg/pngquant"]
    report.table(header, rows)
    _translucent_targets(report, found, gains)


def _translucent_targets(report: Any, found: dict[Any, Any], gains: dict[Any, Any]) -> None:
    means = [statistics.mean(g[m]) for g in gains.values() for m in MEASURES]
    report.target("24a translucent PSNR", f"smallest mean gain {min(means):+.2f} dB", min(means) >= 0.3)
    worst = min(min(gains["pngquant", k]["premul"]) for k in KS)
    report.target("24b worst image", f"{worst:+.2f} dB premultiplied", worst >= -0.3)
    ratios = [found["kmimg", k][1] / found["pngquant", k][1] for k in KS]
    report.target(
        "24c bytes", ", ".join(f"{r:.3f}" for r in ratios) + " x at k = 16/64/256", max(ratios) <= 1.05
    )


def _over_white(rgba: np.ndarray, path: Path) -> Path:
    a = rgba[..., 3:].astype(np.float64) / 255.0
    rgb = rgba[..., :3] * a + 255.0 * (1.0 - a)
    Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8)).save(path)
    return path


def bench_translucent_dither(report: Any, out: Path, kmimg: str) -> None:
    """Section: dithered results composited over white, SSIMULACRA2 against pngquant's default."""
    try:
        import ssimulacra2
    except ImportError:
        report.add("(translucent dithering: `ssimulacra2` is not installed; `pip install '.[bench]'`)", "")
        return
    paths = [p for p in translucent_set.translucent_inputs("judged") if min(Image.open(p).size) >= 8]
    rows, diffs = [], []
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)

        def score(original: np.ndarray, output: np.ndarray) -> float:
            a, b = _over_white(original, tmp / "a.png"), _over_white(output, tmp / "b.png")
            return float(ssimulacra2.compute_ssimulacra2(str(a), str(b)))

        for k in DITHER_KS:
            made = kmimg_outputs(kmimg, paths, k, out / f"kmimg-dither-k{k}", "--dither")
            ours = [score(rgba_of(p), rgba_of(made[p.name])) for p in paths]
            theirs = [
                score(rgba_of(p), rgba_of(pngquant_output(p, k, out / f"pq-dither-k{k}", dither=True)))
                for p in paths
            ]
            diffs.append(statistics.mean(ours) - statistics.mean(theirs))
            rows.append(
                [
                    str(k),
                    f"{statistics.mean(ours):.2f}",
                    f"{statistics.mean(theirs):.2f}",
                    f"{diffs[-1]:+.2f}",
                ]
            )
    report.add(
        "### Translucent images dithered, composited over white",
        "",
        f"SSIMULACRA2 (PyPI `ssimulacra2`, 100 = identical) of each result composited over white against "
        f"the original over white, mean over {len(paths)} judged images (the 8 px and smaller left out): "
        "`kmimg quantize --dither` against pngquant's default dithering (`pngquant K`).",
        "",
    )
    report.table(["k", "kmimg --dither", "pngquant (default dithering)", "difference"], rows)
    report.target("24d dithered", ", ".join(f"{d:+.2f}" for d in diffs) + " at k = 16/64", min(diffs) >= 0)


def grey_inputs() -> list[Path]:
    """scikit-image's greyscale photos as RGB PNGs (``benchmarks/work/inputs/grey``)."""
    folder = inputs.INPUTS / "grey"
    data = inputs.skimage_data()
    paths = []
    for name in GREY_SOURCES:
        target = folder / f"{name}.png"
        if not target.exists():
            plain = Image.new("RGB", Image.open(data / f"{name}.png").size)
            plain.paste(Image.open(data / f"{name}.png").convert("L").convert("RGB"))  # no ICC profile
            inputs._save(plain, target)
        paths.append(target)
    return paths


def bench_grey(report: Any, out: Path, kmimg: str) -> None:
    """Section: grey photos at every k from 4 to 32, PSNR against pngquant."""
    paths = grey_inputs()
    originals = {p.name: np.asarray(Image.open(p).convert("RGB")).astype(np.float64) for p in paths}

    def psnr(name: str, output: Path) -> float:
        decoded = np.asarray(Image.open(output).convert("RGB")).astype(np.float64)
        return _psnr(float(((originals[name] - decoded) ** 2).mean()))

    rows, means, worsts = [], [], []
    for k in GREY_KS:
        made = kmimg_outputs(kmimg, paths, k, out / f"grey-kmimg-k{k}")
        gains = [
            psnr(p.name, made[p.name]) - psnr(p.name, pngquant_output(p, k, out / f"grey-pq-k{k}"))
            for p in paths
        ]
        means.append(statistics.mean(gains))
        worsts.append(min(gains))
        rows.append([str(k), f"{means[-1]:+.2f}", f"{worsts[-1]:+.2f}"])
    report.add(
        "## Grey photos (issue 24)",
        "",
        f"{len(paths)} greyscale photos of scikit-image ({', '.join(GREY_SOURCES)}) saved as RGB PNGs; "
        "PSNR of kmimg minus pngquant (`--nofs`), mean over the photos and the worst photo, at every k.",
        "",
    )
    report.table(["k", "Δ mean PSNR dB", "worst photo"], rows)
    report.target(
        "24e grey",
        f"smallest mean gain {min(means):+.2f} dB, worst photo {min(worsts):+.2f} dB (k = 4-32)",
        min(means) >= 0.2 and min(worsts) >= -0.05,
    )


def time_pairs() -> list[tuple[Path, Path]]:
    """Translucent judged images of 0.1 MP and more, each with its opaque twin (alpha dropped)."""
    pairs = []
    for path in translucent_set.translucent_inputs("judged"):
        image = Image.open(path)
        if image.size[0] * image.size[1] < 100_000:
            continue
        twin = inputs.INPUTS / "translucent" / "opaque" / path.name
        if not twin.exists():
            inputs._save(image.convert("RGB"), twin)
        pairs.append((path, twin))
    return pairs


def bench_translucent_time(
    report: Any,
    kmimg: str,
    alternate: Callable[..., dict[str, Any]],
    paired_ratio: Callable[..., float],
    reps: int,
) -> None:
    """Section: whole-process time of a translucent image against its opaque twin."""
    rows, ratios = [], []
    out = inputs.WORK / "out" / "translucent-time"
    out.mkdir(parents=True, exist_ok=True)
    for translucent, opaque in time_pairs():
        for k in KS:
            runs = alternate(
                {
                    "translucent": [
                        kmimg,
                        "quantize",
                        str(translucent),
                        "-k",
                        str(k),
                        "-o",
                        str(out / "t.png"),
                    ],
                    "opaque": [kmimg, "quantize", str(opaque), "-k", str(k), "-o", str(out / "o.png")],
                },
                reps,
            )
            ratio = paired_ratio(runs["translucent"], runs["opaque"], lambda run: run.wall)
            ratios.append(ratio)
            rows.append([translucent.name, str(k), f"{ratio:.2f}"])
    report.add(
        "### Time of a translucent image against the same pixels opaque",
        "",
        "`kmimg quantize IMAGE -k K -o out.png`, whole process, alternating runs; the opaque twin is the "
        "same image with its alpha dropped (same size, colours under transparency included).",
        "",
    )
    report.table(["image", "k", "time translucent / opaque"], rows)
    report.target(
        "24f time", f"median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}", max(ratios) <= 1.3
    )


def picture(kmimg: str, target: Path) -> None:
    """docs/translucent-icon.png: a soft-shadowed badge at k = 16 over light and dark: the
    original, kmimg and pngquant without dithering, then both dithered, each captioned with its
    premultiplied PSNR."""
    from PIL import ImageDraw, ImageFont

    source = translucent_set.translucent_inputs("judged")[7]  # shape-07: a badge with a soft shadow
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        panels = [
            ("original", rgba_of(source)),
            ("kmimg -k 16", rgba_of(kmimg_outputs(kmimg, [source], 16, tmp / "a")[source.name])),
            ("pngquant 16 --nofs", rgba_of(pngquant_output(source, 16, tmp / "b"))),
            (
                "kmimg --dither",
                rgba_of(kmimg_outputs(kmimg, [source], 16, tmp / "c", "--dither")[source.name]),
            ),
            ("pngquant 16", rgba_of(pngquant_output(source, 16, tmp / "d", dither=True))),
        ]
    original, side = panels[0][1], panels[0][1].shape[0]
    sheet = Image.new("RGB", (len(panels) * side, 2 * side + 48), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for column, (caption, rgba) in enumerate(panels):
        for row, background in enumerate(((245, 245, 245), (30, 30, 35))):
            tile = Image.new("RGBA", (side, side), (*background, 255))
            tile.alpha_composite(Image.fromarray(rgba, "RGBA"))
            sheet.paste(tile.convert("RGB"), (column * side, row * side))
        draw.text((column * side + 8, 2 * side + 6), caption, fill=(0, 0, 0), font=font)
        figure = "" if column == 0 else f"{measures(original, rgba)['premul']:.2f} dB"
        draw.text((column * side + 8, 2 * side + 26), figure, fill=(0, 0, 0), font=font)
    sheet.save(target, optimize=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    kmimg = str(Path(sys.executable).with_name("kmimg"))
    if "--picture" in args:
        picture(kmimg, HERE.parent / "docs" / "translucent-icon.png")
        return 0
    print("run through benchmarks/run.py: --only translucent,grey", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

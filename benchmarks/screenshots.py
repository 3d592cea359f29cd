"""PNG bytes on generated UI screenshots (session 14's finding for issue 26): kmimg against
pngquant and pngquant followed by oxipng, at the default ``--optimize`` and at ``-O 2``.

    .venv-bench/bin/python benchmarks/screenshots.py [--out DIR] [--ks 64,256] [--holdout]

Screenshot-like images (flat panels, a side bar, lines of text, gradient buttons) at four sizes
from a seeded generator; each is quantized with ``kmimg quantize IN -k K --strip [-O 2]`` and
``pngquant K --nofs --strip``, whose output is then recompressed by ``oxipng -o 2`` (PyPI
``pyoxipng``, the ``bench`` extra). Prints one line per image and K. Not judged and not part of
``make bench``: a check for the class, made after the encoder, never used to tune it.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZES = ((800, 600), (1280, 800), (1600, 1000), (2560, 1440))
KMIMG = str(Path(__file__).resolve().parent.parent / ".venv-bench" / "bin" / "kmimg")


def screenshot(width: int, height: int, seed: int) -> Image.Image:
    """A UI capture: a title bar, a side bar, rows of text and a few gradient buttons."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(235, 255, 3)))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 48), fill=tuple(int(v) for v in rng.integers(20, 90, 3)))
    side = width // 6
    draw.rectangle((0, 48, side, height), fill=(228, 231, 236))
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    for y in range(70, height - 30, 20):
        x = side + 24
        while x < width - 40:
            count = int(rng.integers(3, 12))
            draw.text((x, y), "".join(rng.choice(letters, count)), fill=(30, 30, 40))
            x += count * 7 + 12
    for _ in range(width * height // 200_000 + 2):
        x0, y0 = int(rng.integers(side, width - 300)), int(rng.integers(60, height - 200))
        colour = [int(v) for v in rng.integers(60, 240, 3)]
        for row in range(150):
            draw.line((x0, y0 + row, x0 + 280, y0 + row), fill=tuple(min(255, c + row // 3) for c in colour))
    return image


# ----------------------------------------------------------------------------- hold-out set
# Made in session 15 before the per-row filters and the level choice were written, and never
# used to tune them (``--holdout``): an editor in a dark theme, a spreadsheet with a chart, a web
# page with photo thumbnails, a diagram with anti-aliased lines, a map of flat regions.

HOLDOUT_SIZES = ((1280, 800), (1920, 1080), (2560, 1440))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _words(rng: np.random.Generator, count: int) -> str:
    letters = list("abcdefghijklmnopqrstuvwxyz_()=.:0123456789")
    return " ".join("".join(rng.choice(letters, int(rng.integers(2, 9)))) for _ in range(count))


def editor(width: int, height: int, seed: int) -> Image.Image:
    """A code editor in a dark theme: line numbers, syntax colours, a status bar, a mini map."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (30, 31, 36))
    draw = ImageDraw.Draw(image)
    font = _font(15)
    draw.rectangle((0, 0, 56, height), fill=(37, 38, 44))
    colours = [(198, 120, 221), (152, 195, 121), (97, 175, 239), (229, 192, 123), (171, 178, 191)]
    for line, y in enumerate(range(8, height - 40, 21)):
        draw.text((8, y), f"{line + 1:4d}", fill=(90, 94, 104), font=font)
        x = 70 + 32 * int(rng.integers(0, 4))
        for _ in range(int(rng.integers(0, 7))):
            word = _words(rng, 1)
            draw.text((x, y), word, fill=colours[int(rng.integers(0, len(colours)))], font=font)
            x += int(draw.textlength(word + " ", font=font))
    draw.rectangle((width - 110, 0, width, height), fill=(34, 35, 40))
    for y in range(4, height - 40, 3):
        draw.line((width - 100, y, width - 100 + int(rng.integers(5, 80)), y), fill=(70, 72, 80))
    draw.rectangle((0, height - 26, width, height), fill=(0, 122, 204))
    draw.text((12, height - 22), _words(rng, 6), fill=(255, 255, 255), font=font)
    return image


def spreadsheet(width: int, height: int, seed: int) -> Image.Image:
    """A spreadsheet: a grid of thin lines, numbers in cells, a shaded header, a bar chart."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = _font(13)
    draw.rectangle((0, 0, width, 30), fill=(242, 242, 242))
    for x in range(40, width, 100):
        draw.line((x, 0, x, height), fill=(218, 220, 224))
        draw.text((x + 40, 8), chr(65 + (x // 100) % 26), fill=(60, 60, 60), font=font)
    for y in range(30, height, 22):
        draw.line((0, y, width, y), fill=(218, 220, 224))
        for x in range(40, width // 2, 100):
            if rng.random() < 0.8:
                draw.text((x + 8, y + 4), f"{rng.normal(1000, 400):,.2f}", fill=(32, 33, 36), font=font)
    left, top = width // 2 + 40, 80
    draw.rectangle((left, top, width - 40, height - 80), fill=(255, 255, 255), outline=(180, 180, 180))
    bars = 12
    span = (width - 40 - left - 40) // bars
    for bar in range(bars):
        tall = int(rng.integers(40, height - 240))
        x0 = left + 20 + bar * span
        draw.rectangle((x0, height - 100 - tall, x0 + span - 10, height - 100), fill=(66, 133, 244))
    return image


def web_page(width: int, height: int, seed: int) -> Image.Image:
    """A web page: a header, photo thumbnails from scikit-image, headings, paragraphs, buttons."""
    from skimage import data

    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (250, 250, 252))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 64), fill=(24, 119, 242))
    draw.text((24, 18), "Example", fill=(255, 255, 255), font=_font(26))
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    size = (width - 120) // 4
    for number, photo in enumerate(photos):
        thumb = Image.fromarray(photo).resize((size - 20, (size - 20) * 2 // 3), Image.Resampling.LANCZOS)
        image.paste(thumb, (40 + number * size, 100))
        draw.text((40 + number * size, 110 + thumb.height), _words(rng, 3), fill=(20, 20, 20), font=_font(18))
    font = _font(15)
    y = 140 + (size - 20) * 2 // 3 + 40
    while y < height - 60:
        draw.text((40, y), _words(rng, width // 60), fill=(60, 64, 67), font=font)
        y += 22 if rng.random() < 0.85 else 48
    for number in range(3):
        x0 = width - 520 + number * 160
        draw.rounded_rectangle((x0, height - 50, x0 + 140, height - 14), 8, fill=(52, 168, 83))
    return image


def diagram(width: int, height: int, seed: int) -> Image.Image:
    """A diagram drawn at twice the size and scaled down (anti-aliased): boxes, arrows, labels."""
    rng = np.random.default_rng(seed)
    big = Image.new("RGB", (2 * width, 2 * height), (255, 255, 255))
    draw = ImageDraw.Draw(big)
    fills = [(255, 236, 179), (200, 230, 201), (187, 222, 251), (248, 187, 208), (225, 190, 231)]
    boxes = []
    for _ in range(width * height // 60_000 + 4):
        x0, y0 = int(rng.integers(40, 2 * width - 400)), int(rng.integers(40, 2 * height - 200))
        boxes.append((x0, y0, x0 + 320, y0 + 140))
        draw.rounded_rectangle(boxes[-1], 20, fill=fills[len(boxes) % 5], outline=(60, 60, 60), width=4)
        draw.text((x0 + 30, y0 + 50), _words(rng, 2), fill=(0, 0, 0), font=_font(36))
    for first, second in itertools.pairwise(boxes):
        draw.line(((first[2], first[1] + 70), (second[0], second[1] + 70)), fill=(90, 90, 90), width=5)
    return big.resize((width, height), Image.Resampling.LANCZOS)


def map_regions(width: int, height: int, seed: int) -> Image.Image:
    """A map: flat regions (nearest of random seeds) with dark borders, roads and labels."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, 1, (60, 2)) * (height, width)
    y, x = np.mgrid[0:height:4, 0:width:4]
    nearest = np.argmin((y[..., None] - points[:, 0]) ** 2 + (x[..., None] - points[:, 1]) ** 2, axis=2)
    fills = rng.integers(170, 250, (60, 3)).astype(np.uint8)
    small = Image.fromarray(fills[nearest])
    image = small.resize((width, height), Image.Resampling.NEAREST)
    edges = np.zeros(nearest.shape, bool)
    edges[1:] |= nearest[1:] != nearest[:-1]
    edges[:, 1:] |= nearest[:, 1:] != nearest[:, :-1]
    border = Image.fromarray((edges * 255).astype(np.uint8)).resize((width, height), Image.Resampling.NEAREST)
    image.paste((90, 90, 90), mask=border)
    draw = ImageDraw.Draw(image)
    for _ in range(8):
        draw.line(
            [tuple(rng.uniform(0, 1, 2) * (width, height)) for _ in range(4)], fill=(250, 200, 60), width=5
        )
    for py, px in points[:25]:
        draw.text((px, py), _words(rng, 1), fill=(20, 20, 20), font=_font(16))
    return image


HOLDOUT = (editor, spreadsheet, web_page, diagram, map_regions)


def oxipng_copy(source: Path, target: Path) -> None:
    import oxipng

    shutil.copyfile(source, target)
    oxipng.optimize(str(target), level=2)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str]) -> float:
    """Run ``command``; its CPU seconds (user + system)."""
    before = _children_cpu()
    subprocess.run(command, check=True)
    return _children_cpu() - before


def images(holdout: bool) -> list[tuple[str, Image.Image]]:
    if not holdout:
        return [(f"ui-{width}", screenshot(width, height, width)) for width, height in SIZES]
    return [
        (f"{make.__name__}-{width}", make(width, height, width + number))
        for number, make in enumerate(HOLDOUT)
        for width, height in HOLDOUT_SIZES
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/out/screenshots"))
    parser.add_argument("--ks", default="64,256")
    parser.add_argument(
        "--holdout", action="store_true", help="the hold-out set (editor, sheet, web, diagram, map)"
    )
    parser.add_argument("--O3", dest="more", action="store_const", const=("3",), default=(), help="also -O 3")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ratios: dict[str, list[float]] = {"1": [], "2": [], "pq": [], "time": []}
    for name, image in images(args.holdout):
        source = args.out / f"{name}.png"
        image.save(source)
        for k in (int(k) for k in args.ks.split(",")):
            pq, pqo = args.out / f"pq-{name}-{k}.png", args.out / f"pqo-{name}-{k}.png"
            _run(["pngquant", str(k), "--nofs", "--strip", "--force", "-o", str(pq), str(source)])
            oxipng_copy(pq, pqo)
            sizes, times = {}, {}
            for level in ("0", "1", "2", *args.more):
                out = args.out / f"kmimg-{name}-{k}-O{level}.png"
                command = [
                    KMIMG,
                    "quantize",
                    str(source),
                    "-k",
                    str(k),
                    "--strip",
                    "-O",
                    level,
                    "--force",
                    "-o",
                    str(out),
                ]
                times[level] = _run(command)
                sizes[level] = out.stat().st_size
            best = pqo.stat().st_size
            ratios["1"].append(sizes["1"] / best)
            ratios["2"].append(sizes["2"] / best)
            ratios["pq"].append(sizes["1"] / pq.stat().st_size)
            ratios["time"].append(times["1"] / times["0"])
            print(
                f"{name} ({image.width}x{image.height}) K={k}: "
                f"pngquant {pq.stat().st_size:,}, + oxipng {best:,}; "
                f"kmimg {sizes['1']:,} ({sizes['1'] / best:.3f}x; {ratios['pq'][-1]:.3f}x pngquant), "
                f"-O 2 {sizes['2']:,} ({sizes['2'] / best:.3f}x); CPU -O 1 / -O 0 {ratios['time'][-1]:.2f}"
                + "".join(f"; -O 3 {sizes[level]:,} ({sizes[level] / best:.3f}x)" for level in args.more),
                flush=True,
            )
    print(
        f"worst: kmimg {max(ratios['1']):.3f}x pngquant + oxipng ({max(ratios['pq']):.3f}x pngquant), "
        f"-O 2 {max(ratios['2']):.3f}x; median CPU -O 1 / -O 0 {float(np.median(ratios['time'])):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""PNG bytes on generated UI screenshots (session 14's finding for issue 26): kmimg against
pngquant and pngquant followed by oxipng, at the default ``--optimize`` and at ``-O 2``.

    .venv-bench/bin/python benchmarks/screenshots.py [--out DIR] [--ks 64,256]

Screenshot-like images (flat panels, a side bar, lines of text, gradient buttons) at four sizes
from a seeded generator; each is quantized with ``kmimg quantize IN -k K --strip [-O 2]`` and
``pngquant K --nofs --strip``, whose output is then recompressed by ``oxipng -o 2`` (PyPI
``pyoxipng``, the ``bench`` extra). Prints one line per image and K. Not judged and not part of
``make bench``: a check for the class, made after the encoder, never used to tune it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

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


def oxipng_copy(source: Path, target: Path) -> None:
    import oxipng

    shutil.copyfile(source, target)
    oxipng.optimize(str(target), level=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/out/screenshots"))
    parser.add_argument("--ks", default="64,256")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        source = args.out / f"ui-{width}.png"
        screenshot(width, height, width).save(source)
        for k in (int(k) for k in args.ks.split(",")):
            pq, pqo = args.out / f"pq-{width}-{k}.png", args.out / f"pqo-{width}-{k}.png"
            subprocess.run(
                ["pngquant", str(k), "--nofs", "--strip", "--force", "-o", str(pq), str(source)], check=True
            )
            oxipng_copy(pq, pqo)
            sizes = []
            for level in ("1", "2"):
                out = args.out / f"kmimg-{width}-{k}-O{level}.png"
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
                subprocess.run(command, check=True)
                sizes.append(out.stat().st_size)
            best = pqo.stat().st_size
            print(
                f"{width}x{height} K={k}: pngquant {pq.stat().st_size:,}, + oxipng {best:,}; kmimg "
                f"{sizes[0]:,} ({sizes[0] / best:.3f}x), -O 2 {sizes[1]:,} ({sizes[1] / best:.3f}x)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

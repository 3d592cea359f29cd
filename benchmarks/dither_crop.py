"""The side-by-side crop of docs/dithering.md: a coffee cup at k = 16, four ways.

``python benchmarks/dither_crop.py`` (needs pngquant on PATH and kmimg installed in the running
Python) writes ``docs/dither-crop.png``: the crema and rim of ``sample_images/coffee.png``,
enlarged 2x (nearest neighbour, so that single pixels show), as the original, kmimg without
dithering, kmimg ``--dither`` and pngquant's default (dithered) output, each at 16 colours.
A documentation picture only: nothing is tuned on it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "sample_images" / "coffee.png"
TARGET = ROOT / "docs" / "dither-crop.png"
KMIMG = str(Path(sys.executable).with_name("kmimg"))
K = 16
BOX = (180, 40, 400, 200)  # left, top, right, bottom: the crema and the rim
SCALE = 2
LABEL = 22


def outputs(folder: Path) -> list[tuple[str, Path]]:
    """Run the three quantizers; (caption, PNG) in display order."""
    plain, dithered, pngquant = folder / "plain.png", folder / "dither.png", folder / "pngquant.png"
    subprocess.run([KMIMG, "quantize", str(SOURCE), "-k", str(K), "-q", "-o", str(plain)], check=True)
    subprocess.run(
        [KMIMG, "quantize", str(SOURCE), "-k", str(K), "--dither", "-q", "-o", str(dithered)], check=True
    )
    subprocess.run(["pngquant", str(K), "--force", "--output", str(pngquant), "--", str(SOURCE)], check=True)
    return [
        ("original", SOURCE),
        (f"kmimg -k {K} (no dithering)", plain),
        (f"kmimg -k {K} --dither", dithered),
        (f"pngquant {K} (its default dithering)", pngquant),
    ]


def panel(caption: str, path: Path) -> Image.Image:
    crop = Image.open(path).convert("RGB").crop(BOX)
    crop = crop.resize((crop.width * SCALE, crop.height * SCALE), Image.Resampling.NEAREST)
    out = Image.new("RGB", (crop.width, crop.height + LABEL), "white")
    out.paste(crop, (0, LABEL))
    ImageDraw.Draw(out).text((4, 3), caption, fill="black", font=ImageFont.load_default(size=15))
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        panels = [panel(caption, path) for caption, path in outputs(Path(scratch))]
    width, height = panels[0].size
    gap = 6
    sheet = Image.new("RGB", (2 * width + gap, 2 * height + gap), "white")
    for i, image in enumerate(panels):
        sheet.paste(image, ((i % 2) * (width + gap), (i // 2) * (height + gap)))
    sheet.save(TARGET, optimize=True)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A folder of icons of 64x64 for the many-small-files bar of issue 26: ``kmimg quantize -k 16 DIR``
against pngquant given every file in one call.

``python benchmarks/icons.py [FOLDER] [--count N]`` writes ``icon-00000.png`` ... (default: 2,000
into ``benchmarks/work/inputs/icons``), the same bytes on every run (one seeded generator, Pillow's
drawing, PNG level 6 as an asset pipeline's exporter writes them). None of them comes from
``sample_images/``. The mix, cycling over every 20 icons:

- 6: opaque flat-colour glyphs (circles, rounded squares, stars, arrows) on a solid or
  two-colour gradient background, drawn 4x larger and box-filtered down (anti-aliased edges);
- 5: the same glyphs on a transparent background with a soft drop shadow (alpha 0-255 ramps:
  translucent pixels, the case pngquant and kmimg handle in their alpha-aware ways);
- 2: a translucent glassy badge: a disc of alpha 96-200 with a highlight, over nothing;
- 3: tiles cut from scikit-image's photos (astronaut, coffee, rocket, chelsea), at 1x or 2x
  scale, some of them with rounded transparent corners;
- 2: pixel-art sprites of 2-6 colours (hard edges, some with a transparent background);
- 2: line icons: a 3-4 px stroke in one colour over transparency (anti-aliased).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIDE = 64
COUNT = 2000
SEED = 2026
ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "benchmarks" / "work" / "inputs" / "icons"
_VERSION = "v1"
_PHOTOS = ("astronaut", "coffee", "rocket", "chelsea")


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return (int(rng.integers(0, 256)), int(rng.integers(0, 256)), int(rng.integers(0, 256)))


def _glyph(draw: ImageDraw.ImageDraw, rng: np.random.Generator, big: int, fill: tuple[int, ...]) -> None:
    """One glyph in the middle of a ``big`` x ``big`` canvas."""
    margin = big // 6 + int(rng.integers(0, big // 10))
    box = (margin, margin, big - margin, big - margin)
    kind = int(rng.integers(0, 4))
    if kind == 0:
        draw.ellipse(box, fill=fill)
    elif kind == 1:
        draw.rounded_rectangle(box, radius=big // 8, fill=fill)
    elif kind == 2:
        centre, outer, inner = big / 2, big / 2 - margin, (big / 2 - margin) * 0.45
        points = [
            (
                centre + (outer if i % 2 == 0 else inner) * math.cos(math.pi * i / 5 - math.pi / 2),
                centre + (outer if i % 2 == 0 else inner) * math.sin(math.pi * i / 5 - math.pi / 2),
            )
            for i in range(10)
        ]
        draw.polygon(points, fill=fill)
    else:
        mid = big // 2
        draw.polygon(
            [(margin, mid - big // 10), (mid, mid - big // 10), (mid, margin), (big - margin, mid),
             (mid, big - margin), (mid, mid + big // 10), (margin, mid + big // 10)],
            fill=fill,
        )  # fmt: skip


def _background(rng: np.random.Generator, big: int) -> Image.Image:
    first, second = np.array(_colour(rng), float), np.array(_colour(rng), float)
    if rng.random() < 0.5:
        return Image.new("RGBA", (big, big), (*_colour(rng), 255))
    ramp = np.linspace(0.0, 1.0, big)[:, None, None]
    pixels = np.broadcast_to(first + (second - first) * ramp, (big, big, 3))
    alpha = np.full((big, big, 1), 255.0)
    return Image.fromarray(np.concatenate([pixels, alpha], axis=2).round().astype(np.uint8), "RGBA")


def _opaque_glyph(rng: np.random.Generator) -> Image.Image:
    big = SIDE * 4
    canvas = _background(rng, big)
    draw = ImageDraw.Draw(canvas)
    _glyph(draw, rng, big, (*_colour(rng), 255))
    if rng.random() < 0.5:
        inner = big // 3
        draw.ellipse((inner, inner, big - inner, big - inner), fill=(*_colour(rng), 255))
    return canvas.resize((SIDE, SIDE), Image.Resampling.BOX).convert("RGB")


def _shadowed_glyph(rng: np.random.Generator) -> Image.Image:
    big = SIDE * 4
    shape = Image.new("L", (big, big), 0)
    _glyph(ImageDraw.Draw(shape), rng, big, (255,))
    offset = int(rng.integers(4, 14))
    shadow = Image.new("L", (big, big), 0)
    shadow.paste(shape, (offset, offset))
    shadow = shadow.filter(ImageFilter.GaussianBlur(int(rng.integers(6, 16))))
    strength = float(rng.uniform(0.35, 0.8))
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    canvas.putalpha(shadow.point(lambda v: round(v * strength)))
    canvas.paste(Image.new("RGBA", (big, big), (*_colour(rng), 255)), (0, 0), shape)
    return canvas.resize((SIDE, SIDE), Image.Resampling.BOX)


def _glass_badge(rng: np.random.Generator) -> Image.Image:
    big = SIDE * 4
    colour = _colour(rng)
    yy, xx = np.mgrid[0:big, 0:big].astype(float)
    radius = np.hypot(xx - big / 2, yy - big / 2) / (big * 0.45)
    alpha = np.where(radius <= 1.0, 96 + 104 * (1 - radius), 0.0)
    light = np.clip(1.0 - np.hypot(xx - big * 0.38, yy - big * 0.3) / (big * 0.25), 0.0, 1.0)
    rgb = np.array(colour, float) * (1 - 0.6 * light[..., None]) + 255 * 0.6 * light[..., None]
    pixels = np.concatenate([rgb, alpha[..., None]], axis=2).round().astype(np.uint8)
    return Image.fromarray(pixels, "RGBA").resize((SIDE, SIDE), Image.Resampling.BOX)


def _photo_tile(rng: np.random.Generator, photos: list[np.ndarray]) -> Image.Image:
    photo = photos[int(rng.integers(0, len(photos)))]
    step = int(rng.integers(1, 3))
    top = int(rng.integers(0, photo.shape[0] - SIDE * step))
    left = int(rng.integers(0, photo.shape[1] - SIDE * step))
    tile = np.ascontiguousarray(photo[top : top + SIDE * step, left : left + SIDE * step])
    image = Image.fromarray(tile).resize((SIDE, SIDE), Image.Resampling.BOX)
    if rng.random() < 0.4:  # an app icon: rounded transparent corners, anti-aliased
        mask = Image.new("L", (SIDE * 4, SIDE * 4), 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, SIDE * 4 - 1, SIDE * 4 - 1), radius=SIDE, fill=255)
        image = image.convert("RGBA")
        image.putalpha(mask.resize((SIDE, SIDE), Image.Resampling.BOX))
    return image


def _sprite(rng: np.random.Generator) -> Image.Image:
    count = int(rng.integers(2, 7))
    palette = rng.integers(0, 256, (count, 4)).astype(np.uint8)
    palette[:, 3] = 255
    if rng.random() < 0.5:
        palette[0, 3] = 0
    half = rng.integers(0, count, (16, 8))
    grid = np.concatenate([half, half[:, ::-1]], axis=1)
    pixels = np.repeat(np.repeat(palette[grid], 4, axis=0), 4, axis=1)
    return Image.fromarray(pixels, "RGBA")


def _line_icon(rng: np.random.Generator) -> Image.Image:
    big = SIDE * 4
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    colour, width = (*_colour(rng), 255), int(rng.integers(12, 17))
    margin = big // 5
    draw.ellipse((margin, margin, big - margin, big - margin), outline=colour, width=width)
    for _ in range(int(rng.integers(1, 4))):
        x0, y0, x1, y1 = (int(v) for v in rng.integers(margin, big - margin, 4))
        draw.line((x0, y0, x1, y1), fill=colour, width=width)
    return canvas.resize((SIDE, SIDE), Image.Resampling.BOX)


def _photos() -> list[np.ndarray]:
    import skimage.data

    return [np.asarray(getattr(skimage.data, name)())[..., :3] for name in _PHOTOS]


def icon(index: int, rng: np.random.Generator, photos: list[np.ndarray]) -> Image.Image:
    """The icon at ``index`` (its kind by ``index % 20``), drawn from ``rng``."""
    kind = index % 20
    if kind < 6:
        return _opaque_glyph(rng)
    if kind < 11:
        return _shadowed_glyph(rng)
    if kind < 13:
        return _glass_badge(rng)
    if kind < 16:
        return _photo_tile(rng, photos)
    if kind < 18:
        return _sprite(rng)
    return _line_icon(rng)


def generate(folder: Path = FOLDER, count: int = COUNT) -> Path:
    """``count`` icons in ``folder`` (kept when a complete set of that size is there)."""
    marker = folder / f".complete-{_VERSION}-{count}"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng, photos = np.random.default_rng(SEED), _photos()
    for index in range(count):
        icon(index, rng, photos).save(folder / f"icon-{index:05d}.png", format="PNG", compress_level=6)
    marker.write_text("complete\n")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=FOLDER)
    parser.add_argument("--count", type=int, default=COUNT)
    args = parser.parse_args(argv)
    folder = generate(args.folder, args.count)
    print(f"{folder}: {args.count} icons of {SIDE}x{SIDE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

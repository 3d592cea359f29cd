"""Translucent test images for the alpha-aware quantizer: two sets from one generator.

``python benchmarks/translucent_set.py`` writes ``benchmarks/work/inputs/translucent/judged/`` and
``.../tuning/`` (once; a second run keeps the files). Images with graded transparency as people run
them through a quantizer:

- ``shape-*``: anti-aliased shapes (discs, rounded boxes, stars, rings) in flat or gradient colours
  with soft drop shadows, on a transparent background, 96-512 px;
- ``text-*``: anti-aliased words with a shadow or a glow (Pillow's bundled font);
- ``cutout-*``: photos cut out along a blob-shaped mask with a feathered edge (sigma 1.5-12 px),
  some with a soft shadow under them;
- ``sprites-*``: sprite sheets: small shapes with coloured glows that fade to nothing;
- ``icon-*``: icons of 16-64 px: a gradient badge with a highlight and a shadow.

The judged set cuts out scikit-image's hold-out photos (``inputs.HOLDOUT_SOURCES``); the tuning
set cuts out the tuning set's generated images (``tuning.py``): no pixel is shared, and the two
sets come from different seeds. Tune on ``tuning``; the bars of issue 24 are read on ``judged``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inputs
import tuning

FOLDER = inputs.INPUTS / "translucent"
SEEDS = {"judged": 24_2026, "tuning": 24_1202}
WORDS = ("Save", "kmimg", "OK", "Next ›", "Hello", "Play", "42", "Sale!", "Menu", "Quantize")
SS = 4  # supersampling of the drawn shapes (anti-aliasing)


def _rgba(colour: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """An (h, w, 4) uint8 image: ``colour`` (h, w, 3) floats, alpha ``coverage`` in [0, 1]."""
    alpha = np.clip(coverage, 0.0, 1.0)
    out = np.concatenate([np.clip(colour, 0, 255), alpha[..., None] * 255.0], axis=-1)
    return np.rint(out).astype(np.uint8)


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Porter-Duff ``top`` over ``bottom``, both float (h, w, 4) with alpha in [0, 1]."""
    a_top, a_bottom = top[..., 3:], bottom[..., 3:]
    alpha = a_top + a_bottom * (1.0 - a_top)
    colour = top[..., :3] * a_top + bottom[..., :3] * a_bottom * (1.0 - a_top)
    safe = np.where(alpha > 0, alpha, 1.0)
    return np.concatenate([colour / safe, alpha], axis=-1)


def _gradient(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A linear two-colour gradient (h, w, 3) at a random angle, sometimes flat."""
    height, width = shape
    first = rng.uniform(0, 255, 3)
    if rng.random() < 0.3:
        return np.broadcast_to(first, (height, width, 3)).astype(np.float64)
    second = np.clip(first + rng.normal(0, 70, 3), 0, 255)
    angle = rng.uniform(0, 2 * math.pi)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    t = np.clip(0.5 + (x - 0.5) * math.cos(angle) + (y - 0.5) * math.sin(angle), 0, 1)[..., None]
    return first * (1 - t) + second * t


def _mask(rng: np.random.Generator, side: int, kind: str) -> np.ndarray:
    """Coverage in [0, 1] of one shape drawn at ``SS``x and reduced (anti-aliased edges)."""
    big = Image.new("L", (side * SS, side * SS), 0)
    draw = ImageDraw.Draw(big)
    m = side * SS
    lo, hi = int(m * rng.uniform(0.1, 0.25)), int(m * rng.uniform(0.75, 0.9))
    if kind == "disc":
        draw.ellipse((lo, lo, hi, hi), fill=255)
    elif kind == "box":
        draw.rounded_rectangle((lo, lo, hi, hi), radius=int((hi - lo) * rng.uniform(0.05, 0.3)), fill=255)
    elif kind == "ring":
        draw.ellipse((lo, lo, hi, hi), fill=255)
        inset = int((hi - lo) * rng.uniform(0.15, 0.3))
        draw.ellipse((lo + inset, lo + inset, hi - inset, hi - inset), fill=0)
    else:  # star
        points = int(rng.integers(5, 9))
        centre, outer = m / 2, (hi - lo) / 2
        inner = outer * rng.uniform(0.4, 0.6)
        corners = [
            (
                centre + (outer if i % 2 == 0 else inner) * math.cos(math.pi * i / points),
                centre + (outer if i % 2 == 0 else inner) * math.sin(math.pi * i / points),
            )
            for i in range(2 * points)
        ]
        draw.polygon(corners, fill=255)
    return np.asarray(big.resize((side, side), Image.Resampling.BOX), dtype=np.float64) / 255.0


def _shadowed(layer: np.ndarray, rng: np.random.Generator, *, glow: bool = False) -> np.ndarray:
    """``layer`` (float RGBA) over its own soft shadow (or a coloured glow)."""
    side = layer.shape[0]
    sigma = rng.uniform(0.02, 0.08) * side
    coverage = ndimage.gaussian_filter(layer[..., 3], sigma)
    if glow:
        colour = np.clip(layer[..., :3].reshape(-1, 3).mean(axis=0) + rng.normal(0, 40, 3), 0, 255)
        strength = rng.uniform(0.7, 1.0)
    else:
        dx, dy = (int(v) for v in rng.integers(1, max(2, side // 16), 2))
        coverage = np.roll(coverage, (dy, dx), axis=(0, 1))
        colour = np.zeros(3) + rng.uniform(0, 40)
        strength = rng.uniform(0.3, 0.7)
    shadow = np.concatenate(
        [np.broadcast_to(colour, (*coverage.shape, 3)), (coverage * strength)[..., None]], axis=-1
    )
    return _over(layer, shadow)


def shape_image(rng: np.random.Generator) -> np.ndarray:
    side = int(rng.choice([96, 128, 192, 256, 384, 512]))
    canvas = np.zeros((side, side, 4))
    for _ in range(int(rng.integers(1, 4))):
        kind = str(rng.choice(["disc", "box", "ring", "star"]))
        coverage = _mask(rng, side, kind)
        layer = np.concatenate([_gradient(rng, (side, side)), coverage[..., None]], axis=-1)
        canvas = _over(_shadowed(layer, rng, glow=rng.random() < 0.3), canvas)
    return _rgba(canvas[..., :3], canvas[..., 3])


def text_image(rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(18, 72))
    word = str(rng.choice(WORDS))
    font = ImageFont.load_default(size=size * SS)
    left, top, right, bottom = font.getbbox(word)
    pad = size
    width, height = (right - left) // SS + 2 * pad, (bottom - top) // SS + 2 * pad
    big = Image.new("L", (width * SS, height * SS), 0)
    ImageDraw.Draw(big).text((pad * SS - left, pad * SS - top), word, font=font, fill=255)
    coverage = np.asarray(big.resize((width, height), Image.Resampling.BOX), dtype=np.float64) / 255.0
    layer = np.concatenate([_gradient(rng, (height, width)), coverage[..., None]], axis=-1)
    out = _shadowed(layer, rng, glow=rng.random() < 0.5)
    return _rgba(out[..., :3], out[..., 3])


def cutout_image(rng: np.random.Generator, photo: np.ndarray) -> np.ndarray:
    """A blob-shaped piece of ``photo`` with a feathered edge, sometimes over a soft shadow."""
    height, width = photo.shape[:2]
    side = int(min(height, width, rng.integers(200, 640)))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    piece = photo[top : top + side, left : left + side, :3].astype(np.float64)
    noise = ndimage.gaussian_filter(rng.standard_normal((side, side)), side / 10)
    y, x = np.mgrid[0:side, 0:side] / side - 0.5
    blob = 0.36 - (x**2 + y**2) ** 0.5 + noise / max(float(np.abs(noise).max()), 1e-9) * 0.08
    feather = rng.uniform(1.5, 12.0)
    coverage = ndimage.gaussian_filter((blob > 0).astype(np.float64), feather)
    layer = np.concatenate([piece, coverage[..., None]], axis=-1)
    if rng.random() < 0.5:
        layer = _shadowed(layer, rng)
    return _rgba(layer[..., :3], layer[..., 3])


def sprites_image(rng: np.random.Generator) -> np.ndarray:
    cell = int(rng.choice([32, 48, 64]))
    columns, rows = int(rng.integers(3, 7)), int(rng.integers(2, 5))
    sheet = np.zeros((rows * cell, columns * cell, 4))
    for r in range(rows):
        for c in range(columns):
            kind = str(rng.choice(["disc", "box", "ring", "star"]))
            coverage = _mask(rng, cell, kind) * rng.uniform(0.8, 1.0)
            layer = np.concatenate([_gradient(rng, (cell, cell)), coverage[..., None]], axis=-1)
            sheet[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = _shadowed(layer, rng, glow=True)
    return _rgba(sheet[..., :3], sheet[..., 3])


def icon_image(rng: np.random.Generator) -> np.ndarray:
    side = int(rng.choice([16, 24, 32, 48, 64]))
    coverage = _mask(rng, side, str(rng.choice(["disc", "box"])))
    colour = _gradient(rng, (side, side))
    y = np.mgrid[0:side, 0:side][0] / side
    colour = colour + (np.clip(0.5 - y, 0, 1) * rng.uniform(40, 120))[..., None]  # a highlight
    layer = np.concatenate([colour, coverage[..., None]], axis=-1)
    out = _shadowed(layer, rng)
    return _rgba(out[..., :3], out[..., 3])


def _photos(which: str, rng: np.random.Generator) -> list[np.ndarray]:
    if which == "judged":
        return [np.asarray(image) for image in inputs.holdout_sources().values()]
    data = inputs.skimage_data()
    photos = [
        tuning.coloured(np.asarray(Image.open(data / f"{name}.png").convert("L")), rng)
        for name in tuning.GRAY_SOURCES[:4]
    ]
    return photos + [tuning.scene(rng) for _ in range(2)]


COUNTS = {"shape": 8, "text": 6, "cutout": 8, "sprites": 3, "icon": 8}


def translucent_inputs(which: str) -> list[Path]:
    """The images of set ``which`` ("judged" or "tuning"), generated if missing."""
    folder = FOLDER / which
    names = [f"{kind}-{i:02d}.png" for kind, count in COUNTS.items() for i in range(count)]
    paths = [folder / name for name in names]
    if all(path.exists() for path in paths):
        return paths
    rng = np.random.default_rng(SEEDS[which])
    photos = _photos(which, rng)
    makers = {"shape": shape_image, "text": text_image, "sprites": sprites_image, "icon": icon_image}
    for kind, count in COUNTS.items():
        for i in range(count):
            image = cutout_image(rng, photos[i % len(photos)]) if kind == "cutout" else makers[kind](rng)
            inputs._save(Image.fromarray(image, "RGBA"), folder / f"{kind}-{i:02d}.png")
    return paths


def main() -> int:
    for which in SEEDS:
        for path in translucent_inputs(which):
            rgba = np.asarray(Image.open(path).convert("RGBA"))
            alpha = rgba[..., 3]
            soft = float(((alpha > 0) & (alpha < 255)).mean())
            colours = len(np.unique(rgba.reshape(-1, 4).view(np.uint32)))
            size = f"{rgba.shape[1]}x{rgba.shape[0]}"
            print(f"{which:7s} {path.name:16s} {size:9s} {colours:7d} colours, {soft:.0%} soft")
    return 0


if __name__ == "__main__":
    sys.exit(main())

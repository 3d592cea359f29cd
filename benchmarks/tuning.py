"""A tuning set for the quantize fit that shares no pixel with the judged images.

``python benchmarks/tuning.py`` writes ``benchmarks/work/inputs/tuning/`` (once; a second run
keeps the files). The hold-out photos (``inputs.HOLDOUT_SOURCES``) judge issue 11's targets and
``sample_images/`` is the old tuning set; neither may choose a constant. scikit-image's other
bundled colour photos are the samples' sources (astronaut, chelsea, coffee), so this set is made
from what is left:

- ``gray-*``: scikit-image's greyscale photos (camera, moon, brick, grass, gravel, cell,
  clock_motion, page) coloured the way photos are: their luminance as CIELAB L*, the chroma a
  smooth random field that follows the luminance a little (warm lights, cool shadows), Lanczos-
  resized to 0.25-0.8 MP with seeded sensor noise (0.6-1.6 levels, mostly luminance), so that they have the
  tens of thousands of distinct colours of a real photo;
- ``scene-*``: generated scenes: sky-like gradients, soft shaded blobs and textures, noise;
- any PNG/JPEG given with ``--extra FILE`` (copied as PNG, e.g. photos of one's own).

Every image comes from one seeded generator; the set is the same on every machine.
``fit_eval.py --tuning`` runs the fit comparisons on it.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inputs

FOLDER = inputs.INPUTS / "tuning"
GRAY_SOURCES = ("camera", "moon", "brick", "grass", "gravel", "cell", "clock_motion", "page")
SCENES = 4


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    from kmimg.colorspace import lab_to_rgb

    flat = lab.reshape(-1, 3)
    return np.clip(np.rint(lab_to_rgb(flat)), 0, 255).astype(np.uint8).reshape(lab.shape)


def _field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A smooth random field of unit spread with features about ``scale`` pixels wide."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), scale)
    return noise / max(float(noise.std()), 1e-9)


def _noisy(rgb: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Sensor-like noise: ``sigma`` levels common to the channels (luminance noise, which JPEG
    and demosaicing leave) and an eighth of it per channel."""
    common = rng.standard_normal(rgb.shape[:2]).astype(np.float32)[..., None] * sigma
    own = rng.standard_normal(rgb.shape).astype(np.float32) * (sigma / 8)
    out = rgb.astype(np.float32) + common + own
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _resized(rgb: np.ndarray, megapixels: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = math.sqrt(megapixels * 1e6 / (width * height))
    image = Image.fromarray(rgb).resize(
        (round(width * scale), round(height * scale)), Image.Resampling.LANCZOS
    )
    return np.asarray(image)


def coloured(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A greyscale photo in colour: L* from its values, a and b a smooth field plus a tint that
    follows L* (warm highlights, cool shadows or the other way round), then resized and noised."""
    megapixels = float(rng.uniform(0.25, 0.8))
    gray = _resized(np.ascontiguousarray(gray), megapixels).astype(np.float64)
    shape = gray.shape
    lightness = gray / 255.0 * 100.0
    scale = float(rng.uniform(0.04, 0.15)) * max(shape)
    amount = float(rng.uniform(12, 35))
    hue = float(rng.uniform(0, 2 * np.pi))
    tilt = (lightness - 50.0) / 50.0 * float(rng.uniform(5, 20))
    a = _field(rng, shape, scale) * amount * 0.6 + math.cos(hue) * amount * 0.5 + tilt * math.cos(hue + 2.0)
    b = _field(rng, shape, scale) * amount * 0.6 + math.sin(hue) * amount * 0.5 + tilt * math.sin(hue + 2.0)
    rgb = _lab_to_rgb(np.stack([lightness, a, b], axis=-1))
    return _noisy(rgb, rng, float(rng.uniform(0.6, 1.6)))


def scene(rng: np.random.Generator) -> np.ndarray:
    """A generated scene: a two-colour sky gradient, shaded soft-edged blobs with a texture, noise."""
    width = int(rng.integers(600, 1200))
    height = int(width * rng.uniform(0.6, 0.9))
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    top, bottom = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = (y / height)[..., None]
    image = top * (1 - t) + bottom * t
    for _ in range(int(rng.integers(5, 14))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
        edge = np.clip((1.0 - inside) * rng.uniform(3, 30), 0.0, 1.0)[..., None]
        base = rng.uniform(0, 255, 3)
        shade = np.clip(1.0 - 0.5 * ((x - cx) / rx + (y - cy) / ry), 0.3, 1.6)[..., None]
        texture = _field(rng, (height, width), float(rng.uniform(1.5, 6)))[..., None] * rng.uniform(2, 15)
        image = image * (1 - edge) + np.clip(base * shade + texture, 0, 255) * edge
    image = ndimage.gaussian_filter(image, sigma=(0.7, 0.7, 0))
    return _noisy(np.clip(image, 0, 255).astype(np.uint8), rng, float(rng.uniform(0.6, 1.6)))


def tuning_inputs(extra: list[Path] | None = None) -> list[Path]:
    """The tuning images, generated if missing."""
    rng = np.random.default_rng(2026_12_02)
    paths = []
    data = inputs.skimage_data()
    for name in GRAY_SOURCES:
        target = FOLDER / f"gray-{name}.png"
        gray = np.asarray(Image.open(data / f"{name}.png").convert("L"))
        image = coloured(gray, rng)  # made even when kept: the generator advances the same way
        if not target.exists():
            inputs._save(Image.fromarray(image), target)
        paths.append(target)
    for index in range(SCENES):
        target = FOLDER / f"scene-{index}.png"
        image = scene(rng)
        if not target.exists():
            inputs._save(Image.fromarray(image), target)
        paths.append(target)
    for source in extra or []:
        target = FOLDER / f"extra-{source.stem}.png"
        if not target.exists():
            inputs._save(Image.open(source).convert("RGB"), target)
        paths.append(target)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extra", action="append", default=[], type=Path)
    args = parser.parse_args()
    for path in tuning_inputs(args.extra):
        image = np.asarray(Image.open(path).convert("RGB"))
        colours = len(np.unique(image.reshape(-1, 3) @ np.array([65536, 256, 1])))
        print(f"{path.name:24s} {image.shape[1]}x{image.shape[0]} {colours} colours")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark inputs, generated deterministically from ``sample_images/`` into ``benchmarks/work/inputs``.

- ``samples/``: the six sample images as PNG (pngquant reads PNG only), the quality benchmark.
- ``photo-12mp.png``: china.jpg cropped to 4:3 and upscaled (Lanczos) to 4000x3000.
- ``sweep/``: the same photo at 1, 4, 12 and 48 megapixels (4:3) for the scaling figures.
- ``folder/``: 20 photos of 0.3-1 MP cut and resized from the samples (crops, scales, flips).

Files that already exist with the right size are kept, so a second run costs nothing.
Run: ``python benchmarks/inputs.py`` (``run.py`` calls it).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"
WORK = ROOT / "benchmarks" / "work"
INPUTS = WORK / "inputs"
SAMPLE_NAMES = ("astronaut.png", "chelsea.png", "china.jpg", "coffee.png", "coins.png", "flower.jpg")
SWEEP_MEGAPIXELS = (1, 4, 12, 48)
FOLDER_COUNT = 20


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Level 1: inputs are written once and read many times; decoding speed is what matters.
    image.save(path, format="PNG", compress_level=1)


def _photo_43() -> Image.Image:
    """china.jpg centre-cropped to 4:3."""
    image = Image.open(SAMPLES / "china.jpg").convert("RGB")
    width, height = image.size
    crop_width = min(width, round(height * 4 / 3))
    left = (width - crop_width) // 2
    return image.crop((left, 0, left + crop_width, height))


def size_for(megapixels: float) -> tuple[int, int]:
    """A 4:3 size with about ``megapixels`` million pixels (12 MP is exactly 4000x3000)."""
    height = round(math.sqrt(megapixels * 1e6 * 3 / 4))
    return round(height * 4 / 3), height


def sample_inputs() -> list[Path]:
    paths = []
    for name in SAMPLE_NAMES:
        target = INPUTS / "samples" / (Path(name).stem + ".png")
        if not target.exists():
            _save(Image.open(SAMPLES / name), target)
        paths.append(target)
    return paths


def sweep_inputs() -> dict[int, Path]:
    paths = {}
    base = None
    for megapixels in SWEEP_MEGAPIXELS:
        target = INPUTS / "sweep" / f"photo-{megapixels}mp.png"
        size = size_for(megapixels)
        if not target.exists() or Image.open(target).size != size:
            base = base or _photo_43()
            _save(base.resize(size, Image.Resampling.LANCZOS), target)
        paths[megapixels] = target
    return paths


def folder_inputs() -> Path:
    """20 photos of 0.3-1 MP: each sample, cropped at a different place, resized, some mirrored."""
    folder = INPUTS / "folder"
    sources = [Image.open(SAMPLES / name).convert("RGB") for name in SAMPLE_NAMES]
    for index in range(FOLDER_COUNT):
        target = folder / f"photo-{index:02d}.png"
        if target.exists():
            continue
        image = sources[index % len(sources)]
        width, height = image.size
        # Crop 70-100% of the frame at a position that moves with the index, then scale so the
        # result has 0.3 + 0.7 * index / 19 megapixels.
        fraction = 0.7 + 0.3 * ((index * 7) % 10) / 9
        crop_w, crop_h = round(width * fraction), round(height * fraction)
        left = (width - crop_w) * ((index * 3) % 5) // 4
        top = (height - crop_h) * ((index * 2) % 3) // 2
        crop = image.crop((left, top, left + crop_w, top + crop_h))
        megapixels = 0.3 + 0.7 * index / (FOLDER_COUNT - 1)
        scale = math.sqrt(megapixels * 1e6 / (crop_w * crop_h))
        resized = crop.resize((round(crop_w * scale), round(crop_h * scale)), Image.Resampling.LANCZOS)
        _save(ImageOps.mirror(resized) if index % 2 else resized, target)
    return folder


def photo_12mp() -> Path:
    return sweep_inputs()[12]


def main() -> int:
    samples = sample_inputs()
    sweep = sweep_inputs()
    folder = folder_inputs()
    print(f"{len(samples)} samples, sweep {sorted(sweep)} MP, folder {folder} ({FOLDER_COUNT} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

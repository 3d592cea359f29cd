"""Benchmark inputs, generated deterministically from ``sample_images/`` into ``benchmarks/work/inputs``.

- ``samples/``: the six sample images as PNG (pngquant reads PNG only), the quality benchmark.
- ``photo-12mp.png``: china.jpg cropped to 4:3 and upscaled (Lanczos) to 4000x3000.
- ``sweep/``: the same photo at 1, 4, 12 and 48 megapixels (4:3) for the scaling figures.
- ``folder/``: 20 photos of 0.3-1 MP cut and resized from the samples (crops, scales, flips).

Hold-out inputs (issue 11's targets are judged on these, never on ``sample_images/``), from the
real photos scikit-image ships in ``skimage/data`` (licences in ``NOTES.md``):

All hold-out images are sRGB values without an embedded profile (see ``_as_srgb``).

- ``holdout/``: 8 colour photos of 0.26-2.0 MP: rocket, motorcycle_left, motorcycle_right,
  retina, hubble_deep_field, ihc as they are (PNG), and two crops (retina's centre, a corner of
  the Hubble field), for 6 distinct sources.
- ``holdout-folder/``: 24 photos of 0.2-2 MP: the 8 above and 16 crops / rescales / mirrors of
  the 6 sources.
- ``holdout-phase.png``: motorcycle_left resized to 866x577 (0.50 MP), the phase-table photo.
- ``holdout-12mp.png``: motorcycle_left cropped to 4:3, Lanczos-upscaled to 4000x3000, with
  seeded Gaussian noise (sigma 2 levels) so that it has the millions of distinct colours of a
  real 12 MP photo instead of an upscale's smooth ramps.
- ``small/``: 10,000 images of 64x64 (icons, sprites, tiles): flat-colour shapes with
  anti-aliased edges (60 %), the same with a transparent background (10 %), tiles cut from the
  hold-out photos (20 %), pixel-art sprites of 2-5 colours (10 %); all from one seeded generator.

Files that already exist with the right size are kept, so a second run costs nothing.
Run: ``python benchmarks/inputs.py`` (``run.py`` calls it).
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"
WORK = ROOT / "benchmarks" / "work"
INPUTS = WORK / "inputs"
SAMPLE_NAMES = ("astronaut.png", "chelsea.png", "china.jpg", "coffee.png", "coins.png", "flower.jpg")
SWEEP_MEGAPIXELS = (1, 4, 12, 48)
FOLDER_COUNT = 20
HOLDOUT_SOURCES = (
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
    "hubble_deep_field.jpg",
    "ihc.png",
)
HOLDOUT_FOLDER_COUNT = 24
SMALL_COUNT = 10_000
SMALL_SIDE = 64
_SMALL_VERSION = "v2"


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


# ----------------------------------------------------------------------------- hold-out set


def skimage_data() -> Path:
    """scikit-image's bundled data folder (found through the installed package)."""
    try:
        import skimage
    except ImportError as exc:  # pragma: no cover - kmimg depends on scikit-image
        raise SystemExit(
            "benchmarks: the hold-out photos come from scikit-image; pip install scikit-image"
        ) from exc
    folder = Path(skimage.__file__).resolve().parent / "data"
    missing = [name for name in HOLDOUT_SOURCES if not (folder / name).exists()]
    if missing:
        raise SystemExit(f"benchmarks: {folder} lacks {', '.join(missing)} (scikit-image too old?)")
    return folder


def _as_srgb(image: Image.Image) -> Image.Image:
    """RGB pixels in sRGB without an embedded profile: a non-sRGB profile (rocket.jpg carries
    Adobe RGB (1998)) is applied with LittleCMS first. Every contestant then reads the same
    numbers: kmimg applies embedded profiles, pngquant ignores them, and the quality figures
    compare raw pixel values."""
    profile = image.info.get("icc_profile")
    rgb = image.convert("RGB")
    if profile:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if "srgb" not in ImageCms.getProfileDescription(source).lower():
            rgb = ImageCms.profileToProfile(rgb, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    plain = Image.new("RGB", rgb.size)
    plain.paste(rgb)  # a fresh image: no icc_profile left in .info for the PNG writer
    return plain


def holdout_sources() -> dict[str, Image.Image]:
    folder = skimage_data()
    return {Path(name).stem: _as_srgb(Image.open(folder / name)) for name in HOLDOUT_SOURCES}


def _scaled_to(image: Image.Image, megapixels: float) -> Image.Image:
    width, height = image.size
    scale = math.sqrt(megapixels * 1e6 / (width * height))
    return image.resize((round(width * scale), round(height * scale)), Image.Resampling.LANCZOS)


def holdout_inputs() -> list[Path]:
    """The 8 hold-out photos (6 sources as they are, 2 crops), as PNG."""
    folder = INPUTS / "holdout"
    wanted = [folder / f"{Path(name).stem}.png" for name in HOLDOUT_SOURCES]
    wanted += [folder / "retina-centre.png", folder / "hubble-corner.png"]
    if all(path.exists() for path in wanted):
        return wanted
    sources = holdout_sources()
    for stem, image in sources.items():
        _save(image, folder / f"{stem}.png")
    retina = sources["retina"]  # 1411 x 1411: the centre 1000 x 750 (optic disc and vessels)
    _save(retina.crop((205, 330, 1205, 1080)), folder / "retina-centre.png")
    hubble = sources["hubble_deep_field"]  # 1000 x 872: the lower right 640 x 480
    _save(hubble.crop((360, 392, 1000, 872)), folder / "hubble-corner.png")
    return wanted


def holdout_folder() -> Path:
    """24 photos of 0.2-2 MP: the 8 hold-out photos and 16 crops / rescales / mirrors of them."""
    folder = INPUTS / "holdout-folder"
    targets = [folder / f"photo-{index:02d}.png" for index in range(HOLDOUT_FOLDER_COUNT)]
    if all(path.exists() for path in targets):
        return folder
    base = holdout_inputs()
    sources = list(holdout_sources().values())
    for index, target in enumerate(targets):
        if index < len(base):
            _save(Image.open(base[index]), target)
            continue
        variant = index - len(base)
        image = sources[variant % len(sources)]
        width, height = image.size
        fraction = 0.6 + 0.4 * ((variant * 7) % 10) / 9
        crop_w, crop_h = round(width * fraction), round(height * fraction)
        left = (width - crop_w) * ((variant * 3) % 5) // 4
        top = (height - crop_h) * ((variant * 2) % 3) // 2
        crop = image.crop((left, top, left + crop_w, top + crop_h))
        scale = 0.8 + 0.45 * ((variant * 5) % 8) / 7
        megapixels = min(2.0, max(0.2, crop_w * crop_h * scale * scale / 1e6))
        resized = _scaled_to(crop, megapixels)
        _save(ImageOps.mirror(resized) if variant % 2 else resized, target)
    return folder


def holdout_phase_photo() -> Path:
    target = INPUTS / "holdout-phase.png"
    if not target.exists():
        _save(holdout_sources()["motorcycle_left"].resize((866, 577), Image.Resampling.LANCZOS), target)
    return target


def holdout_12mp() -> Path:
    target = INPUTS / "holdout-12mp.png"
    if target.exists() and Image.open(target).size == (4000, 3000):
        return target
    image = holdout_sources()["motorcycle_left"]  # 741 x 500
    width, height = image.size
    crop_w = round(height * 4 / 3)
    left = (width - crop_w) // 2
    big = np.asarray(
        image.crop((left, 0, left + crop_w, height)).resize((4000, 3000), Image.Resampling.LANCZOS)
    )
    rng = np.random.default_rng(12)
    noisy = np.empty_like(big)
    for top in range(0, 3000, 500):  # in strips: a 12 MP float array would be 144 MB
        rows = big[top : top + 500].astype(np.float32)
        rows += rng.standard_normal(rows.shape, dtype=np.float32) * 2.0
        noisy[top : top + 500] = np.clip(np.rint(rows), 0, 255).astype(np.uint8)
    _save(Image.fromarray(noisy), target)
    return target


def _small_shapes(rng: np.random.Generator, *, alpha: bool) -> Image.Image:
    """Flat-colour shapes drawn 4x larger and box-filtered down: anti-aliased edges."""
    big = SMALL_SIDE * 4
    colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(int(rng.integers(2, 6)))]
    background = (0, 0, 0, 0) if alpha else (*colours[0], 255)
    canvas = Image.new("RGBA", (big, big), background)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(1, 5))):
        colour = (*colours[int(rng.integers(1, len(colours)))], 255)
        x0, y0 = (int(v) for v in rng.integers(0, big * 3 // 4, 2))
        x1, y1 = x0 + int(rng.integers(big // 8, big // 2)), y0 + int(rng.integers(big // 8, big // 2))
        kind = int(rng.integers(0, 4))
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind == 2:
            draw.rounded_rectangle((x0, y0, x1, y1), radius=big // 16, fill=colour)
        else:
            points = [
                tuple(int(v) for v in rng.integers(0, big, 2)) for _ in range(3 + int(rng.integers(0, 3)))
            ]
            draw.polygon(points, fill=colour)
    small = canvas.resize((SMALL_SIDE, SMALL_SIDE), Image.Resampling.BOX)
    return small if alpha else small.convert("RGB")


def _small_sprite(rng: np.random.Generator) -> Image.Image:
    """Pixel art: a mirrored 16x16 pattern of 2-5 colours, scaled 4x (nearest)."""
    count = int(rng.integers(2, 6))
    palette = rng.integers(0, 256, (count, 3)).astype(np.uint8)
    half = rng.integers(0, count, (16, 8))
    grid = np.concatenate([half, half[:, ::-1]], axis=1)
    pixels = np.repeat(np.repeat(palette[grid], 4, axis=0), 4, axis=1)
    return Image.fromarray(pixels)


def small_inputs() -> Path:
    """10,000 images of 64x64 in one folder (see the module docstring); generated once."""
    folder = INPUTS / "small"
    marker = folder / f".complete-{_SMALL_VERSION}"
    if marker.exists():
        return folder
    rng = np.random.default_rng(64)
    photos = [np.asarray(image) for image in holdout_sources().values()]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(SMALL_COUNT):
        kind = index % 20
        if kind < 12:
            image = _small_shapes(rng, alpha=False)
        elif kind < 14:
            image = _small_shapes(rng, alpha=True)
        elif kind < 18:
            photo = photos[int(rng.integers(0, len(photos)))]
            step = int(rng.integers(1, 3))  # tiles at full and half scale
            top = int(rng.integers(0, photo.shape[0] - SMALL_SIDE * step))
            left = int(rng.integers(0, photo.shape[1] - SMALL_SIDE * step))
            tile = photo[top : top + SMALL_SIDE * step, left : left + SMALL_SIDE * step]
            image = Image.fromarray(np.ascontiguousarray(tile)).resize(
                (SMALL_SIDE, SMALL_SIDE), Image.Resampling.BOX
            )
        else:
            image = _small_sprite(rng)
        _save(image, folder / f"icon-{index:05d}.png")
    marker.write_text("complete\n")
    return folder


def main() -> int:
    samples = sample_inputs()
    sweep = sweep_inputs()
    folder = folder_inputs()
    print(f"{len(samples)} samples, sweep {sorted(sweep)} MP, folder {folder} ({FOLDER_COUNT} files)")
    holdout = holdout_inputs()
    print(
        f"hold-out: {len(holdout)} photos, folder {holdout_folder()}, "
        f"{holdout_phase_photo()}, {holdout_12mp()}"
    )
    print(f"small: {small_inputs()} ({SMALL_COUNT} files of {SMALL_SIDE}x{SMALL_SIDE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a shared palette costs, and kmimg's against the known workaround (issue 13).

For each of the six hold-out photos (``inputs.holdout_sources``: never ``sample_images/``) a set of
related images is cut: six overlapping crops along the photo's diagonal, each half its width and
height, as frames of a camera pan are. Every set is quantized at each k three ways:

- **per-image**: ``kmimg quantize SET -k K`` (each crop its own palette; the bound);
- **shared**: ``kmimg quantize SET -k K --shared-palette`` (one palette, identical ``PLTE``s);
- **workaround** (pngquant #216): ImageMagick ``convert SET -append montage.png``, then
  ``pngquant K --nofs montage.png`` (no dithering, as in ``run.py``), then the montage cut back
  into the crops (with Pillow: the pixels ``convert -crop WxH +repage`` gives).

PSNR is over R, G, B of each crop against its original; the table gives the mean over the six
crops and the six photos. Run: ``.venv/bin/python benchmarks/palette.py [--k 16,64,256]``
(writes ``benchmarks/work/palette/results.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import WORK, holdout_sources
from run import find_imagemagick

ROOT = Path(__file__).resolve().parent.parent
OUT = WORK / "palette"
CROPS = 6
METHODS = ("per-image", "shared", "workaround")


def cut_sets() -> dict[str, list[Path]]:
    """Six crops of each hold-out photo, saved once under ``benchmarks/work/palette/<photo>/``."""
    sets: dict[str, list[Path]] = {}
    for stem, image in holdout_sources().items():
        folder = OUT / stem / "crops"
        folder.mkdir(parents=True, exist_ok=True)
        width, height = image.size
        w, h = width // 2, height // 2
        paths = []
        for i in range(CROPS):
            x = round(i * (width - w) / (CROPS - 1))
            y = round(i * (height - h) / (CROPS - 1))
            path = folder / f"crop_{i}.png"
            if not path.exists():
                image.crop((x, y, x + w, y + h)).save(path)
            paths.append(path)
        sets[stem] = paths
    return sets


def psnr(original: Path | np.ndarray, output: Path | np.ndarray) -> float:
    a = _rgb(original).astype(np.float64)
    b = _rgb(output).astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _rgb(image: Path | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    with Image.open(image) as opened:
        return np.asarray(opened.convert("RGB"))


def kmimg(crops: list[Path], k: int, out: Path, *shared: str) -> list[float]:
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "kmimg", "quantize", *map(str, crops), "-k", str(k)]
    subprocess.run([*command, "--out-dir", str(out), *shared, "-q"], check=True, cwd=ROOT)
    return [psnr(crop, out / f"{crop.stem}-k{k}.png") for crop in crops]


def workaround(crops: list[Path], k: int, out: Path, convert: str) -> list[float]:
    out.mkdir(parents=True, exist_ok=True)
    montage, quantized = out / "montage.png", out / f"montage-k{k}.png"
    subprocess.run([convert, *map(str, crops), "-append", str(montage)], check=True)
    subprocess.run(["pngquant", str(k), "--nofs", "--force", "-o", str(quantized), str(montage)], check=True)
    pixels = _rgb(quantized)
    scores, top = [], 0
    for crop in crops:
        original = _rgb(crop)
        piece = pixels[top : top + original.shape[0], : original.shape[1]]
        scores.append(psnr(original, piece))
        top += original.shape[0]
    return scores


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", default="16,64,256", help="palette sizes, comma-separated")
    args = parser.parse_args(argv)
    convert = find_imagemagick()
    if convert is None or shutil.which("pngquant") is None:
        raise SystemExit("palette.py needs pngquant and ImageMagick: apt-get install pngquant imagemagick")
    ks = [int(k) for k in args.k.split(",")]
    sets = cut_sets()
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    for stem, crops in sets.items():
        for k in ks:
            runs = {
                "per-image": kmimg(crops, k, OUT / stem / f"per-k{k}"),
                "shared": kmimg(crops, k, OUT / stem / f"shared-k{k}", "--shared-palette"),
                "workaround": workaround(crops, k, OUT / stem / f"workaround-k{k}", convert),
            }
            results.setdefault(stem, {})[str(k)] = runs
            print(stem, k, {m: round(float(np.mean(v)), 3) for m, v in runs.items()}, flush=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print()
    print("| k | " + " | ".join(f"{m} dB" for m in METHODS) + " | shared − workaround | per-image − shared |")
    print("|---|" + "---:|" * (len(METHODS) + 2))
    for k in ks:
        means = {m: float(np.mean([np.mean(results[s][str(k)][m]) for s in sets])) for m in METHODS}
        cells = " | ".join(f"{means[m]:.2f}" for m in METHODS)
        gain = means["shared"] - means["workaround"]
        cost = means["per-image"] - means["shared"]
        print(f"| {k} | {cells} | {gain:+.2f} | {cost:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

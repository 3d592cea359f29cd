"""``kmimg quantize --posterize BITS`` against ``pngquant K --nofs --posterize BITS``: PSNR of the
decoded outputs on the hold-out photos, scikit-image's grey photos and the judged translucent set
(premultiplied PSNR there), at K = 16, 64, 256 and 2 and 4 bits. Not part of ``make bench``.

    .venv-bench/bin/python benchmarks/posterize.py [--photos N] [--translucent N]

Prints one line per image, K and BITS, then the smallest and mean difference per set. Checks
that every value of kmimg's outputs is posterized (the colour of fully transparent pixels aside);
a case where pngquant's is not (not the same work) would be printed but left out of the figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import inputs  # noqa: E402
import translucent  # noqa: E402
import translucent_set  # noqa: E402

KMIMG = str(HERE.parent / ".venv-bench" / "bin" / "kmimg")
KS = (16, 64, 256)
BITS = (2, 4)


def _shown(bits: int) -> set[int]:
    return {(top << bits) | (top >> (8 - 2 * bits)) for top in range(1 << (8 - bits))}


def _psnr(source: np.ndarray, output: Path) -> float:
    """RGB PSNR, or premultiplied RGBA PSNR when the source has alpha."""
    image = Image.open(output)
    decoded = np.asarray(image.convert("RGBA" if source.shape[2] == 4 else "RGB")).astype(np.float64)
    original = source.astype(np.float64)
    if source.shape[2] == 4:
        original = np.dstack([original[..., :3] * original[..., 3:] / 255, original[..., 3]])
        decoded = np.dstack([decoded[..., :3] * decoded[..., 3:] / 255, decoded[..., 3]])
    mse = float(((original - decoded) ** 2).mean())
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


def _outputs(path: Path, k: int, bits: int, out: Path, kmimg: str) -> tuple[Path, Path]:
    """kmimg's and pngquant's outputs of ``path`` at ``k`` colours and ``bits``."""
    ours, theirs = out / f"k-{path.stem}-{k}-{bits}.png", out / f"p-{path.stem}-{k}-{bits}.png"
    flags = [str(k), "--posterize", str(bits)]
    subprocess.run([kmimg, "quantize", str(path), "-k", *flags, "-q", "-o", str(ours)], check=True)
    subprocess.run(["pngquant", *flags, "--nofs", "--force", "-o", str(theirs), str(path)], check=True)
    return ours, theirs


def _posterized(output: Path, bits: int) -> bool:
    """Every channel of every visible pixel, and every alpha, a posterized value (the colour of a
    fully transparent pixel is not shown)."""
    rgba = np.asarray(Image.open(output).convert("RGBA"))
    return set(np.unique(rgba[rgba[..., 3] > 0]).tolist()) | set(np.unique(rgba[..., 3]).tolist()) <= _shown(
        bits
    )


def compare(paths: list[Path], out: Path, kmimg: str) -> tuple[list[float], int]:
    """Each image at each K and BITS by both tools: kmimg's PSNR minus pngquant's (finite ones)
    where pngquant's output is posterized too, and how many of pngquant's are not (it keeps some
    colours of small images exact: not the same work)."""
    diffs, unfair = [], 0
    for path in paths:
        image = Image.open(path)
        source = np.asarray(image.convert("RGBA" if image.mode == "RGBA" else "RGB"))
        for k in KS:
            for bits in BITS:
                ours, theirs = _outputs(path, k, bits, out, kmimg)
                assert _posterized(ours, bits), f"{ours}: not posterized"
                a, b = _psnr(source, ours), _psnr(source, theirs)
                note = "" if _posterized(theirs, bits) else ", pngquant's not posterized: left out"
                if note:
                    unfair += 1
                elif np.isfinite(a) and np.isfinite(b):
                    diffs.append(a - b)
                print(f"{path.name} K={k} bits={bits}: kmimg {a:.2f}, pngquant {b:.2f} ({a - b:+.2f}{note})")
    return diffs, unfair


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=4, help="hold-out photos (the first N)")
    parser.add_argument("--translucent", type=int, default=12, help="judged translucent images (the first N)")
    parser.add_argument("--kmimg", default=KMIMG, help="the kmimg executable (default: .venv-bench's)")
    args = parser.parse_args()
    out = inputs.WORK / "out" / "posterize"
    out.mkdir(parents=True, exist_ok=True)
    sets = {
        "hold-out photos": inputs.holdout_inputs()[: args.photos],
        "grey photos": translucent.grey_inputs()[:4],
        "translucent (premultiplied)": translucent_set.translucent_inputs("judged")[: args.translucent],
    }
    for name, paths in sets.items():
        diffs, unfair = compare(paths, out, args.kmimg)
        low, mean = min(diffs), float(np.mean(diffs))
        print(
            f"== {name}: {len(diffs)} cases, kmimg - pngquant: smallest {low:+.2f}, mean {mean:+.2f} dB "
            f"({unfair} where pngquant's output is not posterized left out)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

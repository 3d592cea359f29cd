"""The quantize fit's quality and CPU time on the hold-out photos, in-process, against pngquant.

``python benchmarks/fit_eval.py [--ks 8,16,64,256] [--set NAME=VALUE ...] [--images a,b] [--tuning]``

For each hold-out photo (``inputs.holdout_inputs``) and k it fits with ``cluster.fit_palette``
under a :class:`kmimg.colorfit.FitSchedule` (the default, or with ``--set`` fields replaced),
maps the pixels as ``kmimg quantize`` does, and prints kmimg's mean PSNR / SSIM minus
pngquant's per k (pngquant's outputs are made once, ``--nofs``, and cached under
``benchmarks/work/fit-eval``), the mean ΔPSNR over the k, and the fit's CPU seconds
(``time.process_time``, summed over the photos: the machine is shared, so CPU time rather than
wall time), and the total PNG bytes against pngquant's (kmimg's encoder, pngquant's files).
The figures are those of RESULTS.md's quality section (target 4), which is deterministic; this
is the quick loop for trying a schedule, RESULTS.md the judgement. ``--tuning`` runs on the
tuning set of ``tuning.py`` instead (images that share no pixel with the judged ones): choose
constants there, then check once on the hold-out photos.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inputs
import tuning

from kmimg import colorfit as cluster
from kmimg import metrics
from kmimg.core import quantize
from kmimg.io import encode_indexed_png, load_image

CACHE = inputs.WORK / "fit-eval"
SPACE = cluster.ColorSpace.RGB


def pngquant_rgb(source: Path, k: int) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"{source.stem}-pq{k}.png"
    if not target.exists():
        subprocess.run(["pngquant", str(k), "--nofs", "--force", "-o", str(target), str(source)], check=True)
    return np.asarray(Image.open(target).convert("RGB"))


def pngquant_bytes(source: Path, k: int) -> int:
    return (CACHE / f"{source.stem}-pq{k}.png").stat().st_size


def kmimg_rgb(
    analysis: quantize.Analysis,
    k: int,
    schedule: cluster.FitSchedule,
    sample: int = cluster.DEFAULT_SAMPLE,
    seed: int = 0,
) -> tuple[np.ndarray, float, int]:
    begin = time.process_time()
    fitted = cluster.fit_palette(
        analysis.table, k=k, seed=seed, schedule=schedule, space=SPACE, sample=sample
    )
    seconds = time.process_time() - begin
    palette, _counts, order = quantize._png_palette(fitted, analysis, None)
    indices = quantize._indices(analysis, order[fitted.labels], palette, dither=False)
    size = len(encode_indexed_png(indices, palette))
    return np.asarray(palette[:, :3][indices]), seconds, size


def parse_value(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ks", default="8,16,64,256")
    parser.add_argument("--set", action="append", default=[], help="FitSchedule field=value")
    parser.add_argument("--images", default="", help="comma-separated stems (default: all 8)")
    parser.add_argument("--per-image", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=cluster.DEFAULT_SAMPLE, help="pixels sampled (0: all)")
    parser.add_argument(
        "--samples", action="store_true", help="the sample images instead (the old tuning set)"
    )
    parser.add_argument("--tuning", action="store_true", help="the tuning set of tuning.py instead")
    args = parser.parse_args()
    changes = {name: parse_value(value) for name, value in (item.split("=", 1) for item in args.set)}
    schedule = dataclasses.replace(cluster.DEFAULT_SCHEDULE, **changes)
    ks = [int(k) for k in args.ks.split(",")]
    if args.tuning:
        extra = sorted(tuning.FOLDER.glob("extra-*.png"))  # added once by tuning.py --extra
        paths = tuning.tuning_inputs() + extra
    else:
        paths = inputs.sample_inputs() if args.samples else inputs.holdout_inputs()
    if args.images:
        wanted = set(args.images.split(","))
        paths = [path for path in paths if path.stem in wanted]
    gains = []
    pictures = [load_image(path) for path in paths]
    analyses = [quantize.analyze(picture.rgb, picture.alpha) for picture in pictures]
    for k in ks:
        dpsnr, dssim, fit_s, ours_bytes, theirs_bytes = [], [], 0.0, 0, 0
        for path, picture, analysis in zip(paths, pictures, analyses, strict=True):
            ours, seconds, size = kmimg_rgb(analysis, k, schedule, args.sample, args.seed)
            fit_s += seconds
            theirs = pngquant_rgb(path, k)
            ours_bytes += size
            theirs_bytes += pngquant_bytes(path, k)
            p = metrics.psnr(picture.rgb, ours) - metrics.psnr(picture.rgb, theirs)
            if not np.isfinite(p):  # lossless (coins at k = 256): left out, as in RESULTS.md
                continue
            s = metrics.ssim(picture.rgb, ours) - metrics.ssim(picture.rgb, theirs)
            dpsnr.append(p)
            dssim.append(s)
            if args.per_image:
                print(f"  {path.stem:18s} k={k:3d} dPSNR {p:+.3f} dSSIM {s:+.4f} fit {seconds:.3f}s")
        gains.append(float(np.mean(dpsnr)))
        print(
            f"k={k:3d} dPSNR {np.mean(dpsnr):+.4f} dSSIM {np.mean(dssim):+.5f} "
            f"bytes {ours_bytes / theirs_bytes:.3f}x fit CPU {fit_s:.2f}s",
            flush=True,
        )
    print(f"mean dPSNR {np.mean(gains):+.4f}  schedule changes {changes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The quantize fit's quality and CPU time on the hold-out photos, in-process, against pngquant.

``python benchmarks/fit_eval.py [--ks 8,16,64,256] [--set NAME=VALUE ...] [--images a,b]``

For each hold-out photo (``inputs.holdout_inputs``) and k it fits with ``cluster.fit_palette``
under a :class:`kmimg.cluster.FitSchedule` (the default, or with ``--set`` fields replaced),
maps the pixels as ``kmimg quantize`` does, and prints kmimg's mean PSNR / SSIM minus
pngquant's per k (pngquant's outputs are made once, ``--nofs``, and cached under
``benchmarks/work/fit-eval``), the mean ΔPSNR over the k, and the fit's CPU seconds
(``time.process_time``, summed over the photos: the machine is shared, so CPU time rather than
wall time). The figures are those of RESULTS.md's quality section (target 4), which is
deterministic; this is the quick loop for trying a schedule, RESULTS.md the judgement.
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

from kmimg import cluster, metrics, quantize
from kmimg.io import load_image

CACHE = inputs.WORK / "fit-eval"
SPACE = cluster.ColorSpace.RGB


def pngquant_rgb(source: Path, k: int) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"{source.stem}-pq{k}.png"
    if not target.exists():
        subprocess.run(["pngquant", str(k), "--nofs", "--force", "-o", str(target), str(source)], check=True)
    return np.asarray(Image.open(target).convert("RGB"))


def kmimg_rgb(analysis: quantize.Analysis, k: int, schedule: cluster.FitSchedule) -> tuple[np.ndarray, float]:
    begin = time.process_time()
    fitted = cluster.fit_palette(analysis.table, k=k, seed=0, schedule=schedule, space=SPACE)
    seconds = time.process_time() - begin
    palette, _counts, order = quantize._png_palette(fitted, analysis)
    indices = quantize._indices(analysis, order[fitted.labels], palette, dither=False)
    return np.asarray(palette[:, :3][indices]), seconds


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
    parser.add_argument(
        "--samples", action="store_true", help="the sample images instead (the old tuning set)"
    )
    args = parser.parse_args()
    changes = {name: parse_value(value) for name, value in (item.split("=", 1) for item in args.set)}
    schedule = dataclasses.replace(cluster.DEFAULT_SCHEDULE, **changes)
    ks = [int(k) for k in args.ks.split(",")]
    paths = inputs.sample_inputs() if args.samples else inputs.holdout_inputs()
    if args.images:
        wanted = set(args.images.split(","))
        paths = [path for path in paths if path.stem in wanted]
    gains = []
    for k in ks:
        dpsnr, dssim, fit_s = [], [], 0.0
        for path in paths:
            picture = load_image(path)
            analysis = quantize.analyze(picture.rgb, picture.alpha)
            ours, seconds = kmimg_rgb(analysis, k, schedule)
            fit_s += seconds
            theirs = pngquant_rgb(path, k)
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
            f"k={k:3d} dPSNR {np.mean(dpsnr):+.4f} dSSIM {np.mean(dssim):+.5f} fit CPU {fit_s:.2f}s",
            flush=True,
        )
    print(f"mean dPSNR {np.mean(gains):+.4f}  schedule changes {changes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

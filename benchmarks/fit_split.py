"""Where the quantize fit spends its CPU time, step by step (issue 11, target 1).

``python benchmarks/fit_split.py [--ks 16,64,256] [--repeat 3] [IMAGE ...]``

Re-does :func:`kmimg.cluster.fit_palette` step by step with the library's own helpers and
prints, per k, the median over ``--repeat`` runs of the summed ``time.process_time`` of each
step over the images (default: the 8 hold-out photos): the feature conversion, the pixel
sample, the grid cells, the seeding (greedy k-means++ of every start), the Lloyd passes on the
cells, the passes over every distinct colour, the final nearest mapping, the rounded passes
and the rest, with how many points and passes each step had. The seeding is timed by running
the starts once more with no Lloyd pass (and that part subtracted from the starts' time).
Set ``OMP_NUM_THREADS`` to compare thread counts; CPU time adds the threads' time up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inputs

from kmimg import _engine, cluster, quantize
from kmimg._threads import engine_threads
from kmimg.io import load_image

STEPS = ("features", "sample", "cells", "seeding", "sample passes", "full passes", "map", "rounded", "finish")


def _starts_timed(points, weights, k, starts, seed, passes, tol, relax, clock):
    """cluster._best_start, once without Lloyd passes (the seeding) and once as the fit runs it."""
    result = None
    for run_passes, name in ((0, "seeding"), (passes, "sample passes")):
        rng = np.random.default_rng(seed)
        begin = time.process_time()
        result = cluster._best_start(points, weights, k=k, starts=starts, rng=rng, passes=run_passes, tol=tol, relax=relax)
        clock[name] += time.process_time() - begin
    clock["sample passes"] -= clock["seeding"]
    return result


def split_one(table: cluster.ColorTable, k: int, schedule: cluster.FitSchedule) -> tuple[dict[str, float], dict[str, int]]:
    clock: dict[str, float] = defaultdict(float)
    info: dict[str, int] = {"colors": len(table.colors)}
    space = cluster.ColorSpace.RGB
    t = time.process_time()

    def lap(name: str) -> None:
        nonlocal t
        now = time.process_time()
        clock[name] += now - t
        t = now

    fit = cluster._FeatureSpace(space, table.channels, schedule.luma_weight(k, space), schedule.gamma(k, space))
    mapped = fit if k >= schedule.large_k else cluster._FeatureSpace(space, table.channels)
    features = fit.features_of(table.colors)
    lap("features")
    fit_x, fit_w = cluster._sample(features, table.counts, sample=cluster.DEFAULT_SAMPLE, seed=0, k=k)
    info["sampled"] = len(fit_x)
    lap("sample")
    if len(fit_x) > schedule.cell_min_points:
        fit_x, fit_w = cluster._reduce_to_cells(fit_x, fit_w, k=k, grid=schedule.grid)
    info["cells"] = len(fit_x)
    inits = schedule.starts(k)
    coarse_x, coarse_w = (
        cluster._reduce_to_cells(fit_x, fit_w, k=k, grid=schedule.coarse_grid) if inits > 1 else (fit_x, fit_w)
    )
    info["coarse cells"] = len(coarse_x)
    info["starts"] = inits
    lap("cells")
    passes, relax = schedule.sample_pass_count(k), schedule.relax(k)
    best = _starts_timed(coarse_x, coarse_w, k, inits, 0, passes, schedule.tol, relax, clock)
    t = time.process_time()
    if inits > 1:
        best = _lloyd_counted(fit_x, fit_w, best, passes, schedule.tol, relax, info, "refine passes")
    lap("sample passes")
    full = schedule.full_pass_count(k, len(features))
    centers = _lloyd_counted(features, table.counts, best, full, schedule.tol, relax, info, "full passes")
    lap("full passes")
    palette = fit.palette_of(centers)
    mfeatures = features if mapped is fit else mapped.features_of(table.colors)
    labels = cluster.nearest_center(mfeatures, mapped.features_of(palette))
    lap("map")
    if len(features) <= schedule.many_colors:
        rounded = schedule.rounded_pass_count(k)
        palette, labels = cluster._rounded_passes(
            mfeatures, table.counts, palette, labels, mapped.features_of, mapped.palette_of, passes=rounded
        )
    lap("rounded")
    counts = np.bincount(labels, weights=table.counts, minlength=len(palette)).astype(np.int64)
    cluster._finish(palette, labels, counts)
    lap("finish")
    return dict(clock), info


def _lloyd_counted(x, w, centers, passes, tol, relax, info, name):
    out = np.array(centers, dtype=np.float64, order="C")
    f64 = np.ascontiguousarray(x, dtype=np.float64)
    n, dim = f64.shape
    ww = np.ascontiguousarray(w, dtype=np.float64)
    done = _engine.lloyd(
        f64, f64.astype(np.float32), n, dim, ww, out, len(out), passes, tol, relax, cluster._BOUND_MARGIN, engine_threads()
    )
    info[name] = info.get(name, 0) + done
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("images", nargs="*")
    parser.add_argument("--ks", default="16,64,256")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = [Path(p) for p in args.images] or inputs.holdout_inputs()
    tables = []
    for path in paths:
        picture = load_image(path)
        tables.append((path.stem, quantize.analyze(picture.rgb, picture.alpha).table))
    schedule = cluster.DEFAULT_SCHEDULE
    print(f"threads {engine_threads()}, {len(paths)} images")
    for k in (int(v) for v in args.ks.split(",")):
        runs: list[dict[str, float]] = []
        infos: list[dict[str, int]] = []
        whole: list[float] = []
        for _ in range(args.repeat):
            total: dict[str, float] = defaultdict(float)
            infos = []
            for _stem, table in tables:
                clock, info = split_one(table, k, schedule)
                for name, value in clock.items():
                    total[name] += value
                infos.append(info)
            runs.append(total)
            begin = time.process_time()
            for _stem, table in tables:
                cluster.fit_palette(table, k=k, seed=0)
            whole.append(time.process_time() - begin)
        row = {name: statistics.median(run.get(name, 0.0) for run in runs) for name in STEPS}
        per = len(tables)
        print(f"k={k}: fit_palette {statistics.median(whole) / per * 1000:.1f} ms/image; split (ms/image):")
        print("   " + "  ".join(f"{name} {row[name] / per * 1000:.1f}" for name in STEPS))
        for (stem, _), info in zip(tables, infos, strict=True):
            print(f"   {stem:18s} " + " ".join(f"{key}={value}" for key, value in info.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

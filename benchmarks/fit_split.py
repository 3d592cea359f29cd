"""Where the quantize fit spends its CPU time, step by step (issue 11, target 1).

``python benchmarks/fit_split.py [--ks 16,64,256] [--repeat 3] [IMAGE ...]``

Runs :func:`kmimg.colorfit.fit_palette` on each image (default: the 8 hold-out photos) with its
steps wrapped in timers (``time.process_time``, each step's own time without the steps it
calls) and prints, per k, the median over ``--repeat`` runs of the milliseconds per image of
each step: the feature conversion, the pixel sample, the grid cells, the starts (greedy
k-means++ seeding and Lloyd passes on the cells; the seeding alone is timed by running the
starts once more without passes, outside the total), the refinement passes on the cells, the
passes over every distinct colour, the mapping of every colour to the rounded palette, the
rounded passes and the rest (Python glue); then each image's distinct colours, cells and passes.
Set ``OMP_NUM_THREADS`` to compare thread counts: CPU time adds the threads' time up.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inputs

from kmimg import _engine
from kmimg import colorfit as cluster
from kmimg._threads import engine_threads
from kmimg.core import quantize
from kmimg.io import load_image

STEPS = (
    "features",
    "sample",
    "cells",
    "starts",
    "(seeding)",
    "cell passes",
    "full passes",
    "map",
    "rounded",
    "rest",
)


class Clock:
    """Exclusive CPU time per step name, and counts of what each step saw."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.info: dict[str, int] = {}
        self._stack: list[list[float]] = []

    def timed(self, name: str | Callable[..., str], function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            label = name(*args, **kwargs) if callable(name) else name
            self._stack.append([0.0])
            begin = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.process_time() - begin
                children = self._stack.pop()[0]
                self.seconds[label] += elapsed - children
                if self._stack:
                    self._stack[-1][0] += elapsed

        return wrapper


def _patch(clock: Clock, table_size: int) -> list[tuple[object, str, Any]]:
    saved: list[tuple[object, str, Any]] = []

    def put(owner: object, attr: str, wrapper: Any) -> None:
        saved.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, wrapper)

    put(cluster._FeatureSpace, "features_of", clock.timed("features", cluster._FeatureSpace.features_of))
    put(cluster, "_sample", clock.timed("sample", cluster._sample))
    put(cluster, "_reduce_to_cells", clock.timed("cells", cluster._reduce_to_cells))
    original_starts = cluster._best_start

    def starts(points: Any, weights: Any, **kwargs: Any) -> Any:
        clock.info["cells"] = len(points)
        clock.info["starts"] = kwargs["starts"]
        spare = dict(kwargs, passes=0)  # the same seed draws the same numbers again
        begin = time.process_time()
        original_starts(points, weights, **spare)  # the seeding alone, outside the total
        clock.seconds["(seeding)"] += time.process_time() - begin
        clock._stack[-1][0] += time.process_time() - begin
        return original_starts(points, weights, **kwargs)

    put(cluster, "_best_start", starts)
    put(cluster, "_best_start", clock.timed("starts", cluster._best_start))
    put(cluster, "_lloyd_passes", clock.timed("cell passes", cluster._lloyd_passes))
    put(cluster, "_lloyd_bounded", clock.timed("full passes", cluster._lloyd_bounded))
    original_lloyd = _engine.lloyd

    def lloyd(*args: Any) -> int:
        done = original_lloyd(*args)
        key = "full passes run" if args[2] == table_size else "cell passes run"
        clock.info[key] = clock.info.get(key, 0) + done
        return done

    put(_engine, "lloyd", lloyd)
    put(cluster, "_settle", clock.timed("map", cluster._settle))
    put(cluster, "_assign", clock.timed("map", cluster._assign))
    put(cluster, "_rounded_passes", clock.timed("rounded", cluster._rounded_passes))
    return saved


def split_one(table: cluster.ColorTable, k: int) -> tuple[dict[str, float], dict[str, int]]:
    clock = Clock()
    saved = _patch(clock, len(table.colors))
    try:
        clock.timed("rest", cluster.fit_palette)(table, k=k, seed=0)
    finally:
        for owner, attr, value in reversed(saved):
            setattr(owner, attr, value)
    clock.info = {"colors": len(table.colors), **clock.info}
    return dict(clock.seconds), clock.info


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
    print(f"threads {engine_threads()}, {len(paths)} images; ms per image, median of {args.repeat}")
    for k in (int(v) for v in args.ks.split(",")):
        runs: list[dict[str, float]] = []
        whole: list[float] = []
        infos: list[dict[str, int]] = []
        for _ in range(args.repeat):
            total: dict[str, float] = defaultdict(float)
            infos = []
            for _stem, table in tables:
                seconds, info = split_one(table, k)
                for name, value in seconds.items():
                    total[name] += value
                infos.append(info)
            runs.append(total)
            begin = time.process_time()
            for _stem, table in tables:
                cluster.fit_palette(table, k=k, seed=0)
            whole.append(time.process_time() - begin)
        row = {name: statistics.median(run.get(name, 0.0) for run in runs) for name in STEPS}
        per = len(tables)
        print(f"k={k}: fit_palette {statistics.median(whole) / per * 1000:.1f} ms/image")
        print("   " + "  ".join(f"{name} {row[name] / per * 1000:.1f}" for name in STEPS))
        for (stem, _), info in zip(tables, infos, strict=True):
            print(f"   {stem:18s} " + " ".join(f"{key}={value}" for key, value in info.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU time of an icon's fit (issue 26): :func:`kmimg.core.quantize.fit_entries` (the palette
fit, the PNG palette and every colour's entry) on each icon of a folder, one thread.

    .venv/bin/python benchmarks/icons_fit_time.py /tmp/icons [--count 1000] [--k 16] [--set small_max_inits=6]
    OTHER/.venv/bin/python benchmarks/icons_fit_time.py /tmp/icons     # another tree's kmimg

The icons are decoded and their colour tables built first (untimed); the fits of all of them
are then timed ``--repeat`` times with ``time.process_time`` and the best is printed, in ms an
icon. ``--set NAME=VALUE`` changes a :class:`kmimg.colorfit.FitSchedule` field (repeatable).
Alternate two trees' runs on a shared machine: the best of 3 still moves by 10 % with the load.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"  # before kmimg reads it: one thread, as in a batch worker

import numpy as np
from PIL import Image

from kmimg.colorfit import FitSchedule
from kmimg.core.quantize import Analysis, analyze, fit_entries
from kmimg.options import QuantizeOptions


def _analyses(folder: Path, count: int) -> list[Analysis]:
    found = []
    for path in sorted(folder.glob("icon-*.png"))[:count]:
        rgba = np.asarray(Image.open(path).convert("RGBA"))
        alpha = np.ascontiguousarray(rgba[..., 3])
        found.append(analyze(np.ascontiguousarray(rgba[..., :3]), None if (alpha == 255).all() else alpha))
    return found


def _schedule(changes: list[str]) -> FitSchedule:
    default = FitSchedule()
    values = {}
    for change in changes:
        name, _, value = change.partition("=")
        values[name] = type(getattr(default, name))(value)
    return dataclasses.replace(default, **values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    analyses = _analyses(args.folder, args.count)
    options, schedule = QuantizeOptions(k=args.k), _schedule(args.set)
    best = float("inf")
    for _ in range(args.repeat):
        start = time.process_time()
        for analysis in analyses:
            fit_entries(analysis, options, schedule)
        best = min(best, time.process_time() - start)
    per_icon = 1000 * best / len(analyses)
    print(
        f"k = {args.k}, {len(analyses)} icons: fit_entries {per_icon:.3f} ms an icon (best of {args.repeat})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

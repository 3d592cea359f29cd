"""WebP output (issue 27): bytes of kmimg's lossless WebP against its PNG and GIF of the same job,
and the encoder's time at each ``--optimize`` level.

Run from the repository root: ``.venv/bin/python benchmarks/webp_bytes.py [--out DIR]``.

- Still images: the six ``sample_images/`` at K = 16, 64 and 256, quantized once
  (:func:`kmimg.quantize`), then encoded as kmimg's PNG (default ``--optimize``), GIF and WebP
  at ``--optimize`` 0-3; the WebP encoder's time is the median of three runs.
- Animations: ``benchmarks/animation.py``'s six GIFs and ``docs/write_animation.py``'s
  ``flower-pan.gif``, each through ``kmimg quantize IN -k 32 -o OUT`` for OUT ``.png`` (APNG),
  ``.gif`` and ``.webp`` (the whole process's wall time), and a check that every composited
  frame of the WebP equals the APNG's (RGBA) with the same durations and loop.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import kmimg
from kmimg.errors import InputError
from kmimg.io.gif import encode_indexed_gif
from kmimg.io.png import encode_indexed_png
from kmimg.io.webp import WEBP_EFFORT, encode_webp

ROOT = Path(__file__).resolve().parents[1]
STILLS = ("flower.jpg", "astronaut.png", "chelsea.png", "coffee.png", "coins.png", "china.jpg")
KS = (16, 64, 256)


def timed(function, repeat: int = 3):  # type: ignore[no-untyped-def]
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return value, statistics.median(times)


def stills() -> list[str]:
    levels = sorted(WEBP_EFFORT)
    lines = [
        "| image | K | PNG | GIF | " + " | ".join(f"WebP -O {level} (ms)" for level in levels) + " |",
        "|---|---|---|---|" + "---|" * len(levels),
    ]
    totals = np.zeros(2 + len(levels))
    for name in STILLS:
        for k in KS:
            result = kmimg.quantize(str(ROOT / "sample_images" / name), k, measure=False)
            png = len(encode_indexed_png(result.indices, result.palette))
            try:
                gif = len(encode_indexed_gif(result.indices, result.palette))
            except InputError:
                gif = 0
            cells, sizes = [], []
            for level in levels:
                encode = functools.partial(encode_webp, result.indices, result.palette, optimize=level)
                data, seconds = timed(encode)
                sizes.append(len(data))
                cells.append(f"{len(data):,} ({seconds * 1000:.0f})")
            totals += [png, gif, *sizes]
            lines.append(f"| {name} | {k} | {png:,} | {gif:,} | " + " | ".join(cells) + " |")
    ratios = " | ".join(f"{total / totals[0]:.3f}" for total in totals[2:])
    lines.append(f"| total / PNG | | 1.000 | {totals[1] / totals[0]:.3f} | {ratios} |")
    return lines


def decoded(path: Path) -> tuple[np.ndarray, list[int], object]:
    with Image.open(path) as image:
        frames, durations = [], []
        for number in range(getattr(image, "n_frames", 1)):
            image.seek(number)
            image.load()
            frames.append(np.asarray(image.convert("RGBA")))
            durations.append(round(float(image.info.get("duration", 0) or 0)))
        return np.stack(frames), durations, image.info.get("loop")


def animations(work: Path) -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import animation  # benchmarks/animation.py

    sources = animation.generate(work / "in")
    pan = work / "in" / "flower-pan.gif"
    subprocess.run(
        [sys.executable, str(ROOT / "docs" / "write_animation.py"), str(pan)], check=True, capture_output=True
    )
    lines = [
        "| animation | frames | APNG bytes (s) | GIF bytes (s) | WebP bytes (s) | WebP / APNG | same |",
        "|---|---|---|---|---|---|---|",
    ]
    kmimg_cli = [sys.executable, "-m", "kmimg", "quantize"]
    for source in [*sources, pan]:
        sizes = {}
        for ending in ("png", "gif", "webp"):
            target = work / f"{source.stem}-k32.{ending}"
            start = time.perf_counter()
            subprocess.run([*kmimg_cli, str(source), "-k", "32", "-o", str(target), "-q"], check=True)
            sizes[ending] = (target.stat().st_size, time.perf_counter() - start)
        apng, webp = decoded(work / f"{source.stem}-k32.png"), decoded(work / f"{source.stem}-k32.webp")
        same = apng[0].shape == webp[0].shape and bool((apng[0] == webp[0]).all()) and apng[1:] == webp[1:]
        cells = " | ".join(f"{size:,} ({seconds:.2f})" for size, seconds in sizes.values())
        ratio = sizes["webp"][0] / sizes["png"][0]
        lines.append(
            f"| {source.stem} | {len(apng[0])} | {cells} | {ratio:.3f} | {'yes' if same else 'NO'} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the animations and outputs here")
    args = parser.parse_args()
    print("\n".join(stills()), flush=True)
    print()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.out or Path(temporary)
        print("\n".join(animations(work)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

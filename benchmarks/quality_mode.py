"""Quality mode against pngquant (issue 26): ``kmimg quantize --quality 60-80 DIR`` (one call)
against ``pngquant --quality 60-80`` (one call per file, as build scripts run it).

The photos are none of ``sample_images/``: the 8 hold-out photos of ``benchmarks/inputs.py``
(scikit-image's bundled photos and two crops) and 4 generated ones (smooth colour fields, shapes,
sensor noise; seeded), in ``benchmarks/work/inputs/quality-mode``. Every output is decoded and
judged by :mod:`kmimg.metrics` (PSNR over R, G, B against the input).

The bars (issue 26): kmimg's mean PSNR at least pngquant's - 0.1 dB, its total bytes at most
0.95x pngquant's, its images/s at least pngquant's. What differs: pngquant dithers by default
(``--floyd``; its ``--nofs`` figures are shown too), kmimg does not; kmimg's one call runs the
folder on its worker processes (all cores), pngquant runs once per file (with its OpenMP threads);
kmimg's one-call-per-file figure is shown too.

Run alone: ``.venv/bin/python benchmarks/quality_mode.py [--reps N]`` (writes
``benchmarks/QUALITY-MODE.md``); ``make bench`` runs it as the section ``quality-mode``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import inputs  # noqa: E402  (sibling module, found through the path line above)

from kmimg import metrics  # noqa: E402
from kmimg.core.quality import mse_to_quality  # noqa: E402

WORK = HERE / "work"
FOLDER = WORK / "inputs" / "quality-mode"
OUT = WORK / "out" / "quality-mode"
KMIMG = str(Path(sys.executable).with_name("kmimg"))
QUALITY = "60-80"
GENERATED = 4


def _generated(index: int) -> Image.Image:
    """A 640x480 photo-like image (seeded): a smooth light field tinted by two slow colour
    gradients, 12 discs of flat colour, sensor noise (sigma 2-3.5 levels), a slight blur."""
    rng = np.random.default_rng(1000 + index)
    height, width = 480, 640
    y, x = np.mgrid[0:height, 0:width] / width
    light = 0.55 + 0.35 * np.sin(x * (2 + index) + 1.3 * y + index) * np.cos(y * (1.5 + index / 2))
    tint = np.stack([np.cos(x + index), np.sin(2 * y), np.cos(x - y)], -1) * 0.25
    pixels = 255 * light[..., None] * (1 + tint) + rng.normal(0, 2 + index / 2, (height, width, 3))
    rows, cols = np.mgrid[0:height, 0:width]
    for _ in range(12):
        cy, cx, r = rng.integers(0, height), rng.integers(0, width), rng.integers(10, 80)
        pixels[(rows - cy) ** 2 + (cols - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(1.0))


def photos() -> Path:
    """The folder of photos (made once; kept when present)."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    for path in inputs.holdout_inputs():
        target = FOLDER / path.name
        if not target.exists():
            shutil.copyfile(path, target)
    for index in range(GENERATED):
        target = FOLDER / f"generated-{index}.png"
        if not target.exists():
            _generated(index).save(target, compress_level=1)
    return FOLDER


def _kmimg_folder(folder: Path, out: Path) -> float:
    clock = time.perf_counter()
    done = subprocess.run([KMIMG, "quantize", "--quality", QUALITY, str(folder), "--out-dir", str(out), "-q"])
    assert done.returncode in (0, 99), done.returncode
    return time.perf_counter() - clock


def _kmimg_each(files: Sequence[Path], out: Path) -> float:
    clock = time.perf_counter()
    for path in files:
        target = out / f"{path.stem}-q{QUALITY}.png"
        done = subprocess.run([KMIMG, "quantize", "--quality", QUALITY, str(path), "-o", str(target), "-q"])
        assert done.returncode in (0, 99), done.returncode
    return time.perf_counter() - clock


def _pngquant_each(files: Sequence[Path], out: Path, *extra: str) -> float:
    clock = time.perf_counter()
    for path in files:
        target = out / f"{path.stem}-q{QUALITY}.png"
        done = subprocess.run(
            ["pngquant", "--quality", QUALITY, *extra, "--force", "-o", str(target), str(path)]
        )
        assert done.returncode in (0, 99), done.returncode
    return time.perf_counter() - clock


def _fresh(name: str) -> Path:
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _judged(files: Sequence[Path], out: Path) -> dict[str, tuple[float, int, int, int]]:
    """Each written output's PSNR, bytes, colours and quality on kmimg's scale, by input name."""
    found: dict[str, tuple[float, int, int, int]] = {}
    for path in files:
        target = out / f"{path.stem}-q{QUALITY}.png"
        if not target.exists():
            continue
        with Image.open(path) as original, Image.open(target) as output:
            colours = len(output.getpalette() or []) // 3
            source = np.asarray(original.convert("RGB"))
            result = np.asarray(output.convert("RGB"))
        mse = float(np.mean((source.astype(np.float64) - result) ** 2))
        found[path.name] = (metrics.psnr(source, result), target.stat().st_size, colours, mse_to_quality(mse))
    return found


def measure(reps: int) -> list[str]:
    """The comparison as markdown lines (timings: medians of ``reps`` alternating rounds)."""
    folder = photos()
    files = sorted(folder.glob("*.png"))
    times: dict[str, list[float]] = {"kmimg": [], "kmimg-each": [], "pngquant": [], "pngquant-nofs": []}
    for _ in range(reps):
        times["kmimg"].append(_kmimg_folder(folder, _fresh("kmimg")))
        times["pngquant"].append(_pngquant_each(files, _fresh("pngquant")))
        times["kmimg-each"].append(_kmimg_each(files, _fresh("kmimg-each")))
        times["pngquant-nofs"].append(_pngquant_each(files, _fresh("pngquant-nofs"), "--nofs"))
    judged = {name: _judged(files, OUT / name) for name in times}
    return _lines(files, times, judged, reps)


def _lines(
    files: Sequence[Path],
    times: dict[str, list[float]],
    judged: dict[str, dict[str, tuple[float, int, int, int]]],
    reps: int,
) -> list[str]:
    both = [f.name for f in files if all(f.name in judged[name] for name in ("kmimg", "pngquant"))]
    rows = []
    for name in both:
        k, p = judged["kmimg"][name], judged["pngquant"][name]
        n = judged["pngquant-nofs"].get(name)
        cells = [_cells(k), _cells(p), _cells(n) if n else "- | - | - | -"]
        rows.append(f"| {name} | {' | '.join(cells)} |")
    summary = {}
    for method in times:
        kept = [judged[method][n] for n in both if n in judged[method]]
        summary[method] = (
            statistics.fmean(v[0] for v in kept),
            sum(v[1] for v in kept),
            len(files) / statistics.median(times[method]),
            len(judged[method]),
        )
    km, pq = summary["kmimg"], summary["pngquant"]
    psnr_ok, bytes_ok, speed_ok = km[0] >= pq[0] - 0.1, km[1] <= 0.95 * pq[1], km[2] >= pq[2]
    lines = [
        f"## Quality mode: `--quality {QUALITY}` against pngquant (issue 26)",
        "",
        f"{len(files)} photos not in `sample_images/` (`benchmarks/quality_mode.py`), {os.cpu_count()} cores "
        f"shared with other jobs; times are medians of {reps} alternating rounds of whole processes.",
        "",
        "Colours, quality on kmimg's scale (`kmimg.core.quality.mse_to_quality` of the output's MSE), PSNR "
        "and bytes of each output; pngquant's `--nofs` run beside it.",
        "",
        "| photo | kmimg colours | q | PSNR dB | bytes | pngquant colours | q | PSNR dB | bytes "
        "| `--nofs` colours | q | PSNR dB | bytes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "| run | files written | mean PSNR dB | total bytes | images/s |",
        "|---|---|---|---|---|",
        *(
            f"| {method} | {s[3]} of {len(files)} | {s[0]:.2f} | {s[1]:,} | {s[2]:.2f} |"
            for method, s in summary.items()
        ),
        "",
        f"- mean PSNR: kmimg {km[0]:.2f} dB, pngquant {pq[0]:.2f} dB (bar: at least "
        f"{pq[0] - 0.1:.2f}): **{'met' if psnr_ok else 'not met'}**",
        f"- total bytes: {km[1] / pq[1]:.3f}x pngquant's (bar: at most 0.95x): "
        f"**{'met' if bytes_ok else 'not met'}**",
        f"- images/s: {km[2]:.2f} against {pq[2]:.2f}, {km[2] / pq[2]:.2f}x (bar: at least 1.0x): "
        f"**{'met' if speed_ok else 'not met'}**; one kmimg call per file: "
        f"{summary['kmimg-each'][2] / pq[2]:.2f}x",
        "- pngquant dithers by default (`--floyd`): its `--nofs` row has no dithering, like kmimg. "
        "kmimg runs the folder in one call on its worker processes; pngquant and `kmimg-each` run "
        "once per file.",
        "",
    ]
    return lines


def _cells(judged: tuple[float, int, int, int]) -> str:
    psnr, size, colours, quality = judged
    return f"{colours} | {quality} | {psnr:.2f} | {size:,}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="alternating rounds of the timed runs")
    parser.add_argument("--output", default=str(HERE / "QUALITY-MODE.md"), help="markdown report path")
    args = parser.parse_args(argv)
    if shutil.which("pngquant") is None:
        print("quality_mode: needs pngquant (apt-get install -y pngquant)", file=sys.stderr)
        return 1
    lines = measure(args.reps)
    Path(args.output).write_text("\n".join(["# kmimg quality mode against pngquant", "", *lines]))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

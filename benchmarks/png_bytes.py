"""PNG bytes (issue 26): kmimg's encoder alone against pngquant followed by oxipng.

``make bench`` runs it as ``run.py``'s ``bytes`` section; alone:
``.venv-bench/bin/python benchmarks/run.py --only bytes``. On the 8 hold-out photos
(``inputs.holdout_inputs``: scikit-image's data photos, never ``sample_images/``) and one
generated photo-like image, at K = 16, 64 and 256:

- ``kmimg quantize IN -k K --strip -o OUT`` (the default ``--optimize``), and ``-O 3``;
- ``pngquant K --nofs --strip`` (undithered, as kmimg's default), then ``oxipng -o 2`` on its
  output (PyPI's ``pyoxipng``, the ``bench`` extra; the ``oxipng`` program on PATH otherwise);
- total bytes per K against pngquant + oxipng, and the PSNR of both (decoded outputs, the same
  ``kmimg.metrics`` code), and the whole-process time of the default against ``-O 0`` (zlib,
  the encoder before issue 26) in alternating pairs.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import inputs
import numpy as np
from PIL import Image

from kmimg import metrics

KS = (16, 64, 256)
#: Bars (issue 26): bytes per K against pngquant + oxipng -o 2, PSNR lead over pngquant, time.
MAX_BYTES_RATIO = 1.0
MIN_PSNR_LEAD = 0.3
MAX_TIME_RATIO = 1.15


def generated_photo() -> Path:
    """A 1.2 MP photo-like image (smooth colour fields, edges and sensor-like noise) from a seeded
    generator: nothing in it was seen while the encoder was written."""
    path = inputs.INPUTS / "bytes-generated.png"
    if path.exists():
        return path
    rng = np.random.default_rng(2026)
    y, x = np.mgrid[0:900, 0:1300].astype(np.float64)
    base = np.stack(
        [128 + 90 * np.sin(x / 170 + y / 310), 120 + 80 * np.cos(y / 140), 110 + 70 * np.sin((x - y) / 260)],
        -1,
    )
    disc = ((x - 820) ** 2 + (y - 380) ** 2) < 210**2
    base[disc] = base[disc] * 0.45 + np.array([200.0, 150.0, 60.0]) * 0.55
    noisy = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noisy).save(path)
    return path


def oxipng_file(source: Path, target: Path) -> None:
    """``oxipng -o 2`` of ``source`` into ``target``: pyoxipng, or the oxipng program."""
    try:
        import oxipng
    except ImportError:
        program = shutil.which("oxipng")
        if program is None:
            raise SystemExit("benchmarks: the bytes section needs pyoxipng (make bench) or oxipng") from None
        subprocess.run([program, "-o", "2", "--strip", "safe", "--out", str(target), str(source)], check=True)
        return
    oxipng.optimize(source, target, level=2)


def _psnr(source: Path, output: Path) -> float:
    original = np.asarray(Image.open(source).convert("RGB"))
    decoded = np.asarray(Image.open(output).convert("RGB"))
    return float(metrics.psnr(original, decoded))


def _outputs(kmimg: str, source: Path, k: int, folder: Path) -> dict[str, Path]:
    stem = f"{source.stem}-k{k}"
    made = {
        name: folder / f"{stem}-{name}.png" for name in ("kmimg", "kmimg-O3", "pngquant", "pngquant+oxipng")
    }
    base = [kmimg, "quantize", str(source), "-k", str(k), "--strip", "-q"]
    subprocess.run([*base, "-o", str(made["kmimg"])], check=True)
    subprocess.run([*base, "-O", "3", "-o", str(made["kmimg-O3"])], check=True)
    pq = ["pngquant", str(k), "--nofs", "--strip", "--force", "-o", str(made["pngquant"]), str(source)]
    subprocess.run(pq, check=True)
    oxipng_file(made["pngquant"], made["pngquant+oxipng"])
    return made


def bench_bytes(
    report: Any,
    out: Path,
    kmimg: str,
    alternate: Callable[..., Any],
    paired_ratio: Callable[..., float],
    reps: int,
) -> None:
    photos = [*inputs.holdout_inputs(), generated_photo()]
    out.mkdir(parents=True, exist_ok=True)
    sizes: dict[tuple[str, int], int] = {}
    psnr: dict[tuple[str, int], list[float]] = {}
    for k in KS:
        for source in photos:
            for name, path in _outputs(kmimg, source, k, out).items():
                sizes[name, k] = sizes.get((name, k), 0) + path.stat().st_size
                if name in ("kmimg", "pngquant"):
                    psnr.setdefault((name, k), []).append(_psnr(source, path))
    ratios = {k: sizes["kmimg", k] / sizes["pngquant+oxipng", k] for k in KS}
    leads = {k: statistics.fmean(psnr["kmimg", k]) - statistics.fmean(psnr["pngquant", k]) for k in KS}
    time_ratio, time_rows = _time_ratios(kmimg, photos, alternate, paired_ratio, reps)
    _write(report, photos, sizes, ratios, leads, time_rows)
    worst = max(ratios.values())
    report.target("26a bytes", ", ".join(f"k = {k}: {ratios[k]:.3f}x" for k in KS), worst <= MAX_BYTES_RATIO)
    mean_lead = statistics.fmean(leads.values())
    report.target(
        "26b PSNR lead",
        ", ".join(f"k = {k}: {leads[k]:+.2f} dB" for k in KS) + f"; mean {mean_lead:+.2f} dB",
        mean_lead >= MIN_PSNR_LEAD and min(leads.values()) >= 0.0,
    )
    report.target("26c encode time", f"median {time_ratio:.3f}x", time_ratio <= MAX_TIME_RATIO)


def _time_ratios(
    kmimg: str,
    photos: Sequence[Path],
    alternate: Callable[..., Any],
    paired_ratio: Callable[..., float],
    reps: int,
) -> tuple[float, list[list[str]]]:
    """Whole-process time of the default ``--optimize`` over ``-O 0``, per photo at K = 64 and
    256 (the largest data), in alternating pairs; the median of the per-photo ratios."""
    rows, ratios = [], []
    for source in photos:
        for k in (64, 256):
            target = Path(inputs.WORK) / "out" / "bytes-time.png"
            base = [kmimg, "quantize", str(source), "-k", str(k), "--strip", "-q", "-o", str(target)]
            runs = alternate({"default": base, "O0": [*base, "-O", "0"]}, reps)
            ratio = paired_ratio(runs["default"], runs["O0"], lambda run: run.wall)
            ratios.append(ratio)
            wall_default = statistics.median(run.wall for run in runs["default"])
            wall_zero = statistics.median(run.wall for run in runs["O0"])
            rows.append([source.name, str(k), f"{wall_zero:.2f}", f"{wall_default:.2f}", f"{ratio:.3f}"])
    return statistics.median(ratios), rows


def _write(
    report: Any,
    photos: Sequence[Path],
    sizes: dict[tuple[str, int], int],
    ratios: dict[int, float],
    leads: dict[int, float],
    time_rows: list[list[str]],
) -> None:
    pixels = [Image.open(path).size for path in photos]
    megapixels = ", ".join(f"{w * h / 1e6:.2f}" for w, h in pixels)
    report.add(
        "## PNG bytes: kmimg alone vs pngquant then oxipng (issue 26)",
        "",
        f"{len(photos)} photos ({megapixels} MP): the hold-out photos and a generated one. "
        "`kmimg quantize IN -k K --strip` (default `--optimize`, and `-O 3`) against "
        "`pngquant K --nofs --strip`, then `oxipng -o 2` on pngquant's file. Total bytes per K; "
        "PSNR is the mean over the photos (decoded outputs, kmimg.metrics).",
        "",
    )
    rows = []
    for k in KS:
        oxi = sizes["pngquant+oxipng", k]
        rows.append(
            [
                str(k),
                f"{sizes['pngquant', k]:,}",
                f"{oxi:,}",
                f"{sizes['kmimg', k]:,}",
                f"{ratios[k]:.3f}",
                f"{sizes['kmimg-O3', k] / oxi:.3f}",
                f"{leads[k]:+.2f}",
            ]
        )
    report.table(
        [
            "K",
            "pngquant",
            "pngquant + oxipng -o 2",
            "kmimg",
            "kmimg / (pq+oxi)",
            "kmimg -O 3 / (pq+oxi)",
            "PSNR lead dB",
        ],
        rows,
    )
    report.add(
        "Whole-process wall time of the default `--optimize` against `-O 0` (zlib level 7 in "
        "parallel pieces, kmimg's encoder before issue 26), alternating pairs, medians:",
        "",
    )
    report.table(["photo", "K", "-O 0 s", "default s", "ratio"], time_rows)

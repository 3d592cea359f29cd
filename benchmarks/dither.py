"""Dithering: kmimg ``--dither`` against pngquant's default dithering and ImageMagick (issue 15).

Run from the repository root with the benchmark environment (``make bench-dither``, or
``.venv-bench/bin/python benchmarks/dither.py [--quick]``); it needs pngquant, ImageMagick and
the ``bench`` extra (``ssimulacra2``, ``flip-evaluator``). It writes ``benchmarks/DITHER.md``.

- Quality: the 8 hold-out photos (``inputs.holdout_inputs``, never ``sample_images/``) at
  k = 16, 64, 256; each method runs as its own process and writes a PNG; SSIMULACRA2 (higher
  is better, 100 = identical) and NVIDIA FLIP (LDR, mean error; lower is better) compare the
  decoded output with the input; means over the photos. PNG bytes as written by each tool.
- Speed and memory: ``kmimg quantize`` on the 12 MP hold-out photo with and without
  ``--dither`` (runs alternating, medians of wall time; peak RSS from GNU time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import inputs  # noqa: E402  (sibling module, found through the path line above)

OUT = HERE / "work" / "dither"
REPORT = HERE / "DITHER.md"
KMIMG = str(Path(sys.executable).with_name("kmimg"))
KS = (16, 64, 256)
PNGQUANT = "pngquant (default dithering)"
#: name -> command builder (k, source, target)
METHODS: dict[str, list[str]] = {
    "kmimg --dither": ["kmimg", "--dither"],
    "kmimg --dither --space lab": ["kmimg", "--dither", "--space", "lab"],
    PNGQUANT: ["pngquant"],
    "ImageMagick -dither FloydSteinberg": ["convert"],
    "kmimg, no dither": ["kmimg"],
    "kmimg --space lab, no dither": ["kmimg", "--space", "lab"],
    "pngquant --nofs": ["pngquant", "--nofs"],
}
TARGETS = ("kmimg --dither", "kmimg --dither --space lab")


def command(method: str, k: int, source: Path, target: Path) -> list[str]:
    tool, *extra = METHODS[method]
    if tool == "kmimg":
        return [KMIMG, "quantize", str(source), "-k", str(k), *extra, "-q", "-o", str(target)]
    if tool == "pngquant":
        return ["pngquant", *extra, str(k), "--force", "--output", str(target), "--", str(source)]
    return ["convert", str(source), "-dither", "FloydSteinberg", "-colors", str(k), f"PNG8:{target}"]


def measure(job: tuple[str, int, str]) -> tuple[str, int, str, float, float, int]:
    """Run one method on one photo at one k; its SSIMULACRA2, FLIP and bytes."""
    import flip_evaluator
    import ssimulacra2

    method, k, source_name = job
    source = Path(source_name)
    slug = method.replace(" ", "_").replace("-", "").replace(",", "")
    target = OUT / f"{source.stem}-k{k}-{slug}.png"
    subprocess.run(command(method, k, source, target), check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    score = float(ssimulacra2.compute_ssimulacra2(str(source), str(target)))
    reference = np.asarray(Image.open(source).convert("RGB"), dtype=np.float32) / 255.0
    test = np.asarray(Image.open(target).convert("RGB"), dtype=np.float32) / 255.0
    flip = float(flip_evaluator.evaluate(reference, test, "LDR", applyMagma=False)[1])
    return method, k, source.stem, score, flip, target.stat().st_size


def quality(
    photos: Sequence[Path], ks: Sequence[int], workers: int
) -> dict[tuple[str, int], list[tuple[float, float, int]]]:
    jobs = [(method, k, str(photo)) for k in ks for method in METHODS for photo in photos]
    rows: dict[tuple[str, int], list[tuple[float, float, int]]] = {}
    with ProcessPoolExecutor(workers) as pool:
        for method, k, _, score, flip, size in pool.map(measure, jobs):
            rows.setdefault((method, k), []).append((score, flip, size))
    return rows


def save_rows(rows: Rows) -> Rows:
    (OUT / "quality.json").write_text(json.dumps([[m, k, v] for (m, k), v in rows.items()]))
    return rows


def load_rows() -> Rows:
    data = json.loads((OUT / "quality.json").read_text())
    return {(m, k): [(float(a), float(b), int(c)) for a, b, c in v] for m, k, v in data}


def _run(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one process (GNU time)."""
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", *args], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    rss, user, system = done.stderr.strip().splitlines()[-1].split()
    return wall, float(user) + float(system), int(rss) / 1024


#: k, then median wall and CPU seconds undithered, the same with --dither, peak RSS of each
SpeedRow = tuple[int, float, float, float, float, float, float]


def speed(photo: Path, ks: Sequence[int], runs: int, extra: Sequence[str] = ()) -> list[SpeedRow]:
    """Per k: medians of wall and CPU time without and with --dither, and the peak RSS (MB)."""
    rows: list[SpeedRow] = []
    target = OUT / "speed.png"
    for k in ks:
        base = [KMIMG, "quantize", str(photo), "-k", str(k), "-q", *extra, "-o", str(target)]
        plain, dithered = [], []
        for _ in range(runs):  # alternating, so that drift of the shared machine hits both
            plain.append(_run(base))
            dithered.append(_run([*base, "--dither"]))
        wall = [statistics.median(v[0] for v in runs_) for runs_ in (plain, dithered)]
        cpu = [statistics.median(v[1] for v in runs_) for runs_ in (plain, dithered)]
        rss = [max(v[2] for v in runs_) for runs_ in (plain, dithered)]
        rows.append((k, wall[0], cpu[0], wall[1], cpu[1], rss[0], rss[1]))
        print(
            f"k={k} {' '.join(extra)}: wall {wall[0]:.2f} -> {wall[1]:.2f} s, "
            f"CPU {cpu[0]:.2f} -> {cpu[1]:.2f} s"
        )
    return rows


# ----------------------------------------------------------------------------- report

Rows = dict[tuple[str, int], list[tuple[float, float, int]]]


def _means(rows: Rows, method: str, k: int) -> tuple[float, float, float]:
    values = np.array(rows[(method, k)], dtype=np.float64)
    return float(values[:, 0].mean()), float(values[:, 1].mean()), float(values[:, 2].mean())


def quality_table(rows: Rows, ks: Sequence[int]) -> list[str]:
    lines = [
        "| method | " + " | ".join(f"k = {k}: SSIMULACRA2 / FLIP / bytes vs pngquant" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
    ]
    for method in METHODS:
        cells = []
        for k in ks:
            score, flip, size = _means(rows, method, k)
            ratio = size / _means(rows, PNGQUANT, k)[2]
            cells.append(f"{score:.2f} / {flip:.4f} / {ratio:.3f}x")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def target_lines(rows: Rows, ks: Sequence[int]) -> list[str]:
    lines = []
    for method in TARGETS:
        for k in ks:
            score, flip, size = _means(rows, method, k)
            pq_score, pq_flip, pq_size = _means(rows, PNGQUANT, k)
            ok = score >= pq_score and flip <= pq_flip and size <= 1.10 * pq_size
            lines.append(
                f"- `{method}` at k = {k}: SSIMULACRA2 {score:.2f} vs {pq_score:.2f} "
                f"({score - pq_score:+.2f}), FLIP {flip:.4f} vs {pq_flip:.4f} ({flip - pq_flip:+.4f}), "
                f"bytes {size / pq_size:.3f}x: " + ("**met**" if ok else "**not met**")
            )
    return lines


def speed_table(rows: list[SpeedRow], megapixels: float) -> list[str]:
    lines = [
        "| k | wall s: undithered / `--dither` | extra wall s per MP | CPU s: undithered / `--dither` "
        "| extra CPU s per MP | peak RSS MB: undithered / `--dither` |",
        "|---|---|---|---|---|---|",
    ]
    for k, wall_plain, cpu_plain, wall_dither, cpu_dither, rss_plain, rss_dither in rows:
        lines.append(
            f"| {k} | {wall_plain:.2f} / {wall_dither:.2f} | {(wall_dither - wall_plain) / megapixels:.3f} "
            f"| {cpu_plain:.2f} / {cpu_dither:.2f} | {(cpu_dither - cpu_plain) / megapixels:.3f} "
            f"| {rss_plain:.0f} / {rss_dither:.0f} |"
        )
    return lines


def write_report(
    rows: Rows,
    ks: Sequence[int],
    photos: Sequence[Path],
    speeds: list[SpeedRow],
    json_speeds: list[SpeedRow],
    runs: int,
) -> None:
    from kmimg import __version__

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    pq = subprocess.run(["pngquant", "--version"], capture_output=True, text=True).stdout.strip()
    im = subprocess.run(["convert", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    text = [
        "# Dithering: kmimg `--dither` vs pngquant and ImageMagick",
        "",
        f"Generated by `benchmarks/dither.py` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"kmimg {__version__} at commit {commit.stdout.strip() or '?'}, pngquant {pq}, {im}; "
        f"{os.cpu_count()} cores (shared).",
        "",
        "## Quality: means over the hold-out photos",
        "",
        f"Photos: {', '.join(p.stem for p in photos)} (`benchmarks/inputs.py`). SSIMULACRA2 (PyPI "
        "`ssimulacra2`: higher is better, 100 = identical) and FLIP (PyPI `flip-evaluator`, LDR, mean "
        "error: lower is better) of the decoded output against the input; bytes as each tool writes "
        "them, as the ratio of the mean to pngquant's dithered output. Commands: `kmimg quantize IN -k K "
        "[--space lab] [--dither] -o OUT`, `pngquant [--nofs] K --output OUT -- IN` (speed 4, dithering "
        "level 1 by default), `convert IN -dither FloydSteinberg -colors K PNG8:OUT`.",
        "",
        *quality_table(rows, ks),
        "",
        "Targets (issue 15): mean SSIMULACRA2 >= pngquant's, mean FLIP <= pngquant's, bytes <= 1.10x:",
        "",
        *target_lines(rows, ks),
        "",
    ]
    if speeds:
        text += [
            "## Speed and memory: the 12 MP hold-out photo",
            "",
            f"`kmimg quantize holdout-12mp.png -k K -q -o OUT` with and without `--dither`, {runs} runs "
            "each, alternating; medians of whole-process wall time and of CPU time (user + system, "
            "which the other users of a shared machine disturb less than wall time), peak RSS from "
            "GNU time. Target: at most 0.15 s per megapixel more, and 400 MB.",
            "",
            *speed_table(speeds, 12.0),
            "",
            "With `--json` (the quality figures measured, by strips of pixels for a dithered image):",
            "",
            *speed_table(json_speeds, 12.0),
            "",
        ]
    REPORT.write_text("\n".join(text))
    print(f"wrote {REPORT}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="k = 16 only, one speed run")
    parser.add_argument("--workers", type=int, default=2, help="photos measured at once (default 2)")
    parser.add_argument("--runs", type=int, default=3, help="speed runs per variant (default 3)")
    parser.add_argument("--no-speed", action="store_true", help="skip the 12 MP timing")
    parser.add_argument(
        "--reuse-quality", action="store_true", help="take the quality figures of the last run (work/dither)"
    )
    args = parser.parse_args(argv)
    ks = (16,) if args.quick else KS
    if args.reuse_quality:
        ks = tuple(sorted({k for _, k, _ in json.loads((OUT / "quality.json").read_text())}))
    runs = 1 if args.quick else args.runs
    OUT.mkdir(parents=True, exist_ok=True)
    photos = inputs.holdout_inputs()
    rows = load_rows() if args.reuse_quality else save_rows(quality(photos, ks, args.workers))
    big = inputs.holdout_12mp()
    speeds = [] if args.no_speed else speed(big, (16, 256), runs)
    json_speeds = [] if args.no_speed else speed(big, (16,), 1, ["--json", str(OUT / "speed.json")])
    write_report(rows, ks, photos, speeds, json_speeds, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

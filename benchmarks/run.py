"""kmimg against its peers, side by side on the same machine and the same files: issue 11's targets.

Run from the repository root: ``make bench`` or ``.venv/bin/python benchmarks/run.py [--quick]
[--only SECTIONS]``. It generates the inputs (``benchmarks/inputs.py``, into the git-ignored
``benchmarks/work``), runs every method as its own process (whole-process wall time; peak RSS of
the largest process from GNU time, and for batch runs the sum over the process tree, sampled),
alternating kmimg and the peers run by run, and writes ``benchmarks/RESULTS.md``.

Sections (``--only``, comma-separated; the default runs them all):

- ``quality``   PSNR / SSIM / bytes at k = 8, 16, 64, 256 on the samples and on the hold-out photos
- ``onefile``   target 1: one photo per process, kmimg (with and without ``--json``) vs pngquant
- ``folder``    target 2: 24 hold-out photos in one call, images/s; ``--jobs`` byte identity
- ``small``     target 3: 10,000 images of 64x64 in one folder (``--quick``: the first 1,000)
- ``icons``     issue 26: 2,000 varied icons of 64x64 (``icons.py``), k = 16, one call, against pngquant
  given every file in one call and pngquant run once per file
- ``12mp``      target 4: the 12 MP hold-out photo at k = 16, time and memory
- ``segment``   target 5: ``kmimg segment`` on the 12 MP hold-out photo
- ``phases``    phase table: 0.5 MP hold-out photo at k = 256 and 16, the 12 MP photo at k = 16
- ``startup``, ``scaling``   start-up and the 1-48 MP sweep (information, no target)
- ``translucent`` issue 24: translucent images against pngquant and libimagequant (PSNR three
  ways, bytes, dithered SSIMULACRA2, time against opaque twins; ``translucent.py``)
- ``grey``      issue 24: grey photos at every k from 4 to 32 against pngquant
- ``quality-mode`` issue 26: ``quantize --quality 60-80`` on a folder against ``pngquant --quality
  60-80`` per file (PSNR, bytes, images/s; ``quality_mode.py``, which also runs alone). Named so
  because ``quality`` is the fixed-k comparison above
- ``animation`` issue 27: generated animated GIFs re-quantized to K = 32 and 64 against
  ``gifsicle --colors K -O3`` and ImageMagick (mean PSNR over frames, bytes, frames and
  durations kept; ``animation.py``)
- ``bytes``     issue 26: PNG bytes of kmimg alone against pngquant then ``oxipng -o 2``, K = 16,
  64, 256, the PSNR lead and the encoder's time (``png_bytes.py``)

Quality figures of every method come from :mod:`kmimg.metrics` on the decoded output PNGs, so all
methods are judged by the same code. A ratio is the median of the ratios of neighbouring
(kmimg, peer) runs, which cancels most of the drift of a shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import animation  # noqa: E402  (sibling modules, found through the path line above)
import icons  # noqa: E402
import inputs  # noqa: E402
import png_bytes  # noqa: E402
import quality_mode  # noqa: E402
import translucent  # noqa: E402

from kmimg import metrics  # noqa: E402

ROOT = HERE.parent
WORK = HERE / "work"
OUT = WORK / "out"
PYTHON = sys.executable
KMIMG = str(Path(PYTHON).with_name("kmimg"))
PEERS = str(HERE / "peers.py")
KS = (8, 16, 64, 256)
SPEED_KS = (16, 64, 256)
PQ = "pngquant"
PQ1 = "pngquant, OMP_NUM_THREADS=1"
METHODS = ("kmimg", "pngquant", "imagemagick", "pillow-mediancut", "pillow-fastoctree", "sklearn-recipe")
SECTIONS = (
    "quality", "onefile", "folder", "small", "icons", "12mp", "segment", "phases", "startup", "scaling",
    "translucent", "grey", "quality-mode", "animation", "bytes",
)  # fmt: skip
#: pngquant gets the small files in chunks of this many paths (xargs): one argv stays far below
#: the kernel's limit (ARG_MAX, 2 MB here; 10,000 paths are about 0.7 MB).
SMALL_CHUNK = 2500


# ----------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Run:
    """One process run: wall time, peak RSS of its largest process (GNU time ``%M``) and, when
    the tree was sampled, the peak of the summed RSS and PSS of all its processes."""

    wall: float
    rss_mb: float
    tree_rss_mb: float = 0.0
    tree_pss_mb: float = 0.0
    processes: int = 1


TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(x) for x in handle.read().split())
    except (OSError, ValueError):
        pass
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples the resident memory of a process tree every ``interval`` seconds while it runs.

    The peak of the *sum* over all processes is what a ``--jobs`` run costs the machine; GNU
    time's ``%M`` is only the largest single process. RSS counts pages shared between a forked
    worker and its parent once per process (an upper bound); PSS shares them out (``smaps_rollup``).
    A peak shorter than the interval can be missed.
    """

    def __init__(self, root: int, *, skip_root: bool, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.root, self.skip_root, self.interval = root, skip_root, interval
        self.stop = threading.Event()
        self.rss_kb = self.pss_kb = 0
        self.processes = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def sample(self) -> None:
        pids, frontier = [], [self.root]
        while frontier:
            pid = frontier.pop()
            if pid != self.root or not self.skip_root:
                pids.append(pid)
            frontier.extend(_children(pid))
        rss = sum(_status_kb(pid, "VmRSS:") for pid in pids)
        pss = sum(_pss_kb(pid) for pid in pids)
        self.rss_kb, self.pss_kb = max(self.rss_kb, rss), max(self.pss_kb, pss)
        self.processes = max(self.processes, len(pids))


def measure(argv: Sequence[str], *, tree: bool = False, log_name: str = "last-stderr.txt") -> Run:
    """Run a command; its wall time and peak resident memory.

    The largest process comes from GNU time's ``%M`` when installed: a child of this (large)
    Python process would report this process's peak as its own through ``wait4``, since Linux
    carries the high-water mark across fork and exec. With ``tree`` the whole process tree is
    also sampled (:class:`TreeSampler`).
    """
    log = WORK / log_name
    rss_file = WORK / "last-rss.txt"
    prefix = [TIME, "-f", "%M", "-o", str(rss_file)] if TIME else []
    with open(log, "wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen([*prefix, *argv], stdout=subprocess.DEVNULL, stderr=err)
        sampler = TreeSampler(process.pid, skip_root=TIME is not None) if tree else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if sampler:
            sampler.stop.set()
            sampler.join()
    code = process.returncode
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}: {log.read_text()[-500:]}")
    rss_kb = int(rss_file.read_text().split()[-1]) if TIME else usage.ru_maxrss
    if sampler is None:
        return Run(wall=wall, rss_mb=rss_kb / 1024)
    return Run(
        wall=wall,
        rss_mb=rss_kb / 1024,
        tree_rss_mb=max(sampler.rss_kb, rss_kb) / 1024,
        tree_pss_mb=sampler.pss_kb / 1024,
        processes=sampler.processes,
    )


def find_imagemagick() -> str | None:
    """The real ImageMagick ``convert`` binary on PATH (skips shell-script stand-ins)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / "convert"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            with open(candidate, "rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    return str(candidate)
            resolved = candidate.resolve()
            if resolved != candidate and resolved.read_bytes()[:4] == b"\x7fELF":
                return str(resolved)
    return None


CONVERT = find_imagemagick()


def kmimg_command(k: int, source: Path, target: Path, *, json_file: bool = False) -> list[str]:
    argv = [KMIMG, "quantize", str(source), "-k", str(k), "-o", str(target)]
    return [*argv, "--json", str(target.with_suffix(".json"))] if json_file else argv


def pngquant_command(k: int, source: Path, target: Path) -> list[str]:
    return ["pngquant", str(k), "--nofs", "--force", "-o", str(target), str(source)]


def one_thread(argv: list[str]) -> list[str]:
    return ["env", "OMP_NUM_THREADS=1", *argv]


def command(method: str, k: int, source: Path, target: Path) -> list[str]:
    if method == "kmimg":
        return kmimg_command(k, source, target)
    if method == "pngquant":
        return pngquant_command(k, source, target)
    if method == "imagemagick":
        assert CONVERT is not None
        return [CONVERT, str(source), "+dither", "-colors", str(k), str(target)]
    return [PYTHON, PEERS, method, str(k), str(source), str(target)]


def alternate(
    commands: dict[str, list[str]],
    reps: int,
    *,
    tree: Iterable[str] = (),
    prepare: Callable[[str], None] | None = None,
) -> dict[str, list[Run]]:
    """``reps`` rounds; each round runs every command once, starting with a different one.
    ``prepare(name)``, untimed, before each run (say, removing that command's last outputs)."""
    names = list(commands)
    sampled = set(tree)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for round_index in range(reps):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if prepare is not None:
                prepare(name)
            runs[name].append(measure(commands[name], tree=name in sampled))
    return runs


def fresh_targets(commands: dict[str, list[str]]) -> Callable[[str], None]:
    """A ``prepare`` for :func:`alternate` that removes the ``-o`` target of the command about to
    run: every run creates its file. Replacing a file an earlier run synced to disk costs ~3 ms
    more on this machine's file system (its blocks are freed and discarded) than replacing one
    still in the page cache, which is where pngquant (no fsync) leaves its outputs and where
    kmimg (fsync) does not: left in place, the same target would tax kmimg alone."""

    def prepare(name: str) -> None:
        argv = commands[name]
        if "-o" in argv:
            Path(argv[argv.index("-o") + 1]).unlink(missing_ok=True)

    return prepare


def median_wall(runs: list[Run]) -> float:
    return statistics.median(run.wall for run in runs)


def median_rss(runs: list[Run]) -> float:
    return statistics.median(run.rss_mb for run in runs)


def median_of(runs: list[Run], value: Callable[[Run], float]) -> float:
    return statistics.median(value(run) for run in runs)


def paired_ratio(ours: list[Run], theirs: list[Run], value: Callable[[Run], float]) -> float:
    return statistics.median(value(a) / value(b) for a, b in zip(ours, theirs, strict=True))


def wall(run: Run) -> float:
    return run.wall


# ----------------------------------------------------------------------------- the report


#: Issue 11's targets, in the order of RESULTS.md's table: id -> goal.
TARGETS = {
    "1a one file": "median over the hold-out photos of per-file time kmimg/pngquant <= 1.5 "
    "at k = 16, 64 and 256 (`kmimg quantize photo.png -k K -o out.png`)",
    "1b one file, --json": "the same with `--json FILE` <= 2.0",
    "2 folder": ">= 1.5x pngquant's images/s at k = 16, 64 and 256 (24 hold-out photos, one call, "
    "default `--jobs`; the faster of pngquant with and without OMP_NUM_THREADS=1)",
    "3 small files": ">= 0.5x pngquant's images/s (10,000 images of 64x64 in one folder, one call each)",
    "26a icons": ">= 1.0x pngquant's images/s on 2,000 icons of 64x64 at k = 16 (`kmimg quantize -k 16 DIR` "
    "against pngquant given every file in one call; the faster of its two configurations)",
    "4a PSNR": "hold-out mean PSNR >= pngquant's at every k in 8/16/64/256 and >= +0.3 dB over the four",
    "4b SSIM": "hold-out mean SSIM >= pngquant's at every k",
    "4c PNG bytes": "hold-out PNG bytes <= 1.05x pngquant (total per k)",
    "4d 12 MP": "12 MP hold-out photo, k = 16: <= 0.5x pngquant's time, <= 400 MB",
    "4e --jobs bytes": "same bytes for the same seed for any `--jobs`",
    "5a segment": "12 MP, `kmimg segment photo.png --out-dir D` (k = 2, default outputs): "
    "<= 1.0x pngquant's time (k = 16) and <= 600 MB",
    "5b segment --max-side 0": "the same with `--max-side 0`: <= 3x pngquant's time and <= 1.5 GB",
    "24a translucent PSNR": "judged translucent set, k = 16/64/256: mean gain >= +0.3 dB over pngquant and "
    "over libimagequant, premultiplied, over black and over white",
    "24b worst image": "no translucent image more than 0.3 dB behind pngquant, premultiplied",
    "24c bytes": "translucent PNG bytes <= 1.05x pngquant's at every k",
    "24d dithered": "`--dither` SSIMULACRA2 over white >= pngquant's default dithering, k = 16 and 64",
    "24e grey": "grey photos, every k from 4 to 32: mean gain >= +0.2 dB, no photo more than 0.05 dB behind",
    "24f time": "a translucent image costs <= 1.3x the same image opaque (whole process)",
    "26a bytes": "`--strip` PNG bytes <= 1.0x pngquant `--nofs --strip` then `oxipng -o 2` (total per k; "
    "k = 16, 64, 256; hold-out photos + a generated one)",
    "26b PSNR lead": "mean PSNR over the same photos >= +0.3 dB over pngquant over the three k, >= 0 at each",
    "26c encode time": "whole-process time of the default `--optimize` <= 1.15x `-O 0` (the zlib encoder "
    "before issue 26), median over photos at k = 64 and 256",
}


@dataclass
class Quality:
    psnr: float
    ssim: float
    delta_e: float
    png_bytes: int


def quality_of(source: Path, output: Path) -> Quality:
    original = np.asarray(Image.open(source).convert("RGB"))
    decoded = np.asarray(Image.open(output).convert("RGB"))
    return Quality(
        psnr=metrics.psnr(original, decoded),
        ssim=metrics.ssim(original, decoded),
        delta_e=metrics.delta_e2000_images(original, decoded),
        png_bytes=output.stat().st_size,
    )


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    targets: dict[str, tuple[str, str]] = field(default_factory=dict)
    headline: dict[str, object] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def add(self, *text: str) -> None:
        self.lines.extend(text)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "|".join("---" for _ in header) + "|")
        self.lines.extend("| " + " | ".join(row) + " |" for row in rows)
        self.lines.append("")

    def target(self, name: str, figure: str, met: bool) -> None:
        assert name in TARGETS, name
        self.targets[name] = (figure, "**met**" if met else "**not met**")

    def target_rows(self) -> list[str]:
        rows = []
        for name, goal in TARGETS.items():
            figure, verdict = self.targets.get(name, ("not measured in this run (see `--only`)", "-"))
            rows.append(f"| {name} | {goal} | {figure} | {verdict} |")
        return rows


def methods_available() -> list[str]:
    available = []
    for method in METHODS:
        if method == "pngquant" and shutil.which("pngquant") is None:
            continue
        if method == "imagemagick" and CONVERT is None:
            continue
        available.append(method)
    return available


def fmt_ratios(values: Sequence[float], digits: int = 2) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


# ----------------------------------------------------------------------------- 1. quality


def quality_set(
    sources: list[Path], methods: list[str], folder: Path
) -> tuple[dict[tuple[str, int], list[Quality]], list[list[str]], dict[tuple[str, int], list[Run]]]:
    """Every source at every k with every method, one run each; quality of each output."""
    folder.mkdir(parents=True, exist_ok=True)
    by_key: dict[tuple[str, int], list[Quality]] = {}
    times: dict[tuple[str, int], list[Run]] = {}
    rows: list[list[str]] = []
    for source in sources:
        for k in KS:
            targets = {m: folder / f"{source.stem}-k{k}-{m}.png" for m in methods}
            runs = alternate({m: command(m, k, source, targets[m]) for m in methods}, 1)
            for method in methods:
                quality = quality_of(source, targets[method])
                by_key.setdefault((method, k), []).append(quality)
                times.setdefault((method, k), []).extend(runs[method])
                run = runs[method][0]
                rows.append(
                    [
                        source.stem,
                        str(k),
                        method,
                        f"{quality.psnr:.2f}",
                        f"{quality.ssim:.4f}",
                        f"{quality.delta_e:.2f}",
                        f"{quality.png_bytes:,}",
                        f"{run.wall:.2f}",
                        f"{run.rss_mb:.0f}",
                    ]
                )
    return by_key, rows, times


@dataclass
class Comparison:
    gains: list[float]
    ssim_gains: list[float]
    bytes_ratio: list[float]
    rows: list[list[str]]


def compare_with_pngquant(by_key: dict[tuple[str, int], list[Quality]]) -> Comparison:
    gains, ssim_gains, ratios, rows = [], [], [], []
    for k in KS:
        ours, theirs = by_key[("kmimg", k)], by_key[("pngquant", k)]
        # Images that either method reproduces losslessly (PSNR infinite) are left out.
        pairs = [(a.psnr, b.psnr) for a, b in zip(ours, theirs, strict=True) if max(a.psnr, b.psnr) < 1e9]
        gain = statistics.mean(a - b for a, b in pairs) if pairs else 0.0
        ssim_gain = statistics.mean(x.ssim for x in ours) - statistics.mean(x.ssim for x in theirs)
        ratio = sum(x.png_bytes for x in ours) / sum(x.png_bytes for x in theirs)
        worst = max(a.png_bytes / b.png_bytes for a, b in zip(ours, theirs, strict=True))
        per_image = [a - b for a, b in pairs]
        gains.append(gain)
        ssim_gains.append(ssim_gain)
        ratios.append(ratio)
        rows.append(
            [
                str(k),
                f"{gain:+.2f}",
                f"{min(per_image):+.2f} .. {max(per_image):+.2f}" if per_image else "-",
                f"{ssim_gain:+.4f}",
                f"{ratio:.3f}",
                f"{worst:.3f}",
            ]
        )
    return Comparison(gains, ssim_gains, ratios, rows)


def quality_summary(
    report: Report,
    by_key: dict[tuple[str, int], list[Quality]],
    times: dict[tuple[str, int], list[Run]],
    methods: list[str],
    count: int,
) -> None:
    summary = []
    for k in KS:
        lossy = [i for i in range(count) if all(by_key[(m, k)][i].psnr < 1e9 for m in methods)]
        for method in methods:
            q = by_key[(method, k)]
            psnr_text = f"{statistics.mean(q[i].psnr for i in lossy):.2f}" if lossy else "-"
            if len(lossy) < count:
                psnr_text += f" ({len(lossy)} images)"
            summary.append(
                [
                    str(k),
                    method,
                    psnr_text,
                    f"{statistics.mean(x.ssim for x in q):.4f}",
                    f"{statistics.mean(x.delta_e for x in q):.2f}",
                    f"{sum(x.png_bytes for x in q):,}",
                    f"{median_wall(times[(method, k)]):.2f}",
                ]
            )
    report.table(
        ["k", "method", "mean PSNR dB", "mean SSIM", "mean ΔE2000", "PNG bytes", "median s"], summary
    )


def bench_quality(report: Report, methods: list[str]) -> None:
    samples = inputs.sample_inputs()
    holdout = inputs.holdout_inputs()
    pair = [m for m in ("kmimg", "pngquant") if m in methods]
    s_key, s_rows, s_times = quality_set(samples, methods, OUT / "quality")
    h_key, h_rows, h_times = quality_set(holdout, pair, OUT / "quality-holdout")
    compare_header = [
        "k",
        "Δ mean PSNR dB",
        "range over images",
        "Δ mean SSIM",
        "bytes kmimg/pngquant (total)",
        "worst image",
    ]
    report.add(
        "## 1. Quality (no dithering): hold-out photos and sample images",
        "",
        "Means over the images; an image that some method reproduces losslessly at that k (PSNR "
        "infinite) is left out of the PSNR means and differences; bytes are the total of the output "
        "PNGs. All measures by `kmimg.metrics` on the decoded outputs (PSNR over R, G, B; SSIM on luma "
        "with a 7x7 window). Target 4 is judged on the hold-out photos only; the samples are shown "
        "because kmimg's constants were tuned on them.",
        "",
        f"### 1.1 Hold-out photos (kmimg and pngquant): {len(holdout)} photos, "
        f"{', '.join(p.stem for p in holdout)}",
        "",
    )
    quality_summary(report, h_key, h_times, pair, len(holdout))
    if "pngquant" in methods:
        hold = compare_with_pngquant(h_key)
        report.add("kmimg minus pngquant on the hold-out photos, per k:", "")
        report.table(compare_header, hold.rows)
        report.headline["quality_holdout"] = {
            "psnr_gain": hold.gains,
            "ssim_gain": hold.ssim_gains,
            "bytes_ratio": hold.bytes_ratio,
        }
        report.target(
            "4a PSNR",
            f"per k {', '.join(f'{g:+.2f}' for g in hold.gains)} dB; "
            f"mean {statistics.mean(hold.gains):+.3f} dB",
            min(hold.gains) >= 0 and statistics.mean(hold.gains) >= 0.3,
        )
        report.target(
            "4b SSIM",
            "Δ per k " + ", ".join(f"{g:+.4f}" for g in hold.ssim_gains),
            min(hold.ssim_gains) >= 0,
        )
        report.target(
            "4c PNG bytes",
            f"total per k {fmt_ratios(hold.bytes_ratio, 3)}x",
            max(hold.bytes_ratio) <= 1.05,
        )
    report.add(f"### 1.2 Sample images (every method): {len(samples)} images, `sample_images/` as PNG", "")
    quality_summary(report, s_key, s_times, methods, len(samples))
    if "pngquant" in methods:
        samp = compare_with_pngquant(s_key)
        report.add(
            "kmimg minus pngquant on the samples, per k (mean ΔPSNR over the four k: "
            f"{statistics.mean(samp.gains):+.3f} dB):",
            "",
        )
        report.table(compare_header, samp.rows)
        report.headline["quality_samples"] = {
            "psnr_gain": samp.gains,
            "ssim_gain": samp.ssim_gains,
            "bytes_ratio": samp.bytes_ratio,
        }
    header = ["image", "k", "method", "PSNR", "SSIM", "ΔE2000", "bytes", "wall s", "RSS MB"]
    report.add("<details><summary>Every image, k and method</summary>", "")
    report.table(header, h_rows + s_rows)
    report.add("</details>", "")


# ----------------------------------------------------------------------------- 2. one file


def bench_onefile(report: Report, reps: int) -> None:
    photos = inputs.holdout_inputs()
    folder = OUT / "onefile"
    folder.mkdir(parents=True, exist_ok=True)
    names = ("kmimg", "kmimg --json", "pngquant")
    per_k: dict[int, dict[str, list[float]]] = {}
    detail = []
    for k in SPEED_KS:
        ratios: dict[str, list[float]] = {
            "kmimg": [],
            "kmimg --json": [],
            "kmimg_s": [],
            "json_s": [],
            "pq_s": [],
        }
        for photo in photos:
            commands = {
                "kmimg": kmimg_command(k, photo, folder / f"{photo.stem}-k{k}.png"),
                "kmimg --json": kmimg_command(
                    k, photo, folder / f"{photo.stem}-k{k}-json.png", json_file=True
                ),
                "pngquant": pngquant_command(k, photo, folder / f"{photo.stem}-k{k}-pq.png"),
            }
            runs = alternate(commands, reps, prepare=fresh_targets(commands))
            plain = paired_ratio(runs["kmimg"], runs["pngquant"], wall)
            with_json = paired_ratio(runs["kmimg --json"], runs["pngquant"], wall)
            ratios["kmimg"].append(plain)
            ratios["kmimg --json"].append(with_json)
            ratios["kmimg_s"].append(median_wall(runs["kmimg"]))
            ratios["json_s"].append(median_wall(runs["kmimg --json"]))
            ratios["pq_s"].append(median_wall(runs["pngquant"]))
            detail.append(
                [
                    photo.stem,
                    str(k),
                    *(f"{median_wall(runs[n]):.3f}" for n in names),
                    f"{plain:.2f}",
                    f"{with_json:.2f}",
                    f"{median_rss(runs['kmimg']):.0f}",
                    f"{median_rss(runs['pngquant']):.0f}",
                ]
            )
        per_k[k] = ratios
    rows = []
    plain_medians, json_medians = [], []
    for k, r in per_k.items():
        plain_medians.append(statistics.median(r["kmimg"]))
        json_medians.append(statistics.median(r["kmimg --json"]))
        rows.append(
            [
                str(k),
                f"{plain_medians[-1]:.2f}",
                f"{min(r['kmimg']):.2f} .. {max(r['kmimg']):.2f}",
                f"{json_medians[-1]:.2f}",
                f"{min(r['kmimg --json']):.2f} .. {max(r['kmimg --json']):.2f}",
                f"{statistics.median(r['kmimg_s']):.3f}",
                f"{statistics.median(r['json_s']):.3f}",
                f"{statistics.median(r['pq_s']):.3f}",
            ]
        )
    report.headline["onefile"] = {"plain": plain_medians, "json": json_medians}
    report.add(
        "## 2. One photo per process (target 1)",
        "",
        f"Each of the {len(photos)} hold-out photos at k = 16, 64, 256: `kmimg quantize photo.png -k K -o "
        "out.png`, the same with `--json out.json`, and `pngquant K --nofs --force -o out.png photo.png`, "
        f"{reps} alternating round(s) per photo and k, each run writing a new file (the last run's "
        "output removed first, untimed). A photo's ratio is the median of its per-round "
        "kmimg/pngquant ratios; the table shows the median over the photos and their range. pngquant is "
        "run as installed (its OpenMP threads); on one small image they make little difference.",
        "",
    )
    report.table(
        [
            "k",
            "kmimg/pngquant, median",
            "range",
            "with --json, median",
            "range",
            "kmimg s",
            "kmimg --json s",
            "pngquant s",
        ],
        rows,
    )
    report.add("<details><summary>Every photo</summary>", "")
    report.table(
        [
            "photo",
            "k",
            "kmimg s",
            "kmimg --json s",
            "pngquant s",
            "ratio",
            "ratio --json",
            "kmimg MB",
            "pngquant MB",
        ],
        detail,
    )
    report.add("</details>", "")
    report.target(
        "1a one file",
        f"median ratio at k = 16/64/256: {fmt_ratios(plain_medians)}",
        max(plain_medians) <= 1.5,
    )
    report.target(
        "1b one file, --json",
        f"median ratio at k = 16/64/256: {fmt_ratios(json_medians)}",
        max(json_medians) <= 2.0,
    )


# ----------------------------------------------------------------------------- 3. folder


def _same_bytes(first: Path, second: Path, names: list[str]) -> bool:
    return all((first / n).read_bytes() == (second / n).read_bytes() for n in names)


def bench_folder(report: Report, reps: int, identity_ks: Sequence[int] = SPEED_KS) -> None:
    folder = inputs.holdout_folder()
    files = sorted(folder.glob("photo-??.png"))
    count = len(files)
    out_p = OUT / "folder-pngquant"
    out_p.mkdir(parents=True, exist_ok=True)
    # pngquant writes next to its inputs (--ext): it gets a copy of the folder, made once.
    for path in files:
        if not (out_p / path.name).exists():
            shutil.copyfile(path, out_p / path.name)
    copies = [str(out_p / p.name) for p in files]
    rows, ratios, identical_all = [], [], True
    for k in SPEED_KS:
        out_k, out_k1 = OUT / f"folder-kmimg-k{k}", OUT / f"folder-kmimg-j1-k{k}"
        base = [KMIMG, "quantize", str(folder), "-k", str(k), "--force", "--out-dir"]
        pq = ["pngquant", "--nofs", "--force", "--ext", f"-pq{k}.png", str(k), "--", *copies]
        commands = {"kmimg": [*base, str(out_k)], PQ: pq, PQ1: one_thread(pq)}
        runs = alternate(commands, reps, tree=["kmimg"])
        # --jobs 1 once, outside the rounds: for the byte identity and as a figure.
        single = measure([*base, str(out_k1), "--jobs", "1"], tree=True) if k in identity_ks else None
        names = [f"{p.stem}-k{k}.png" for p in files]
        identical = _same_bytes(out_k, out_k1, names) if single else None
        identical_all = identical_all and identical is not False
        rate = {name: count / median_wall(r) for name, r in runs.items()}
        # Judged against the faster of pngquant's two configurations (the ratio less kind to kmimg).
        ratio, peer = min((1 / paired_ratio(runs["kmimg"], runs[p], wall), p) for p in (PQ, PQ1))
        ratios.append(ratio)
        kmimg_runs = runs["kmimg"]
        rows.append(
            [
                str(k),
                f"{rate['kmimg']:.1f}",
                f"{count / single.wall:.1f}" if single else "-",
                f"{rate[PQ]:.1f}",
                f"{rate[PQ1]:.1f}",
                f"{ratio:.2f} ({peer})",
                f"{median_of(kmimg_runs, lambda r: r.tree_rss_mb):.0f} / "
                f"{median_of(kmimg_runs, lambda r: r.tree_pss_mb):.0f} / {median_rss(kmimg_runs):.0f}",
                f"{single.tree_rss_mb:.0f}" if single else "-",
                f"{median_rss(runs[PQ]):.0f}",
                "not run" if identical is None else str(identical),
            ]
        )
        report.headline[f"folder_k{k}"] = {"kmimg": rate["kmimg"], "peer": peer, "ratio": ratio}
    report.add(
        f"## 3. A folder of {count} hold-out photos (0.2-2 MP), one call (target 2)",
        "",
        f"`{folder.relative_to(ROOT)}`: the 8 hold-out photos and 16 crops / rescales / mirrors of their "
        f"6 sources. kmimg: `kmimg quantize FOLDER -k K --force --out-dir OUT`, default `--jobs` "
        f"({os.cpu_count()} cores here); pngquant: all {count} files in one call, "
        "`pngquant --nofs --force --ext -pqK.png K -- FILES` on a copy of the folder (it writes next "
        f"to its inputs), as installed and with OMP_NUM_THREADS=1. {reps} alternating round(s) per k; "
        "`--jobs 1` runs once per k, outside the rounds, for its figure and the byte comparison. "
        "kmimg's memory is the peak of the sum over its process tree, sampled every 20 ms (RSS, which "
        "counts pages a forked worker shares with its parent in both, and PSS, which shares them out), "
        "next to GNU time's largest single process.",
        "",
    )
    report.table(
        [
            "k",
            "kmimg images/s",
            "kmimg --jobs 1",
            "pngquant",
            "pngquant 1 thread",
            "kmimg / faster pngquant",
            "kmimg MB: tree RSS / tree PSS / largest process",
            "--jobs 1 MB",
            "pngquant MB",
            "--jobs bytes identical",
        ],
        rows,
    )
    report.target(
        "2 folder",
        f"images/s ratio at k = 16/64/256: {fmt_ratios(ratios)}",
        min(ratios) >= 1.5,
    )
    report.headline["jobs_identical"] = identical_all
    report.target(
        "4e --jobs bytes",
        f"folder outputs of default `--jobs` ({os.cpu_count()}) and `--jobs 1` byte-identical at "
        f"k = {'/'.join(str(k) for k in identity_ks)}: {identical_all}",
        identical_all,
    )


# ----------------------------------------------------------------------------- 4. small files


def _subset(folder: Path, count: int) -> Path:
    """The first ``count`` images of ``folder`` as hard links in a folder of their own."""
    if count >= inputs.SMALL_COUNT:
        return folder
    subset = folder.with_name(f"{folder.name}-{count}")
    subset.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.glob("icon-*.png"))[:count]:
        link = subset / path.name
        if not link.exists():
            os.link(path, link)
    return subset


def bench_small(report: Report, count: int, ks: Sequence[int]) -> None:
    folder = _subset(inputs.small_inputs(), count)
    files = sorted(folder.glob("icon-*.png"))
    copies = OUT / f"small-pngquant-{len(files)}"
    copies.mkdir(parents=True, exist_ok=True)
    for path in files:
        if not (copies / path.name).exists():
            os.link(path, copies / path.name)
    listing = WORK / f"small-list-{len(files)}.txt"
    listing.write_bytes(b"".join(str(copies / p.name).encode() + b"\0" for p in files))
    pilot_listing = WORK / "small-list-pilot.txt"
    pilot_listing.write_bytes(b"".join(str(copies / p.name).encode() + b"\0" for p in files[:200]))
    rows, ratios = [], []
    for k in ks:

        def pq(listing: Path, chunk: int, k: int = k) -> list[str]:
            return [
                "sh",
                "-c",
                f"xargs -0 -n {chunk} pngquant --nofs --force --ext -pq{k}.png {k} -- < '{listing}'",
            ]

        # pngquant's OpenMP threads are 5-10x slower than one thread on many small files when the
        # machine is busy: a 200-file pilot of both picks the configuration for the full run.
        pilot = alternate(
            {PQ: pq(pilot_listing, SMALL_CHUNK), PQ1: one_thread(pq(pilot_listing, SMALL_CHUNK))}, 1
        )
        peer = min((PQ, PQ1), key=lambda p: pilot[p][0].wall)
        peer_argv = pq(listing, SMALL_CHUNK) if peer == PQ else one_thread(pq(listing, SMALL_CHUNK))
        out_k = OUT / f"small-kmimg-{len(files)}-k{k}"
        commands = {
            "kmimg": [KMIMG, "quantize", str(folder), "-k", str(k), "--force", "--out-dir", str(out_k)],
            peer: peer_argv,
        }
        runs = alternate(commands, 1, tree=["kmimg"])
        ours, theirs = runs["kmimg"][0], runs[peer][0]
        ratio = theirs.wall / ours.wall
        ratios.append(ratio)
        rows.append(
            [
                str(k),
                f"{len(files) / ours.wall:.0f}",
                f"{len(files) / theirs.wall:.0f} ({peer})",
                f"{pilot[PQ][0].wall:.2f} / {pilot[PQ1][0].wall:.2f}",
                f"{ratio:.2f}",
                f"{ours.tree_rss_mb:.0f} / {ours.tree_pss_mb:.0f} / {ours.rss_mb:.0f}",
                f"{theirs.rss_mb:.0f}",
            ]
        )
        report.headline[f"small_k{k}"] = {"kmimg": len(files) / ours.wall, "peer": peer, "ratio": ratio}
    report.add(
        f"## 4. Many small files: {len(files):,} images of 64x64 in one folder (target 3)",
        "",
        f"`{folder.relative_to(ROOT)}`"
        + (
            ""
            if len(files) >= inputs.SMALL_COUNT
            else f" (`--quick`: the first {len(files):,} of the {inputs.SMALL_COUNT:,}, hard-linked)"
        )
        + ": flat-colour shapes with anti-aliased edges, some on a transparent background, tiles cut "
        "from the hold-out photos, pixel-art sprites (`inputs.small_inputs`). kmimg: `kmimg quantize "
        "DIR -k K --force --out-dir OUT`, default `--jobs`. pngquant: `xargs -0 -n "
        f"{SMALL_CHUNK} pngquant --nofs --force --ext -pqK.png K --` over a NUL-separated list of a "
        f"hard-linked copy of the folder, i.e. {-(-len(files) // SMALL_CHUNK)} pngquant process(es) of up to "
        f"{SMALL_CHUNK:,} files run one after the other (one argv for 10,000 paths would fit ARG_MAX "
        "here, but not everywhere). A 200-file pilot of pngquant with and without OMP_NUM_THREADS=1 "
        "picks the faster for the full run. One round per k (the runs are long).",
        "",
    )
    report.table(
        [
            "k",
            "kmimg images/s",
            "pngquant images/s",
            "pilot s, OpenMP / 1 thread",
            "kmimg / pngquant",
            "kmimg MB: tree RSS / PSS / largest",
            "pngquant MB",
        ],
        rows,
    )
    report.target(
        "3 small files",
        f"{len(files):,} files, images/s ratio at k = {'/'.join(str(k) for k in ks)}: {fmt_ratios(ratios)}",
        min(ratios) >= 0.5,
    )


# ----------------------------------------------------------------------------- icons (issue 26)

ICON_K = 16
PQ_EACH = "pngquant, one call per file"


def bench_icons(report: Report, reps: int, count: int) -> None:
    """Issue 26's icons bar: ``kmimg quantize -k 16 DIR`` against pngquant given all the files in one
    call (as build scripts run it), and against one pngquant call per file (as a Makefile rule)."""
    folder = icons.generate(WORK / "inputs" / f"icons-{count}", count)
    files = sorted(folder.glob("icon-*.png"))
    copies = OUT / f"icons-pngquant-{count}"  # pngquant writes next to its inputs: hard links
    copies.mkdir(parents=True, exist_ok=True)
    for path in files:
        if not (copies / path.name).exists():
            os.link(path, copies / path.name)
    listing = WORK / f"icons-list-{count}.txt"
    listing.write_bytes(b"".join(str(copies / p.name).encode() + b"\0" for p in files))
    out_k = OUT / f"icons-kmimg-{count}"
    ext = f"-pq{ICON_K}.png"
    pq = [
        "pngquant",
        str(ICON_K),
        "--nofs",
        "--force",
        "--ext",
        ext,
        "--",
        *(str(copies / p.name) for p in files),
    ]
    each = ["sh", "-c", f"xargs -0 -n 1 pngquant {ICON_K} --nofs --force --ext {ext} -- < '{listing}'"]
    commands = {
        "kmimg": [KMIMG, "quantize", "-k", str(ICON_K), str(folder), "--out-dir", str(out_k)],
        PQ: pq,
        PQ1: one_thread(pq),
        PQ_EACH: one_thread(each),
    }

    def prepare(name: str) -> None:  # every run writes new files (see fresh_targets), untimed
        shutil.rmtree(out_k, ignore_errors=True)
        for made in copies.glob(f"*{ext}"):
            made.unlink()

    runs = alternate(commands, reps, tree=["kmimg"], prepare=prepare)
    rate = {name: len(files) / median_wall(r) for name, r in runs.items()}
    ratio, peer = min((1 / paired_ratio(runs["kmimg"], runs[p], wall), p) for p in (PQ, PQ1))
    per_file = 1 / paired_ratio(runs["kmimg"], runs[PQ_EACH], wall)
    kinds = "opaque glyphs, glyphs with soft shadows, translucent badges, photo tiles, sprites, line icons"
    report.add(
        f"## Icons: {len(files):,} images of 64x64, k = {ICON_K} (issue 26)",
        "",
        f"`benchmarks/icons.py` ({kinds}; about half of them with translucent pixels). kmimg: `kmimg "
        f"quantize -k {ICON_K} DIR --out-dir OUT`, default `--jobs`. pngquant: every file in one call, "
        f"`pngquant {ICON_K} --nofs --force --ext {ext} -- FILES` on hard links of the icons, as installed "
        "and with OMP_NUM_THREADS=1; and one call per file (`xargs -n 1`, one thread). Every run writes "
        f"new files (the last outputs removed first, untimed). {reps} alternating round(s).",
        "",
    )
    report.table(
        ["command", "median s", "images/s", "kmimg / it (images/s)"],
        [
            [f"`{name}`", f"{median_wall(r):.2f}", f"{rate[name]:.0f}",
             "" if name == "kmimg" else f"{1 / paired_ratio(runs['kmimg'], r, wall):.2f}"]
            for name, r in runs.items()
        ],
    )  # fmt: skip
    report.headline["icons"] = {"kmimg": rate["kmimg"], "peer": peer, "ratio": ratio, "per_file": per_file}
    report.target(
        "26a icons",
        f"{ratio:.2f}x {peer}'s images/s ({rate['kmimg']:.0f} against {rate[peer]:.0f}); one pngquant "
        f"call per file: {per_file:.2f}x",
        ratio >= 1.0,
    )


# ----------------------------------------------------------------------------- 5. 12 MP


def bench_12mp(report: Report, methods: list[str], reps: int) -> None:
    source = inputs.holdout_12mp()
    folder = OUT / "12mp"
    folder.mkdir(parents=True, exist_ok=True)
    targets = {m: folder / f"holdout-12mp-{m}.png" for m in methods}
    commands = {m: command(m, 16, source, targets[m]) for m in methods}
    targets["kmimg --json"] = folder / "holdout-12mp-kmimg-json.png"
    commands["kmimg --json"] = kmimg_command(16, source, targets["kmimg --json"], json_file=True)
    if "pngquant" in methods:
        # pngquant runs OpenMP threads, which on a busy machine are sometimes slower than one.
        targets[PQ1] = folder / "holdout-12mp-pngquant-1thread.png"
        commands[PQ1] = one_thread(command("pngquant", 16, source, targets[PQ1]))
    runs = alternate(commands, reps)
    rows = []
    for method in commands:
        q = quality_of(source, targets[method])
        rows.append(
            [
                method,
                f"{median_wall(runs[method]):.2f}",
                f"{median_rss(runs[method]):.0f}",
                f"{paired_ratio(runs['kmimg'], runs[method], wall):.2f}",
                f"{paired_ratio(runs['kmimg'], runs[method], lambda r: r.rss_mb):.2f}",
                f"{q.psnr:.2f}",
                f"{q.ssim:.4f}",
                f"{q.delta_e:.2f}",
                f"{q.png_bytes:,}",
            ]
        )
    colours = len(np.unique(inputs_keys(source)))
    report.add(
        "## 5. One 12-megapixel photo, k = 16 (target 4d)",
        "",
        f"`{source.relative_to(ROOT)}`: motorcycle_left cropped to 4:3, Lanczos-upscaled to 4000x3000, "
        f"seeded Gaussian noise of 2 levels ({colours:,} distinct colours). {reps} alternating rounds; "
        "medians; ratios are medians of per-round kmimg/peer ratios. pngquant is judged at the faster "
        "of its two configurations; other peers are for information.",
        "",
    )
    report.table(
        ["method", "wall s", "RSS MB", "kmimg/peer time", "kmimg/peer memory", "PSNR", "SSIM", "ΔE", "bytes"],
        rows,
    )
    if "pngquant" in runs:
        verdicts = []
        for name in ("kmimg", "kmimg --json"):
            ratio, peer = max((paired_ratio(runs[name], runs[p], wall), p) for p in (PQ, PQ1))
            rss = median_rss(runs[name])
            verdicts.append((name, ratio, peer, rss, ratio <= 0.5 and rss <= 400))
            report.headline[f"12mp {name}"] = {
                "kmimg_s": median_wall(runs[name]),
                "mb": rss,
                "peer": peer,
                "peer_s": median_wall(runs[peer]),
                "ratio": ratio,
            }
        report.target(
            "4d 12 MP",
            "; ".join(
                f"`{name}` {ratio:.2f}x {peer} ({median_wall(runs[name]):.2f} s vs "
                f"{median_wall(runs[peer]):.2f} s), {rss:.0f} MB"
                for name, ratio, peer, rss, _ in verdicts
            )
            + " (both must pass)",
            all(v[-1] for v in verdicts),
        )


def inputs_keys(path: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).astype(np.uint32)
    return (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


# ----------------------------------------------------------------------------- 6. segment


def bench_segment(report: Report, reps: int) -> None:
    source = inputs.holdout_12mp()
    folder = OUT / "segment"
    folder.mkdir(parents=True, exist_ok=True)
    base = [KMIMG, "segment", str(source), "--force", "--out-dir"]
    pq = pngquant_command(16, source, folder / "holdout-12mp-pq16.png")
    commands = {
        "kmimg segment": [*base, str(folder / "default")],
        "kmimg segment --max-side 0": [*base, str(folder / "full"), "--max-side", "0"],
        PQ: pq,
        PQ1: one_thread(pq),
    }
    runs = alternate(commands, reps, tree=["kmimg segment", "kmimg segment --max-side 0"])
    rows = []
    for name, r in runs.items():
        rows.append(
            [
                f"`{name}`",
                f"{median_wall(r):.2f}",
                f"{median_rss(r):.0f}",
                f"{median_of(r, lambda x: x.tree_rss_mb):.0f}" if name.startswith("kmimg") else "",
                f"{max((paired_ratio(r, runs[p], wall), p) for p in (PQ, PQ1))[0]:.2f}"
                if name.startswith("kmimg")
                else "",
            ]
        )
    written = sorted(p.name for p in (folder / "default").iterdir())
    report.add(
        "## 6. segment on the 12 MP photo (target 5)",
        "",
        f"`kmimg segment {source.name} --force --out-dir D` (k = 2, default outputs: {', '.join(written)}) "
        f"and the same with `--max-side 0`, against `pngquant 16 --nofs` on the same photo (the faster of "
        f"its two configurations). {reps} alternating rounds, medians. Memory: the larger of GNU time's "
        "largest process and the sampled sum over the process tree.",
        "",
    )
    report.table(["command", "wall s", "largest process MB", "tree RSS MB", "kmimg / faster pngquant"], rows)
    for target, name, limit_t, limit_mb in (
        ("5a segment", "kmimg segment", 1.0, 600),
        ("5b segment --max-side 0", "kmimg segment --max-side 0", 3.0, 1536),
    ):
        ratio, peer = max((paired_ratio(runs[name], runs[p], wall), p) for p in (PQ, PQ1))
        mb = max(median_rss(runs[name]), median_of(runs[name], lambda x: x.tree_rss_mb))
        report.headline[name] = {"ratio": ratio, "peer": peer, "mb": mb}
        report.target(
            target,
            f"{ratio:.2f}x {peer} ({median_wall(runs[name]):.2f} s vs {median_wall(runs[peer]):.2f} s), "
            f"{mb:.0f} MB",
            ratio <= limit_t and mb <= limit_mb,
        )


# ----------------------------------------------------------------------------- 7. phases


PHASE_ORDER = ("import", "decode", "histogram", "fit", "map", "metrics", "encode")


def phase_samples(source: Path, k: int, reps: int) -> list[dict[str, float]]:
    samples = []
    for _ in range(reps):
        out = subprocess.run(
            [PYTHON, str(HERE / "phases.py"), str(source), str(k)],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"phases.py {source.name} {k} failed: {out.stderr[-800:]}")
        if out.stderr.strip():
            print(out.stderr.strip(), file=sys.stderr)
        samples.append(json.loads(out.stdout))
    return samples


def bench_phases(report: Report, reps: int) -> None:
    cases = [
        ("0.5 MP hold-out photo, k = 256", inputs.holdout_phase_photo(), 256),
        ("0.5 MP hold-out photo, k = 16", inputs.holdout_phase_photo(), 16),
        ("12 MP hold-out photo, k = 16", inputs.holdout_12mp(), 16),
    ]
    columns, peaks = [], []
    for label, source, k in cases:
        samples = phase_samples(source, k, reps)
        names = [n for n in samples[0] if n not in ("peak RSS MB", "coarse") and not n.startswith("metrics:")]
        medians = {n: statistics.median(float(s[n]) for s in samples) for n in names}
        detail = {
            n: statistics.median(float(s[n]) for s in samples) for n in samples[0] if n.startswith("metrics:")
        }
        columns.append((label, medians, detail))
        peaks.append(statistics.median(float(s["peak RSS MB"]) for s in samples))
        report.headline[f"phases {label}"] = medians
    order = [n for n in PHASE_ORDER if any(n in c[1] for c in columns)]
    order += [n for c in columns for n in c[1] if n not in order]
    rows = []
    for name in order:
        cells = []
        for _, medians, _ in columns:
            cells.append(f"{medians[name]:.3f}" if name in medians else "")
        rows.append([name, *cells])
    totals = [sum(v for n, v in medians.items() if n != "import") for _, medians, _ in columns]
    rows.append(["**total without import**", *(f"**{t:.3f}**" for t in totals)])
    rows.append(["peak RSS MB", *(f"{p:.0f}" for p in peaks)])
    report.add(
        "## 7. Where the time goes, in-process (phase table)",
        "",
        "`benchmarks/phases.py IMAGE K` does the work of `kmimg quantize` phase by phase in a fresh "
        f"process (no CLI, no JSON): seconds, medians of {reps} run(s). 'metrics' is PSNR + mean "
        "ΔE2000 + SSIM, which `quantize` computes for its record (and `--json`). The 0.5 MP photo is "
        "motorcycle_left resized to 866x577 (`inputs.holdout_phase_photo`).",
        "",
    )
    report.table(["phase", *(label for label, _, _ in columns)], rows)
    split = [
        f"{label}: " + ", ".join(f"{n.split(': ')[1]} {v:.3f} s" for n, v in detail.items())
        for label, _, detail in columns
        if detail
    ]
    if split:
        report.add("Metrics split: " + "; ".join(split) + ".", "")


# ----------------------------------------------------------------------------- 8-9. information


def bench_startup(report: Report, reps: int) -> None:
    small = inputs.holdout_inputs()[0]  # rocket, 640x427
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "python -c 'import numpy'": [PYTHON, "-c", "import numpy"],
        # kmimg's floor before any work: what a quantize run imports first (docs/performance.md).
        "python -c 'import numpy, PIL.Image, typer'": [PYTHON, "-c", "import numpy, PIL.Image, typer"],
        "python -c 'import sklearn.cluster'": [PYTHON, "-c", "import sklearn.cluster"],
        "kmimg --help": [KMIMG, "--help"],
    }
    for k in (16, 256):
        commands[f"kmimg quantize {small.name} -k {k}"] = kmimg_command(k, small, OUT / f"startup-k{k}.png")
        commands[f"pngquant {k} {small.name}"] = pngquant_command(k, small, OUT / f"startup-pq{k}.png")
    runs = alternate(commands, reps)
    report.add(
        "## 8. Start-up (information)",
        "",
        f"{reps} alternating rounds, medians.",
        "",
    )
    report.table(
        ["command", "median s", "peak RSS MB"],
        [[f"`{n}`", f"{median_wall(r):.3f}", f"{median_rss(r):.0f}"] for n, r in runs.items()],
    )
    report.headline["startup"] = {n: median_wall(r) for n, r in runs.items()}


def bench_scaling(report: Report, reps: int, sizes: Sequence[int]) -> None:
    sweep = inputs.sweep_inputs()
    folder = OUT / "sweep"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for megapixels in sizes:
        source = sweep[megapixels]
        commands = {
            "kmimg": kmimg_command(16, source, folder / f"{source.stem}-kmimg.png"),
            "pngquant": pngquant_command(16, source, folder / f"{source.stem}-pngquant.png"),
        }
        runs = alternate(commands, reps)
        rows.append(
            [
                f"{megapixels}",
                f"{median_wall(runs['kmimg']):.2f}",
                f"{median_wall(runs['kmimg']) / megapixels:.3f}",
                f"{median_rss(runs['kmimg']):.0f}",
                f"{median_wall(runs['pngquant']):.2f}",
                f"{median_rss(runs['pngquant']):.0f}",
            ]
        )
    report.add(
        "## 9. Scaling, k = 16 (information)",
        "",
        "The china.jpg sample cropped to 4:3 and resized to "
        f"{', '.join(str(s) for s in sizes)} MP (the issue-5 sweep); {reps} alternating round(s), medians.",
        "",
    )
    report.table(["MP", "kmimg wall s", "kmimg s/MP", "kmimg RSS MB", "pngquant s", "pngquant MB"], rows)


# ----------------------------------------------------------------------------- translucent (issue 24)


def bench_translucent(report: Report, reps: int) -> None:
    out = OUT / "translucent"
    translucent.bench_translucent(report, out, KMIMG)
    translucent.bench_translucent_dither(report, out, KMIMG)
    # 24f is judged on the worst of 21 per-image ratios, each the median of its rounds: with 3
    # rounds that maximum read 1.27-1.35 on one day's quiet runs (session 12); 5 rounds
    translucent.bench_translucent_time(report, KMIMG, alternate, paired_ratio, max(2 * reps + 1, 5))


# ----------------------------------------------------------------------------- main


def versions() -> list[str]:
    def first_line(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "not installed"

    import numpy
    import PIL
    import scipy
    import sklearn

    commit = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = first_line(["git", "-C", str(ROOT), "status", "--porcelain", "--", "kmimg"]) != "not installed"
    return [
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; kmimg commit {commit}"
        + (" (with uncommitted changes under kmimg/)" if dirty else ""),
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores ({platform.processor() or 'cpu'}), "
        f"Linux {platform.release()}; load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- Python {platform.python_version()}, numpy {numpy.__version__}, "
        f"scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, Pillow {PIL.__version__}",
        f"- pngquant {first_line(['pngquant', '--version'])}; ImageMagick "
        f"{first_line([CONVERT, '-version']) if CONVERT else 'not installed'}",
    ]


# ----------------------------------------------------------------------------- animation (issue 27)


def bench_animation(report: Report) -> None:
    work = OUT / "animation"
    sources = animation.generate(work / "in")
    lines, met = animation.report_lines(sources, animation.KS, work)
    report.add(
        "## Animations (issue 27)",
        "",
        "Six animations generated by `benchmarks/animation.py` (saved as GIFs by Pillow, a palette per "
        "frame), re-quantized to K colours: `kmimg quantize in.gif -k K -o out.gif --one-palette`, the "
        "same without it (the default: `--frame-palettes`), `gifsicle --colors K -O3`, "
        "`convert in.gif -coalesce +dither -colors K -layers optimize`. Mean "
        "PSNR over frames against the input's composited frames. ImageMagick's `-colors` quantizes each "
        "frame on its own (its files hold up to 256 colours in all); `--one-palette` and gifsicle hold "
        "K; the default (`--frame-palettes`) gives a frame K of its own where that is worth its bytes. "
        "Targets (kmimg >= best peer + 0.5 dB and no larger than ImageMagick everywhere): --one-palette "
        f"{met['kmimg']} of {met['cases']} cases, the default {met['frame-palettes']}, one or the "
        f"other {met['either']}: {animation.verdict(met)}.",
        "",
        *lines,
        "",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reps",
        type=int,
        default=3,
        help="alternating rounds per timed comparison (one-file, folder, segment: one fewer)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 round for one-file, folder and segment runs, 2 elsewhere; 1,000 small files; "
        "--jobs 1 at k = 16 only; no 48 MP sweep",
    )
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections: {','.join(SECTIONS)}"
    )
    parser.add_argument("--small-ks", default="8", help="k values of the small-file section, e.g. 8,16")
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"), help="markdown report path")
    args = parser.parse_args(argv)
    reps = 2 if args.quick else args.reps
    # The one-file, folder and segment sections run many long commands per round.
    batch_reps = 1 if args.quick else max(1, args.reps - 1)
    # One photo per process: short runs whose per-photo ratio is the median of its rounds; with
    # 2 rounds the median over the photos moved by +-0.1 between quiet runs (session 12), with 4
    # the k = 256 figure by 1.32-1.55 between records on unchanged photo code (sessions 13-15): 6.
    onefile_reps = 1 if args.quick else 3 * batch_reps
    # Icons: both tools' rates moved by +-10 % between quiet runs of 2 rounds (session 13), part of
    # it the kernel's inode allocation (benchmarks/NOTES.md, "Session 14"): 5 rounds, ~80 s.
    icons_reps = 1 if args.quick else 5
    small_ks = tuple(int(k) for k in args.small_ks.split(","))
    sections = [s for s in args.only.split(",") if s]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    missing = [name for name in ("pngquant",) if shutil.which(name) is None]
    if CONVERT is None:
        missing.append("imagemagick")
    if TIME is None:
        print(
            "benchmarks: /usr/bin/time not found; peak memory falls back to wait4, which counts this "
            "harness's own peak (install it: apt-get install -y time)",
            file=sys.stderr,
        )
    if missing:
        print(
            f"benchmarks: missing {', '.join(missing)}; "
            "install with: apt-get install -y pngquant imagemagick",
            file=sys.stderr,
        )
    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    methods = methods_available()
    has_pq = "pngquant" in methods
    report = Report()
    header = versions()
    started = time.perf_counter()
    runners: dict[str, Callable[[], None]] = {
        "quality": lambda: bench_quality(report, methods),
        "onefile": lambda: bench_onefile(report, onefile_reps),
        "folder": lambda: bench_folder(report, batch_reps, (16,) if args.quick else SPEED_KS),
        "small": lambda: bench_small(report, 1000 if args.quick else inputs.SMALL_COUNT, small_ks),
        "icons": lambda: bench_icons(report, icons_reps, 500 if args.quick else icons.COUNT),
        "12mp": lambda: bench_12mp(report, methods, reps),
        "segment": lambda: bench_segment(report, batch_reps),
        "phases": lambda: bench_phases(report, reps),
        "startup": lambda: bench_startup(report, max(reps, 3)),
        "scaling": lambda: bench_scaling(
            report, 1, inputs.SWEEP_MEGAPIXELS[:3] if args.quick else inputs.SWEEP_MEGAPIXELS
        ),
        "translucent": lambda: bench_translucent(report, batch_reps),
        "grey": lambda: translucent.bench_grey(report, OUT / "grey", KMIMG),
        "quality-mode": lambda: report.add(*quality_mode.measure(reps)),
        "animation": lambda: bench_animation(report),
        "bytes": lambda: png_bytes.bench_bytes(
            report, OUT / "bytes", KMIMG, alternate, paired_ratio, max(reps, 3)
        ),
    }
    needs_pq = {
        "onefile",
        "folder",
        "small",
        "icons",
        "segment",
        "translucent",
        "grey",
        "quality-mode",
        "bytes",
    }
    for name in SECTIONS:
        if name not in sections or (name in needs_pq and not has_pq):
            continue
        section_start = time.perf_counter()
        print(f"benchmarks: {name} ...", file=sys.stderr, flush=True)
        runners[name]()
        report.timings.append((name, time.perf_counter() - section_start))
        print(f"benchmarks: {name} took {report.timings[-1][1]:.0f} s", file=sys.stderr, flush=True)
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "# kmimg benchmark results",
        "",
        f"Written by `{' '.join(['python', 'benchmarks/run.py', *(argv or sys.argv[1:])])}` "
        f"in {time.perf_counter() - started:.0f} s ("
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in report.timings)
        + ").",
        "",
        *header,
        f"- Load average at the end: {load_end}. The machine is shared with other jobs: single "
        "absolute times are noisy, compare the ratios of alternating runs.",
        "",
        "## Targets (issues 11 and 24)",
        "",
        "Judged on the hold-out photos (scikit-image's bundled photos, `benchmarks/inputs.py`), never on "
        "`sample_images/`.",
        "",
        "| target | goal | figure | |",
        "|---|---|---|---|",
        *report.target_rows(),
        "",
        "How to read it, and what differs between the contestants:",
        "",
        "- Wall time is that of the whole process, start-up and exit included. Peak memory is GNU "
        "time's `%M` (the largest single process); for batch runs (`--jobs`) and segment it is also the "
        "peak of the sum over the process tree, sampled every 20 ms, and batch targets use the sum.",
        "- Every round runs each command once, in a rotating order; a ratio is the median of the "
        "per-round ratios. pngquant is measured both as installed (OpenMP threads) and with "
        "`OMP_NUM_THREADS=1` for the folder, small-file, 12 MP and segment figures, which are judged "
        "against whichever was faster (its threads are erratic on a busy machine).",
        "- pngquant runs at its default speed (4) with `--nofs` (no dithering, like kmimg's default); it "
        "writes its PNGs with its own zlib settings, kmimg with its own; neither is re-compressed. "
        "pngquant does no quality figures; kmimg computes PSNR, SSIM and ΔE2000 for every image "
        "(written with `--json`).",
        "- kmimg's default `--jobs` is one worker per core; pngquant parallelises with OpenMP threads.",
        "- ImageMagick is the real `convert` binary found on PATH (a shell-script stand-in earlier on "
        "PATH is skipped).",
        "",
        *report.lines,
        "",
        "Analysis written by hand (the hold-out set and its licences, the fair engine comparison, "
        "history of the issue-5 targets): [NOTES.md](NOTES.md).",
    ]
    text = "\n".join(lines).rstrip() + "\n"
    Path(args.output).write_text(text)
    (WORK / "headline.json").write_text(json.dumps(report.headline, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

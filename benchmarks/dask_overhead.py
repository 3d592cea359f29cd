"""What running a batch on a Dask cluster costs (issue 14): the same 100-file folder quantized
with ``--jobs 2`` and with ``--scheduler`` on a local cluster of two single-threaded workers.

Inputs: 100 small photos (0.05-0.2 MP) cut, scaled and mirrored from the hold-out sources
(``benchmarks/inputs.py``; never ``sample_images/``), in ``benchmarks/work/inputs/dask-folder``.

Measured, in alternating runs (the machine is shared: medians, and the paired ratio):

- wall time of the 100-file run, both ways, and of a 1-file run (the fixed start-up: importing
  ``distributed`` and connecting), so that the per-file cost is ``(wall100 - wall1) / 99``;
- CPU time of the kmimg process itself (``RUSAGE_CHILDREN``; on the cluster it only reads,
  sends, receives and writes: the client's cost per file);
- bytes moved: every input's bytes to a worker and every output's bytes back.

From these, on paper: throughput on 8 and 64 workers, and the number of workers at which the
client's share (its CPU per file, or a 1 Gb/s link) becomes the limit.

Run: ``.venv/bin/python benchmarks/dask_overhead.py [--reps N] [--k K] [--threads 2]`` (needs
``kmimg[dask]``; ``--threads 2``: one worker process running two tasks at once on threads).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import INPUTS, holdout_sources

FILES = 100
KMIMG = [sys.executable, "-m", "kmimg"]
DASK = Path(sys.executable).with_name("dask")


def folder_of_photos() -> Path:
    """100 photos of 0.05-0.2 MP from the hold-out sources (crops, scales, mirrors)."""
    folder = INPUTS / "dask-folder"
    targets = [folder / f"photo-{index:03d}.png" for index in range(FILES)]
    if all(path.exists() for path in targets):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sources = list(holdout_sources().values())
    for index, target in enumerate(targets):
        image = sources[index % len(sources)]
        width, height = image.size
        fraction = 0.3 + 0.7 * ((index * 7) % 11) / 10
        crop_w, crop_h = round(width * fraction), round(height * fraction)
        left = (width - crop_w) * ((index * 3) % 5) // 4
        top = (height - crop_h) * ((index * 2) % 3) // 2
        crop = image.crop((left, top, left + crop_w, top + crop_h))
        megapixels = 0.05 + 0.15 * ((index * 5) % 9) / 8
        scale = (megapixels * 1e6 / (crop_w * crop_h)) ** 0.5
        small = crop.resize((round(crop_w * scale), round(crop_h * scale)), Image.Resampling.LANCZOS)
        (ImageOps.mirror(small) if index % 2 else small).save(target, compress_level=6)
    return folder


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float  # of the kmimg process (and, locally, its worker processes)


def timed(argv: list[str]) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu)


def start_cluster(folder: Path, threads: int = 1) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` on 127.0.0.1 (with
    ``threads=2``: ``--nworkers 1 --nthreads 2``, two tasks at once in one process)."""
    info = folder / "scheduler.json"
    log = (folder / "dask.log").open("wb")
    scheduler = subprocess.Popen(
        [
            str(DASK),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(info),
        ],
        stdout=log,
        stderr=log,
    )
    while not info.exists():
        time.sleep(0.1)
    address = json.loads(info.read_text())["address"]
    workers = subprocess.Popen(
        [
            *[str(DASK), "worker", address, "--nworkers", str(2 // threads), "--nthreads", str(threads)],
            "--no-dashboard",
        ],
        stdout=log,
        stderr=log,
    )
    probe = "from distributed import Client; c = Client(%r, timeout=30); c.wait_for_workers(2); c.close()"
    subprocess.run([sys.executable, "-c", probe % address], check=True, capture_output=True)
    return address, [workers, scheduler]


def bytes_moved(document: Path) -> tuple[int, int]:
    records = json.loads(document.read_text())["results"]
    return sum(r["input_bytes"] for r in records), sum(r["output_bytes"] for r in records)


def work_seconds(document: Path) -> float:
    """Seconds the workers spent on the files (decode, fit, encode), from the JSON records."""
    return float(sum(r["seconds"] for r in json.loads(document.read_text())["results"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("-k", type=int, default=16)
    parser.add_argument(
        "--threads", type=int, choices=(1, 2), default=1, help="threads per worker process (2: one process)"
    )
    args = parser.parse_args()
    photos = folder_of_photos()
    one = sorted(photos.iterdir())[0]
    scratch = Path(tempfile.mkdtemp(prefix="kmimg-dask-bench-"))
    address, processes = start_cluster(scratch, args.threads)
    try:
        ways = {"jobs2": ["-j", "2"], "dask2": ["--scheduler", address]}
        runs: dict[str, list[Run]] = {f"{w}-{n}": [] for w in ways for n in (1, FILES)}
        work: dict[str, list[float]] = {way: [] for way in ways}
        base = [*KMIMG, "quantize", "-k", str(args.k), "--force"]
        for rep in range(args.reps + 1):  # the first round warms the page cache and the workers
            for way, flag in ways.items():
                out = scratch / f"out-{way}"
                folder_run = timed(
                    [*base, str(photos), "--out-dir", str(out), *flag, "--json", str(out) + ".json"]
                )
                file_run = timed([*base, str(one), "-o", str(scratch / f"one-{way}.png"), *flag])
                if rep:
                    runs[f"{way}-{FILES}"].append(folder_run)
                    runs[f"{way}-1"].append(file_run)
                    work[way].append(work_seconds(Path(str(out) + ".json")))
        same = all(
            (scratch / "out-jobs2" / p.name).read_bytes() == p.read_bytes()
            for p in (scratch / "out-dask2").iterdir()
        )
        moved = bytes_moved(scratch / "out-dask2.json")
        report(runs, work, moved, same, args)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def report(
    runs: dict[str, list[Run]],
    work: dict[str, list[float]],
    moved: tuple[int, int],
    same: bool,
    args: argparse.Namespace,
) -> None:
    med = {name: statistics.median(r.wall for r in found) for name, found in runs.items()}
    cpu = {name: statistics.median(r.cpu for r in found) for name, found in runs.items()}
    paired = statistics.median(
        d.wall / j.wall for d, j in zip(runs[f"dask2-{FILES}"], runs[f"jobs2-{FILES}"], strict=True)
    )
    per_file = {w: (med[f"{w}-{FILES}"] - med[f"{w}-1"]) / (FILES - 1) for w in ("jobs2", "dask2")}
    print(
        f"kmimg quantize -k {args.k}, {FILES} photos of 0.05-0.2 MP, {args.reps} alternating runs (medians)"
    )
    for name in runs:
        print(f"  {name:10s} wall {med[name]:6.2f} s   kmimg process CPU {cpu[name]:6.2f} s")
    print(f"  outputs byte-identical: {same}")
    print(f"  {FILES}-file wall, cluster / --jobs 2 (paired median): {paired:.3f}")
    overhead = per_file["dask2"] / per_file["jobs2"] - 1
    print(
        f"  per file beyond start-up: --jobs 2 {1000 * per_file['jobs2']:.1f} ms, "
        f"cluster {1000 * per_file['dask2']:.1f} ms ({100 * overhead:+.1f} %)"
    )
    start_up = med["dask2-1"] - med["jobs2-1"]
    print(f"  fixed start-up of a cluster run (import distributed, connect): {start_up:+.2f} s")
    sent, back = moved
    print(
        f"  bytes moved: {sent / 1e6:.2f} MB of inputs out, {back / 1e6:.2f} MB of PNGs back "
        f"({(sent + back) / FILES / 1e3:.1f} kB per file)"
    )
    busy = {way: statistics.median(found) / FILES for way, found in work.items()}
    print(
        f"  work per file inside the worker (decode, fit, encode): --jobs 2 {1000 * busy['jobs2']:.1f} ms, "
        f"cluster {1000 * busy['dask2']:.1f} ms"
    )
    # CPU, not wall: on a shared machine the wall time inside a worker includes waiting for a core.
    worker_seconds = (cpu[f"jobs2-{FILES}"] - cpu["jobs2-1"]) / (FILES - 1)
    client_seconds = (cpu[f"dask2-{FILES}"] - cpu["dask2-1"]) / (FILES - 1)
    link = (sent + back) / FILES / 117e6  # 1 Gb/s, both ways counted on one link
    print(
        f"  CPU per file: worker {1000 * worker_seconds:.1f} ms (a local run's, all processes); client "
        f"{1000 * client_seconds:.2f} ms (read, send, receive, write); 1 Gb/s link {1000 * link:.2f} ms"
    )
    for workers in (8, 64):
        rate = min(workers / worker_seconds, 1 / max(client_seconds, 1e-9), 1 / link)
        print(
            f"  on paper, {workers} workers: {rate:.0f} files/s "
            f"(of {workers / worker_seconds:.0f} the workers could do)"
        )
    print(
        f"  the client's CPU limits at ~{worker_seconds / client_seconds:.0f} workers, "
        f"a 1 Gb/s link at ~{worker_seconds / link:.0f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())

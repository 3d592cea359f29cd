"""The start-up floor of a kmimg process against pngquant's whole run on one small photo.

Medians of alternating runs of: a bare Python, Python importing numpy and Pillow, the same with
Typer, ``kmimg --help``, ``kmimg quantize`` and ``pngquant`` on the rocket hold-out photo (640x427)
at k = 16 and 256. Run after ``make bench`` (it uses ``.venv-bench`` and the hold-out inputs)::

    .venv-bench/bin/python benchmarks/startup_floor.py [--reps 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv-bench" / "bin"
PHOTO = ROOT / "benchmarks" / "work" / "inputs" / "holdout" / "rocket.png"


def commands(out: Path) -> dict[str, list[str]]:
    python = str(BIN / "python")
    found = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import numpy, PIL.Image'": [python, "-c", "import numpy, PIL.Image"],
        "python -c 'import numpy, PIL.Image, typer'": [python, "-c", "import numpy, PIL.Image, typer"],
        "kmimg --help": [str(BIN / "kmimg"), "--help"],
    }
    for k in (16, 256):
        found[f"kmimg quantize rocket.png -k {k}"] = [
            str(BIN / "kmimg"), "quantize", str(PHOTO), "-k", str(k), "-o", str(out / f"k{k}.png"),
        ]  # fmt: skip
        found[f"pngquant {k} --nofs rocket.png"] = [
            "pngquant", str(k), "--nofs", "--force", "-o", str(out / f"p{k}.png"), str(PHOTO),
        ]  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    reps = parser.parse_args().reps
    if not PHOTO.exists():
        sys.exit(f"{PHOTO} is missing: run make bench first")
    with tempfile.TemporaryDirectory() as folder:
        runs = commands(Path(folder))
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(reps):
            for name, command in runs.items():
                start = time.perf_counter()
                subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - start)
    print("| command | median s |\n|---|---|")
    for name, spent in times.items():
        print(f"| `{name}` | {statistics.median(spent):.3f} |")


if __name__ == "__main__":
    main()

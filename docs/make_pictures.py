"""Re-make every picture in docs/ with the kmimg commands the documentation shows.

Usage, from the repository root with kmimg installed (``make demo``)::

    .venv/bin/python docs/make_pictures.py

Each picture is the plain output of one command (listed in ``PICTURES``); nothing is drawn or
edited by hand. The digits for the ``classify`` pictures are written to a temporary folder by
``docs/write_digits.py``; the animated GIF of ``docs/animation.md`` (``docs/flower-pan.gif``)
by ``docs/write_animation.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KMIMG = str(Path(sys.executable).with_name("kmimg"))

#: ``DIGITS`` stands for the folder of digit PNGs.
CLASSIFY = ["classify", "DIGITS", "-k", "10", "--labels", "DIGITS/labels.csv", "-q"]
#: (picture, command)
PICTURES: tuple[tuple[str, list[str]], ...] = (
    (
        "docs/flower-k16.png",
        ["quantize", "sample_images/flower.jpg", "-k", "16", "-o", "docs/flower-k16.png"],
    ),
    (
        "docs/coins-contours.png",
        [
            "segment",
            "sample_images/coins.png",
            "--flatten",
            "0.15",
            "--min-region",
            "64",
            "--emit",
            "contours",
            "--out-dir",
            "docs",
            "--force",
        ],
    ),
    (
        "docs/flower-sheet.png",
        ["compress-report", "sample_images/flower.jpg", "--sheet", "docs/flower-sheet.png", "--thumb", "160"],
    ),
    (
        "docs/digits-centers.png",
        [*CLASSIFY, "--montage", "docs/digits-centers.png", "--members", "0"],
    ),
    ("docs/digits-clusters.png", [*CLASSIFY, "--montage", "docs/digits-clusters.png"]),
    (
        "docs/flower-pan-k32.gif",
        ["quantize", "docs/flower-pan.gif", "-k", "32", "-o", "docs/flower-pan-k32.gif", "-q"],
    ),
    (
        "docs/palette-swatch.png",
        [
            "palette",
            "sample_images/coffee.png",
            "sample_images/chelsea.png",
            "-k",
            "16",
            "--swatch",
            "docs/palette-swatch.png",
            "-q",
        ],
    ),
)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        digits = str(Path(scratch) / "digits")
        subprocess.run([sys.executable, "docs/write_digits.py", digits], cwd=ROOT, check=True)
        animation = [sys.executable, "docs/write_animation.py", "docs/flower-pan.gif"]
        subprocess.run(animation, cwd=ROOT, check=True)
        for picture, command in PICTURES:
            arguments = [word.replace("DIGITS", digits) for word in command]
            # classify writes its CSV to standard output when no --csv is given: not wanted here.
            subprocess.run([KMIMG, *arguments], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            print(f"wrote {picture}")


if __name__ == "__main__":
    main()

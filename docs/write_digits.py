"""Write scikit-learn's digits (1,797 8x8 images) as grey PNGs plus a labels.csv, for the
`kmimg classify` example in the README.

Usage: python docs/write_digits.py out/digits

Pixel values 0..16 are scaled to 0..255 (rounded); files are named 0000.png ... 1796.png in the
data set's order and labels.csv has one ``file,label`` row each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def main(folder: Path) -> None:
    data = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.rint(data.images * (255.0 / 16.0)).astype(np.uint8)
    rows = ["file,label"]
    for index, (image, label) in enumerate(zip(pixels, data.target, strict=True)):
        name = f"{index:04d}.png"
        Image.fromarray(image).save(folder / name)
        rows.append(f"{name},{label}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    print(f"wrote {len(pixels)} PNGs and labels.csv into {folder}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/digits"))

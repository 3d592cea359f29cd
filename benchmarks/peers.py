"""Python peers of the benchmark, run as their own processes like the command-line peers.

``python benchmarks/peers.py METHOD K INPUT OUTPUT`` with METHOD one of:

- ``pillow-mediancut``, ``pillow-fastoctree``: ``Image.quantize(k, method, dither=NONE)``.
- ``sklearn-recipe``: the scikit-learn example "Color Quantization using K-Means": KMeans fitted
  on 1,000 random pixels (``shuffle(..., random_state=0, n_samples=1_000)``), then ``predict``
  for every pixel; the centres become the palette.

Outputs are palette PNGs written with Pillow's defaults.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image


def pillow(method: str, k: int, source: str, target: str) -> None:
    kind = Image.Quantize.MEDIANCUT if method == "pillow-mediancut" else Image.Quantize.FASTOCTREE
    image = Image.open(source).convert("RGB")
    image.quantize(colors=k, method=kind, dither=Image.Dither.NONE).save(target)


def sklearn_recipe(k: int, source: str, target: str) -> None:
    from sklearn.cluster import KMeans
    from sklearn.utils import shuffle

    rgb = np.asarray(Image.open(source).convert("RGB"), dtype=np.float64) / 255
    height, width, _ = rgb.shape
    pixels = rgb.reshape(-1, 3)
    sample = shuffle(pixels, random_state=0, n_samples=1_000)
    kmeans = KMeans(n_clusters=k, random_state=0).fit(sample)
    labels = kmeans.predict(pixels)
    palette = np.clip(np.rint(kmeans.cluster_centers_ * 255), 0, 255).astype(np.uint8)
    image = Image.fromarray(labels.reshape(height, width).astype(np.uint8), mode="P")
    image.putpalette(palette.tobytes())
    image.save(target)


def main(argv: list[str]) -> int:
    method, k, source, target = argv[0], int(argv[1]), argv[2], argv[3]
    if method.startswith("pillow-"):
        pillow(method, k, source, target)
    elif method == "sklearn-recipe":
        sklearn_recipe(k, source, target)
    else:
        print(f"unknown method {method}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

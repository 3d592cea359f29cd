"""Why kmimg's quantize engine does not call scikit-learn's MiniBatchKMeans (issue 2 asked for it).

Runs the same pipeline twice on the sample images -- colour histogram, seeded pixel sample,
Lloyd passes over all distinct colours, rounding, mapping -- once with kmimg's own numpy fit of
the sample (grid-cell reduction, k-means++ seeding, best of several starts for small k) and once
with the fit the issue described: ``MiniBatchKMeans(sample_weight=...)`` on the weighted sample,
polished by ``KMeans(init=centres, n_init=1)``. Prints mean PSNR per k and the in-process seconds
(the ``import sklearn.cluster`` itself, ~1 s, is paid before the timing starts).

    .venv/bin/python benchmarks/engine_vs_sklearn.py
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import kmimg.cluster as cluster
from kmimg.io import load_image
from kmimg.quantize import QuantizeOptions, analyze, quantize_analysis

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
NAMES = ("astronaut.png", "chelsea.png", "china.jpg", "coffee.png", "coins.png", "flower.jpg")
KS = (8, 16, 64, 256)


def minibatch_centers(
    features: NDArray[np.float64], weights: NDArray[np.int64], *, k: int, seed: int, sample: int
) -> NDArray[np.float64]:
    """The fit issue 2 described, on the same seeded sample kmimg draws."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    fit_x, fit_w = cluster._sample(features, weights, sample=sample, seed=seed, k=k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = MiniBatchKMeans(
            n_clusters=k, random_state=seed, n_init=3, batch_size=4096, compute_labels=False
        ).fit(fit_x, sample_weight=fit_w)
        polish = KMeans(n_clusters=k, init=batch.cluster_centers_, n_init=1, max_iter=20, random_state=seed)
        polish.fit(fit_x, sample_weight=fit_w)
    return np.asarray(polish.cluster_centers_, dtype=np.float64)


def main() -> None:
    import sklearn.cluster  # noqa: F401 - pay the import before timing

    analyses = [analyze(p.rgb, p.alpha) for p in (load_image(SAMPLES / n) for n in NAMES)]
    engines = {"kmimg numpy fit": cluster._kmeans_centers, "MiniBatchKMeans + KMeans": minibatch_centers}
    print("| k | fit | mean PSNR dB (finite) | seconds, 6 images |")
    print("|---|---|---|---|")
    for k in KS:
        for name, fit in engines.items():
            cluster._kmeans_centers = fit  # type: ignore[assignment]
            start = time.perf_counter()
            psnrs = [quantize_analysis(a, QuantizeOptions(k=k)).psnr for a in analyses]
            seconds = time.perf_counter() - start
            finite = [p for p in psnrs if np.isfinite(p)]
            print(f"| {k} | {name} | {np.mean(finite):.3f} | {seconds:.2f} |")
    cluster._kmeans_centers = engines["kmimg numpy fit"]  # type: ignore[assignment]


if __name__ == "__main__":
    main()

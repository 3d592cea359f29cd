"""kmimg's k-means fit against scikit-learn's, on exactly the same weighted points.

kmimg's ``fit_palette`` draws a seeded pixel sample from the colour histogram, merges it into
the weighted centroids of the occupied cells of a 64-level grid (``cluster._sample`` then
``cluster._reduce_to_cells``) and fits that small weighted set in ``cluster._kmeans_centers``
(k-means++ starts, the best of several for small k, Lloyd passes); the centres are then polished
by Lloyd passes over every distinct colour, rounded to 8 bits, settled, and mapped.

This script swaps ``_kmeans_centers`` for scikit-learn, which gets the *same* reduced weighted
set (``sample_weight``), the *same* number of k-means++ starts (``n_init`` = kmimg's starts at
that k) and a comparable number of Lloyd passes (``max_iter`` = kmimg's 50 per start, sklearn's
default relative ``tol``); everything after the fit is kmimg's code for all three. Contestants:

- ``kmimg``: ``cluster._kmeans_centers`` as it is (starts on a coarser 24-level grid, the winner
  refined on the fit set);
- ``KMeans``: ``KMeans(n_clusters=k, n_init=starts, max_iter=50, algorithm="lloyd")``;
- ``MiniBatchKMeans``: ``MiniBatchKMeans(n_clusters=k, n_init=starts, max_iter=50)``, batches of
  1,024 (sklearn's default).

Reported per k (16, 64, 256) over the hold-out photos: "fit only" -- seconds in the fit and the
weighted mean squared error of the fit set to its centres (the objective every contestant
minimises) -- and "pipeline" -- mean PSNR of the final palette and seconds of ``fit_palette``.
The ``import sklearn.cluster`` is timed separately, in fresh processes: a batch worker pays it
once, a single ``kmimg quantize`` would pay it every time.

    .venv/bin/python benchmarks/engine_vs_sklearn.py [--photos N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import inputs  # noqa: E402  (sibling module)

import kmimg.colorfit as cluster  # noqa: E402
from kmimg.core.quantize import QuantizeOptions, analyze, quantize_analysis  # noqa: E402
from kmimg.io import load_image  # noqa: E402

_PRIVATE = ("_sample", "_reduce_to_cells", "_kmeans_centers", "DEFAULT_SCHEDULE", "_nearest_with_distance")
_MOVED = [name for name in _PRIVATE if not hasattr(cluster, name)]
if _MOVED:
    raise SystemExit(
        "engine_vs_sklearn.py: kmimg.colorfit no longer has "
        + ", ".join(_MOVED)
        + "; this comparison reads kmimg's fit set through them (see _kmeans_centers) -- update it"
    )

KS = (16, 64, 256)
Centers = Callable[..., NDArray[np.float64]]


def fit_set(
    features: NDArray[np.float64], weights: NDArray[np.int64], *, k: int, seed: int, sample: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The weighted points kmimg's ``_kmeans_centers`` fits: its sample, reduced to grid cells."""
    fit_x, fit_w = cluster._sample(features, weights, sample=sample, seed=seed, k=k)
    schedule = cluster.DEFAULT_SCHEDULE
    if len(fit_x) > schedule.cell_min_points:
        fit_x, fit_w = cluster._reduce_to_cells(fit_x, fit_w, k=k, grid=schedule.grid)
    return fit_x, fit_w


def starts(k: int) -> int:
    """kmimg's number of k-means++ starts at ``k``."""
    return cluster.DEFAULT_SCHEDULE.starts(k)


def sklearn_fit(kind: str) -> Centers:
    def centers(
        features: NDArray[np.float64],
        weights: NDArray[np.int64],
        *,
        k: int,
        seed: int,
        sample: int,
        schedule: object = None,
    ) -> NDArray[np.float64]:
        from sklearn.cluster import KMeans, MiniBatchKMeans

        fit_x, fit_w = fit_set(features, weights, k=k, seed=seed, sample=sample)
        passes = cluster.DEFAULT_SCHEDULE.sample_passes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on tiny sets
            if kind == "KMeans":
                model = KMeans(
                    n_clusters=k, n_init=starts(k), max_iter=passes, algorithm="lloyd", random_state=seed
                )
            else:
                model = MiniBatchKMeans(n_clusters=k, n_init=starts(k), max_iter=passes, random_state=seed)
            model.fit(fit_x, sample_weight=fit_w)
        return np.asarray(model.cluster_centers_, dtype=np.float64)

    return centers


class Timed:
    """Wraps a centres function: accumulates its seconds and the fit-set error of its centres."""

    def __init__(self, fit: Centers) -> None:
        self.fit, self.seconds, self.calls, self.bookkeeping = fit, 0.0, 0, 0.0
        self.mse: list[float] = []

    def __call__(
        self,
        features: NDArray[np.float64],
        weights: NDArray[np.int64],
        *,
        k: int,
        seed: int,
        sample: int,
        schedule: object = None,
    ) -> NDArray[np.float64]:
        start = time.perf_counter()
        centers = self.fit(features, weights, k=k, seed=seed, sample=sample)
        middle = time.perf_counter()
        self.seconds += middle - start
        self.calls += 1
        fit_x, fit_w = fit_set(features, weights, k=k, seed=seed, sample=sample)
        distances = cluster._nearest_with_distance(fit_x, centers)[1].astype(np.float64)
        self.mse.append(float(np.sum(fit_w * distances) / np.sum(fit_w)))
        self.bookkeeping += time.perf_counter() - middle
        return centers


def import_seconds(runs: int = 3) -> tuple[float, float]:
    """Median seconds of ``import sklearn.cluster`` (after numpy) in a fresh process, and of the
    whole process ``python -c 'import sklearn.cluster'``."""
    code = (
        "import time, numpy; t = time.perf_counter(); import sklearn.cluster; print(time.perf_counter() - t)"
    )
    inner, whole = [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        whole.append(time.perf_counter() - start)
        inner.append(float(out.stdout))
    return statistics.median(inner), statistics.median(whole)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=0, help="use only the first N hold-out photos")
    args = parser.parse_args(argv)
    photos = inputs.holdout_inputs()
    if args.photos:
        photos = photos[: args.photos]
    inner, whole = import_seconds()
    import sklearn
    import sklearn.cluster  # paid here, once, before any timing

    analyses = [analyze(p.rgb, p.alpha) for p in (load_image(path) for path in photos)]
    original = cluster._kmeans_centers
    contestants: dict[str, Centers] = {
        "kmimg": original,
        "KMeans": sklearn_fit("KMeans"),
        "MiniBatchKMeans": sklearn_fit("MiniBatchKMeans"),
    }
    print(
        f"{len(photos)} hold-out photos ({', '.join(p.stem for p in photos)}); scikit-learn "
        f"{sklearn.__version__}; `import sklearn.cluster` after numpy: {inner:.2f} s in a fresh process "
        f"(whole `python -c 'import sklearn.cluster'`: {whole:.2f} s)."
    )
    print()
    print("| k | starts | fit | fit only: s | fit-set MSE | pipeline: mean PSNR dB | pipeline s |")
    print("|---|---|---|---|---|---|---|")
    try:
        for k in KS:
            for name, fit in contestants.items():
                timed = Timed(fit)
                cluster._kmeans_centers = timed  # type: ignore[assignment]
                start = time.perf_counter()
                psnrs = [quantize_analysis(a, QuantizeOptions(k=k)).psnr for a in analyses]
                seconds = time.perf_counter() - start - timed.bookkeeping
                if timed.calls == 0:
                    raise SystemExit(
                        "engine_vs_sklearn.py: fit_palette no longer calls cluster._kmeans_centers; "
                        "the swap had no effect -- update this script"
                    )
                finite = [p for p in psnrs if np.isfinite(p)]
                print(
                    f"| {k} | {starts(k)} | {name} | {timed.seconds:.2f} | "
                    f"{statistics.mean(timed.mse):.2f} | {statistics.mean(finite):.3f} | {seconds:.2f} |",
                    flush=True,
                )
    finally:
        cluster._kmeans_centers = original  # type: ignore[assignment]
    print()
    print(
        "Seconds are totals over the photos. Pipeline = the whole quantize_analysis (fit, polish, "
        "rounding, mapping, metrics), without this script's fit-set MSE bookkeeping. Fit-set MSE is "
        "in the fit's feature space (RGB levels squared; from k = 32 with kmimg's luma term)."
    )


if __name__ == "__main__":
    main()

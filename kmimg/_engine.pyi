"""Types of the C extension kmimg._engine (kmimg/_engine*.c, map in kmimg/_engine.h); arrays are
passed as buffers."""

from typing import Any

def nearest(
    points: Any,
    n: int,
    centers: Any,
    m: int,
    dim: int,
    labels: Any,
    best: Any,
    second: Any,
    start: int,
    stop: int,
    /,
) -> None: ...
def lloyd(
    features: Any,
    points: Any,
    n: int,
    dim: int,
    weights: Any,
    centers: Any,
    m: int,
    passes: int,
    tol: float,
    relax: float,
    margin: float,
    threads: int,
    labels: Any = None,
    up: Any = None,
    low: Any = None,
    move: Any = None,
    fixed: int = 0,
    /,
) -> int: ...
def settle(
    points: Any,
    n: int,
    dim: int,
    centers: Any,
    m: int,
    move: Any,
    labels: Any,
    up: Any,
    low: Any,
    margin: float,
    threads: int,
    /,
) -> None: ...
def cluster_sums(
    features: Any, n: int, dim: int, weights: Any, labels: Any, k: int, mass: Any, sums: Any, /
) -> None: ...
def starts(
    features: Any,
    points: Any,
    n: int,
    dim: int,
    weights: Any,
    firsts: Any,
    draws: Any,
    t: int,
    k: int,
    count: int,
    passes: int,
    tol: float,
    relax: float,
    margin: float,
    threads: int,
    centers: Any,
    distances: Any,
    fixed: int = 0,
    dense: bool = False,
    /,
) -> None: ...
def grid_cells(features: Any, n: int, dim: int, grid: int, inverse: Any, /) -> int: ...
def key_runs(keys: Any, n: int, bits: int, unique: Any, counts: Any, inverse: Any, /) -> int: ...
def uniforms(seed: int, stream: int, out: Any, count: int, /) -> None: ...
def multinomial(counts: Any, n: int, draws: int, seed: int, stream: int, out: Any, /) -> None: ...
def small_fit(
    colors: Any,
    n: int,
    channels: int,
    counts: Any,
    fixed: Any,
    m: int,
    fit_levels: Any,
    plain_levels: Any,
    unit: Any,
    stretch: float,
    unstretch: float,
    exponent: float,
    k: int,
    mapped_fit: bool,
    line_check: bool,
    inits: int,
    start_passes: int,
    dense: bool,
    refine_passes: int,
    full_passes: int,
    trials: int,
    coarse_grid: int,
    tol: float,
    relax: float,
    margin: float,
    seed: int,
    stream: int,
    palette: Any,
    labels: Any,
    out_counts: Any,
    /,
) -> int: ...

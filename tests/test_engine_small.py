"""kmimg._engine.small_fit (kmimg/_engine_small.c): a small table's whole fit in one call gives
exactly what the numpy path of kmimg.colorfit.fit_palette gives, or leaves the table to it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import pytest

import kmimg.colorfit as colorfit
from kmimg import _engine
from kmimg.colorfit import DEFAULT_SCHEDULE, FittedPalette, build_color_table, fit_palette
from kmimg.core.quantize import analyze, fit_entries
from kmimg.options import QuantizeOptions
from kmimg.types import ColorSpace

TRANSPARENT = np.zeros((1, 4), dtype=np.uint8)
T = TypeVar("T")


@pytest.fixture
def c_fits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether each call of fit_palette's C path fitted the table (True) or left it (False)."""
    taken: list[bool] = []
    inner = colorfit._small_fit

    def counted(*args: object, **kwargs: object) -> FittedPalette | None:
        found = inner(*args, **kwargs)  # type: ignore[arg-type]
        taken.append(found is not None)
        return found

    monkeypatch.setattr(colorfit, "_small_fit", counted)
    yield taken


def both(monkeypatch: pytest.MonkeyPatch, fit: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, T]:
    """``fit(*args, **kwargs)``, then the same with the C path turned off (the numpy path)."""
    got = fit(*args, **kwargs)
    with monkeypatch.context() as patched:
        patched.setattr(colorfit, "_small_fit", lambda *_, **__: None)
        return got, fit(*args, **kwargs)


def assert_same(got: FittedPalette, expected: FittedPalette) -> None:
    np.testing.assert_array_equal(got.colors, expected.colors)
    np.testing.assert_array_equal(got.labels, expected.labels)
    np.testing.assert_array_equal(got.counts, expected.counts)
    assert got.colors.dtype == expected.colors.dtype and got.labels.dtype == expected.labels.dtype
    assert got.counts.dtype == expected.counts.dtype


def random_table(
    rng: np.random.Generator, n: int, channels: int, *, levels: int = 256
) -> colorfit.ColorTable:
    """About ``n`` distinct colours (RGBA: alpha 1-255, some opaque) with counts of 1-40 pixels."""
    colors = rng.integers(0, levels, (n, channels)).astype(np.uint8) * np.uint8(256 // levels)
    if channels == 4:
        colors[:, 3] = np.where(rng.random(n) < 0.3, 255, rng.integers(1, 256, n))
    pixels = np.repeat(colors, rng.integers(1, 41, n), axis=0)
    return build_color_table(pixels)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("k", [2, 3, 8, 16, 31, 32, 64, 129, 256])
def test_small_fit_equals_the_numpy_path(
    channels: int, k: int, c_fits: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(100 * k + channels)
    for n in (k + 1, 40, 300, 700, 2500, 4000):
        if n <= k:
            continue
        table = random_table(rng, n, channels)
        fixed = TRANSPARENT if channels == 4 and n % 2 else None  # the transparent entry of an icon
        for seed in (0, 7):
            assert_same(*both(monkeypatch, fit_palette, table, k=k, seed=seed, fixed=fixed))
    assert sum(c_fits) >= len(c_fits) - 2  # the C path fitted (nearly) every table


def test_small_fit_on_coarse_cells_and_few_levels(
    c_fits: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tables of 2,049-4,096 colours start on coarse cells; colours on a few levels give equal
    distances and equal starts (ties)."""
    rng = np.random.default_rng(5)
    for channels, levels, n in ((3, 256, 3500), (4, 256, 3000), (3, 4, 60), (4, 8, 900)):
        table = random_table(rng, n, channels, levels=levels)
        for k in (4, 16, 64):
            if len(table.colors) <= k:
                continue
            assert_same(*both(monkeypatch, fit_palette, table, k=k))
    assert all(c_fits)


def test_icons_through_fit_entries(c_fits: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """Images with transparent and translucent pixels, through quantize's fit (the transparent
    entry a fixed centre of RGBA tables, beside the fitted colours of RGB ones)."""
    rng = np.random.default_rng(11)
    for case in range(6):
        rgb = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8) // np.uint8(1 + case % 3 * 30)
        alpha = np.full((32, 32), 255, dtype=np.uint8)
        alpha[:8] = 0
        if case % 2:
            alpha[8:12] = rng.integers(1, 255, (4, 32))
        analysis = analyze(rgb, alpha)
        for k in (2, 16, 64):
            got, expected = both(monkeypatch, fit_entries, analysis, QuantizeOptions(k=k, seed=case))
            for part, other in zip(got, expected, strict=True):
                np.testing.assert_array_equal(part, other)
    assert len(c_fits) == 18 and all(c_fits)


def test_tables_left_to_the_numpy_path(c_fits: list[bool]) -> None:
    """One colour, fewer colours than k, colours on a line, a fixed colour of the table, CIELAB,
    a sampled table, and too many colours: the numpy path fits them (the C call says so)."""
    rng = np.random.default_rng(3)
    one = build_color_table(np.full((50, 3), 7, dtype=np.uint8))
    assert fit_palette(one, k=16).colors.tolist() == [[7, 7, 7]]
    few = random_table(rng, 10, 4)
    assert len(fit_palette(few, k=16, fixed=TRANSPARENT).colors) == len(few.colors) + 1
    grey = build_color_table(np.repeat(np.arange(0, 256, 2, dtype=np.uint8), 3).reshape(-1, 3))
    assert len(fit_palette(grey, k=8).colors) == 8  # on a line: the exact fit
    colours = random_table(rng, 300, 3)
    keep = colours.colors[:1]
    fitted = fit_palette(colours, k=16, fixed=keep)
    assert keep[0].tolist() in fitted.colors.tolist()
    fit_palette(colours, k=16, space=ColorSpace.LAB)
    fit_palette(colours, k=16, sample=100)
    fit_palette(random_table(rng, 6000, 3), k=16)
    assert c_fits == [False] * 7


@pytest.mark.parametrize(
    "change",
    [
        dict(small_max_inits=80, max_inits=80, init_budget=100_000),
        dict(coarse_grid=5000, coarse_min_points=10),
    ],
)
def test_schedules_beyond_the_c_limits_go_to_the_numpy_path(
    c_fits: list[bool], change: dict[str, int]
) -> None:
    """A schedule changed by hand past small_fit's limits (64 starts, 4,096 cells a side) is
    fitted by the numpy path, not refused."""
    table = random_table(np.random.default_rng(5), 300, 3)
    fitted = fit_palette(table, k=2, seed=0, schedule=dataclasses.replace(DEFAULT_SCHEDULE, **change))
    assert len(fitted.colors) == 2 and c_fits == [False]


def test_small_fit_equals_the_numpy_path_at_other_gammas(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inverse gamma is C's pow, numpy's power in the numpy path (SVML on some machines):
    the same colours, or the table left to numpy where a rounding is too near a tie."""
    rng = np.random.default_rng(9)
    table = random_table(rng, 200, 3)
    for gamma in (0.5, 0.85, 1.3):
        schedule = dataclasses.replace(DEFAULT_SCHEDULE, small_k_gamma=gamma)
        assert_same(*both(monkeypatch, fit_palette, table, k=8, schedule=schedule))


def test_small_fit_refuses_bad_shapes() -> None:
    colors = np.zeros((10, 3), dtype=np.uint8)
    counts = np.ones(10, dtype=np.int64)
    levels = np.arange(256, dtype=np.float64)
    unit = np.ones(3)
    out = (np.empty((4, 3), np.uint8), np.empty(10, np.intp), np.empty(4, np.int64))
    common = (0.0, 0.0, 0.0, 4, False, False, 2, 5, True, 0, 12, 3, 0, 0.05, 1.0, 1e-3, 0, 2)
    fixed = np.zeros((0, 3), np.uint8)
    with pytest.raises(ValueError, match="bad shape"):
        _engine.small_fit(colors, 10, 5, counts, fixed, 0, levels, levels, unit, *common, *out)
    with pytest.raises(ValueError, match="bad shape"):  # k not below n
        _engine.small_fit(colors, 4, 3, counts[:4], fixed, 0, levels, levels, unit, *common, *out)
    with pytest.raises(ValueError, match="fit_levels: 2040 bytes"):
        _engine.small_fit(colors, 10, 3, counts, fixed, 0, levels[1:], levels, unit, *common, *out)
    short = (out[0], out[1][1:], out[2])
    with pytest.raises(ValueError, match="labels: 72 bytes"):
        _engine.small_fit(colors, 10, 3, counts, fixed, 0, levels, levels, unit, *common, *short)

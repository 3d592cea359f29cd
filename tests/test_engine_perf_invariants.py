"""What the speed work on the engine must not change: exactness, determinism, file format."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity
from typer.testing import CliRunner

from kmimg import metrics
from kmimg._records import frozen
from kmimg.cli import app
from kmimg.colorfit import build_color_table, fit_palette, nearest_center
from kmimg.io import encode_indexed_png
from kmimg.jobs.tasks import FileTask, ImageInput

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


def test_nearest_center_matches_brute_force(rng: np.random.Generator) -> None:
    points = rng.normal(0, 50, (3000, 4))
    centers = rng.normal(0, 50, (37, 4))
    brute = np.argmin(((points[:, None, :] - centers[None]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_array_equal(nearest_center(points, centers), brute)


def test_nearest_center_is_exact_on_8bit_colours(rng: np.random.Generator) -> None:
    colours = rng.integers(0, 256, (5000, 3)).astype(np.float64)
    palette = rng.integers(0, 256, (200, 3)).astype(np.float64)
    distances = ((colours[:, None, :] - palette[None]) ** 2).sum(axis=2)
    # argmin takes the first minimum: the lowest index on exact ties, like nearest_center.
    np.testing.assert_array_equal(nearest_center(colours, palette), np.argmin(distances, axis=1))


def test_fit_is_deterministic_and_separates_many_clusters(rng: np.random.Generator) -> None:
    from dataclasses import replace

    import kmimg.colorfit as cluster

    schedule = replace(cluster.DEFAULT_SCHEDULE, cell_min_points=1000)  # take the grid-cell path
    centers = rng.integers(20, 236, (12, 3))
    pixels = np.concatenate([np.clip(c + rng.normal(0, 3, (3000, 3)), 0, 255) for c in centers])
    table = build_color_table(pixels.astype(np.uint8))
    assert len(table.colors) > 1000
    first = fit_palette(table, k=12, seed=5, schedule=schedule)
    again = fit_palette(table, k=12, seed=5, schedule=schedule)
    np.testing.assert_array_equal(first.colors, again.colors)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert sorted(first.counts.tolist()) == [3000] * 12


def test_quantize_does_not_import_scikit_learn() -> None:
    code = (
        "import sys, numpy as np\n"
        "from kmimg.core.quantize import quantize, QuantizeOptions\n"
        "rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)\n"
        "quantize(rgb, None, QuantizeOptions(k=8))\n"
        "print('sklearn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("entries", "depth"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 4), (16, 4), (17, 8), (256, 8)]
)
def test_indexed_png_round_trips_at_the_smallest_bit_depth(
    rng: np.random.Generator, entries: int, depth: int
) -> None:
    indices = rng.integers(0, entries, (13, 29), dtype=np.uint8)  # odd width: padded last byte
    palette = np.column_stack([rng.integers(0, 256, (entries, 3)), np.full(entries, 255)]).astype(np.uint8)
    png = encode_indexed_png(indices, palette)
    assert png[24] == depth  # IHDR bit depth
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image), indices)
    assert image.getpalette()[: 3 * entries] == palette[:, :3].ravel().tolist()
    assert "transparency" not in image.info


def test_indexed_png_writes_trns_up_to_the_last_translucent_entry() -> None:
    palette = np.array([[0, 0, 0, 0], [10, 20, 30, 128], [1, 2, 3, 255]], dtype=np.uint8)
    indices = np.array([[0, 1, 2, 2]], dtype=np.uint8)
    image = Image.open(io.BytesIO(encode_indexed_png(indices, palette)))
    assert image.info["transparency"] == bytes([0, 128])
    rgba = np.asarray(image.convert("RGBA"))
    np.testing.assert_array_equal(rgba[0], palette[indices[0]])


def test_ssim_by_strips_matches_skimage_on_a_tall_image(rng: np.random.Generator) -> None:
    original = rng.integers(0, 256, (300, 41, 3), dtype=np.uint8)  # several strips
    output = np.clip(original.astype(int) + rng.integers(-25, 26, original.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(
        metrics.luma(original).astype(np.float64), metrics.luma(output).astype(np.float64), data_range=255
    )
    assert metrics.ssim(original, output) == pytest.approx(expected, abs=1e-4)


def test_ssim_indexed_equals_ssim_of_the_rendered_image(rng: np.random.Generator) -> None:
    original = rng.integers(0, 256, (260, 33, 3), dtype=np.uint8)
    palette = rng.integers(0, 256, (9, 4), dtype=np.uint8)
    indices = rng.integers(0, 9, (260, 33), dtype=np.uint8)
    rendered = palette[:, :3][indices]
    assert metrics.ssim_indexed(original, indices, palette) == metrics.ssim(original, rendered)


def test_blocked_colour_errors_equal_one_block(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = rng.integers(0, 256, (1000, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (1000, 3), dtype=np.uint8)
    weights = rng.integers(1, 50, 1000)
    whole_e, whole_mse = metrics.mean_delta_e2000(a, b, weights), metrics.weighted_mse(a, b, weights)
    monkeypatch.setattr(metrics, "_PAIR_BLOCK", 77)
    assert metrics.mean_delta_e2000(a, b, weights) == pytest.approx(whole_e, rel=1e-12)
    assert metrics.weighted_mse(a, b, weights) == pytest.approx(whole_mse, rel=1e-12)


def test_jobs_do_not_change_the_output_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("chelsea.png", "coins.png", "flower.jpg"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    runner = CliRunner()
    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        result = runner.invoke(
            app, ["quantize", str(folder), "-k", "12", "--out-dir", str(out), "--jobs", str(jobs)]
        )
        assert result.exit_code == 0, result.output
        outputs[jobs] = {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}
    assert len(outputs[1]) == 3
    assert outputs[1] == outputs[2]


def test_engine_threads_follow_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from kmimg._threads import engine_threads, ordered_map

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert engine_threads() == 3
    assert ordered_map(lambda x: x * x, range(7)) == [0, 1, 4, 9, 16, 25, 36]
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    assert 1 <= engine_threads() <= 4


@pytest.mark.parametrize("threads", ["2", "3", "4"])  # 3: starts shared unevenly between threads
def test_figures_do_not_depend_on_the_thread_count(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    import kmimg.colorfit as cluster
    from kmimg.core.quantize import QuantizeOptions, quantize

    rgb = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    monkeypatch.setattr(cluster, "_CHUNK", 4096)  # several chunks for the nearest-centre search
    monkeypatch.setattr(metrics, "_PAIR_BLOCK", 4096)
    from threadpoolctl import threadpool_limits

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with threadpool_limits(1):  # what a --jobs worker process runs with
        reference = quantize(rgb, None, QuantizeOptions(k=24))
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    again = quantize(rgb, None, QuantizeOptions(k=24))
    np.testing.assert_array_equal(again.indices, reference.indices)
    np.testing.assert_array_equal(again.palette, reference.palette)
    assert (again.psnr, again.ssim, again.delta_e) == (reference.psnr, reference.ssim, reference.delta_e)


def test_rgb_keys_packed_in_place_equal_pack_colors(rng: np.random.Generator) -> None:
    import kmimg.colorfit as cluster
    from kmimg.colorspace import pack_colors

    pixels = rng.integers(0, 256, (1000, 4), dtype=np.uint8)
    np.testing.assert_array_equal(cluster.color_keys(pixels[:, :3]), pack_colors(pixels[:, :3]))
    np.testing.assert_array_equal(cluster.color_keys(pixels[:, :3], pixels[:, 3]), pack_colors(pixels))


def test_rgba_tables_agree_on_every_path(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    import kmimg.colorfit as cluster

    pixels = rng.integers(0, 12, (20_000, 4), dtype=np.uint8) * np.uint8(21)
    radix = build_color_table(pixels)
    monkeypatch.setattr(cluster, "_RADIX_MAX_PIXELS", 1)
    argsort = build_color_table(pixels)
    monkeypatch.setattr(cluster, "_SEARCH_MAX_PIXELS", len(pixels))
    search = build_color_table(pixels)
    values = rng.permutation(len(search.colors)).astype(np.int32)
    for table in (radix, argsort):
        np.testing.assert_array_equal(table.colors, search.colors)
        np.testing.assert_array_equal(table.counts, search.counts)
        np.testing.assert_array_equal(table.spread(values), search.spread(values))


def test_large_and_small_tables_agree(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    import kmimg.colorfit as cluster

    pixels = rng.integers(0, 30, (20_000, 3), dtype=np.uint8)
    radix = build_color_table(pixels)
    monkeypatch.setattr(cluster, "_RADIX_MAX_PIXELS", 1)
    large = build_color_table(pixels)
    monkeypatch.setattr(cluster, "_SEARCH_MAX_PIXELS", len(pixels))
    small = build_color_table(pixels)
    values = rng.integers(0, 200, len(small.colors)).astype(np.uint8)
    # The small table keeps each pixel's position from its first call: later calls with other
    # values must still give every pixel its own colour's value (found colour by colour here).
    position = {tuple(color): i for i, color in enumerate(small.colors.tolist())}
    where = np.array([position[tuple(pixel)] for pixel in pixels.tolist()])
    for table in (radix, large):
        np.testing.assert_array_equal(small.colors, table.colors)
        np.testing.assert_array_equal(small.counts, table.counts)
    for given in (values, values[::-1].copy(), np.arange(len(small.colors), dtype=np.int32)):
        for table in (small, radix, large):
            np.testing.assert_array_equal(table.spread(given), given[where])
    expected = {tuple(c): n for c, n in zip(*np.unique(pixels, axis=0, return_counts=True), strict=True)}
    assert {
        tuple(c): n for c, n in zip(small.colors.tolist(), small.counts.tolist(), strict=True)
    } == expected


@frozen
class _Probe(FileTask):
    pass


def _threads_seen(task: _Probe) -> tuple[str, int]:
    from kmimg._threads import engine_threads

    return os.environ.get("OMP_NUM_THREADS", ""), engine_threads()


def test_worker_processes_share_the_cores_without_oversubscribing() -> None:
    from kmimg.cli.frame import Reporter
    from kmimg.jobs.batch import run_batch
    from kmimg.jobs.local import default_jobs, threads_per_worker

    outcome = run_batch(
        [_Probe(ImageInput("a")), _Probe(ImageInput("b")), _Probe(ImageInput("c"))],
        _threads_seen,
        listener=Reporter(quiet=True, interactive=False),
        jobs=2,
    )
    per_worker = threads_per_worker(2)
    assert per_worker * 2 <= max(2, default_jobs())
    assert outcome.results == [(str(per_worker), per_worker)] * 3


def _idat(png: bytes) -> bytes:
    """The concatenated IDAT data of a PNG."""
    import struct

    position, data = 8, b""
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        if kind == b"IDAT":
            data += png[position + 8 : position + 8 + length]
        position += 12 + length
    return data


@pytest.mark.parametrize("threads", ["2", "3"])
def test_deflate_in_pieces_is_one_valid_stream_whatever_the_threads(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    import zlib

    import kmimg.io.png as kio_png

    # Smooth-ish index data (long runs, like a quantized photo) over several pieces.
    indices = np.repeat(rng.integers(0, 200, (300, 40), dtype=np.uint8), 8, axis=1)
    palette = np.column_stack([rng.integers(0, 256, (200, 3)), np.full(200, 255)]).astype(np.uint8)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(kio_png, "MIN_DEFLATE_PIECE", 1 << 20)
    serial = encode_indexed_png(indices, palette)  # one piece: plain zlib
    monkeypatch.setattr(kio_png, "DEFLATE_PIECE", 5000)
    monkeypatch.setattr(kio_png, "MIN_DEFLATE_PIECE", 4096)
    pieces = encode_indexed_png(indices, palette)
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    assert encode_indexed_png(indices, palette) == pieces
    raw = np.column_stack([np.zeros(300, dtype=np.uint8), indices]).tobytes()
    assert zlib.decompress(_idat(pieces)) == raw  # checks the Adler-32 of the whole stream
    assert zlib.decompress(_idat(serial)) == raw
    assert len(pieces) <= len(serial) * 1.02  # each piece is primed with its predecessor's window
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(pieces))), indices)


def test_deflate_pieces_are_quarters_between_the_bounds() -> None:
    from kmimg.io.png import DEFLATE_PIECE, MIN_DEFLATE_PIECE, _piece_size

    assert _piece_size(1000) == MIN_DEFLATE_PIECE  # one piece: a plain zlib stream
    assert _piece_size(185_250) == 49_152  # a 0.37 MP photo at 4 bits: 4 pieces of 12 pages
    assert _piece_size(400_000) == 102_400
    assert _piece_size(50_000_000) == DEFLATE_PIECE


@pytest.mark.parametrize(("height", "width"), [(7, 7), (8, 13), (140, 9), (31, 300)])
def test_box_mean_equals_uniform_filter_inside_the_border(
    rng: np.random.Generator, height: int, width: int
) -> None:
    from scipy.ndimage import uniform_filter

    plane = rng.uniform(0, 255, (height, width)).astype(np.float32)
    expected = uniform_filter(plane.astype(np.float64), size=7)[3:-3, 3:-3]
    np.testing.assert_allclose(metrics._BoxMean(plane.shape, 7)(plane), expected, atol=1e-3)
    five = uniform_filter(plane.astype(np.float64), size=5)[2:-2, 2:-2]
    np.testing.assert_allclose(metrics._BoxMean(plane.shape, 5)(plane), five, atol=1e-3)


@pytest.mark.parametrize(("k", "passes"), [(16, 1), (31, 1), (32, 3)])
def test_photos_with_many_colours_get_few_full_passes(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, k: int, passes: int
) -> None:
    from dataclasses import replace

    import kmimg.colorfit as cluster

    schedule = replace(cluster.DEFAULT_SCHEDULE, many_colors=1000)  # this table counts as a large photo's
    full: list[int] = []
    original = cluster._lloyd_bounded  # the passes over every colour (they also give the bounds)

    def spy(features, weights, centers, count, *, tol=0.0, relax=1.0, fixed=0):  # type: ignore[no-untyped-def]
        if len(features) == len(table.colors):
            full.append(count)
        return original(features, weights, centers, count, tol=tol, relax=relax, fixed=fixed)

    monkeypatch.setattr(cluster, "_lloyd_bounded", spy)
    table = build_color_table(rng.integers(0, 256, (5000, 3), dtype=np.uint8))
    fitted = fit_palette(table, k=k, seed=0, schedule=schedule)
    assert full[-1] == passes  # the polish over every colour, after the fit on the sample
    assert len(fitted.colors) == k


@pytest.mark.parametrize(
    ("k", "passes", "relax"), [(16, 12, 1.0), (31, 12, 1.0), (32, 9, 2.0), (200, 9, 2.0)]
)
def test_large_palettes_get_few_over_relaxed_full_passes(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, k: int, passes: int, relax: float
) -> None:
    import kmimg.colorfit as cluster

    full: list[tuple[int, float]] = []
    original = cluster._lloyd_bounded

    def spy(features, weights, centers, count, *, tol=0.0, relax=1.0, fixed=0):  # type: ignore[no-untyped-def]
        if len(features) == len(table.colors):
            full.append((count, relax))
        return original(features, weights, centers, count, tol=tol, relax=relax, fixed=fixed)

    monkeypatch.setattr(cluster, "_lloyd_bounded", spy)
    table = build_color_table(rng.integers(0, 256, (5000, 3), dtype=np.uint8))
    fit_palette(table, k=k, seed=0)
    assert full[-1] == (passes, relax)


def _plain_lloyd(
    features: np.ndarray, weights: np.ndarray, centers: np.ndarray, passes: int, relax: float = 1.0
) -> np.ndarray:
    """Textbook weighted Lloyd with the same empty-cluster rule, a full search every pass; with
    ``relax``, every pass but the last three moves a centre ``relax`` times the way to its mean."""
    import kmimg.colorfit as cluster

    centers = centers.astype(np.float64).copy()
    for done in range(1, passes + 1):
        labels, distances = cluster._nearest_with_distance(features, centers)
        mass = np.bincount(labels, weights=weights, minlength=len(centers))
        updated = centers.copy()
        step = relax if done <= passes - 3 else 1.0
        for j in np.flatnonzero(mass > 0):
            mean = (weights[labels == j, None] * features[labels == j]).sum(axis=0) / mass[j]
            updated[j] = centers[j] + step * (mean - centers[j]) if step != 1.0 else mean
        empty = np.flatnonzero(mass == 0)
        if len(empty):
            worst = np.argsort(-(weights * distances), kind="stable")[: len(empty)]
            updated[empty[: len(worst)]] = features[worst]
        centers = updated
    return centers


@pytest.mark.parametrize(("k", "spread"), [(3, 60.0), (24, 40.0), (80, 25.0)])
def test_bounded_lloyd_passes_equal_plain_lloyd(rng: np.random.Generator, k: int, spread: float) -> None:
    import kmimg.colorfit as cluster

    features = np.clip(rng.normal(128, spread, (6000, 3)), 0, 255).round()
    weights = rng.integers(1, 20, len(features)).astype(np.float64)
    start = features[rng.choice(len(features), k, replace=False)] + rng.normal(0, 5, (k, 3))
    start[-1] = [900.0, 900.0, 900.0]  # far from everything: an empty cluster on the first pass
    ours = cluster._lloyd_passes(features, weights, start, 30)
    np.testing.assert_allclose(ours, _plain_lloyd(features, weights, start, 30), rtol=0, atol=1e-9)


@pytest.mark.parametrize(("k", "spread", "relax"), [(3, 60.0, 2.0), (24, 40.0, 1.5), (80, 25.0, 2.0)])
def test_over_relaxed_passes_equal_textbook_over_relaxation(
    rng: np.random.Generator, k: int, spread: float, relax: float
) -> None:
    """The bounds widen by the relaxed move, so skipping points stays exact."""
    import kmimg.colorfit as cluster

    features = np.clip(rng.normal(128, spread, (6000, 3)), 0, 255).round()
    weights = rng.integers(1, 20, len(features)).astype(np.float64)
    start = features[rng.choice(len(features), k, replace=False)] + rng.normal(0, 5, (k, 3))
    start[-1] = [900.0, 900.0, 900.0]  # an empty cluster on the first pass
    ours = cluster._lloyd_passes(features, weights, start, 20, relax=relax)
    reference = _plain_lloyd(features, weights, start, 20, relax=relax)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9)
    assert not np.allclose(ours, _plain_lloyd(features, weights, start, 20), atol=1e-6)  # it did relax


def test_three_passes_or_fewer_are_never_relaxed(rng: np.random.Generator) -> None:
    import kmimg.colorfit as cluster

    features = np.clip(rng.normal(128, 40, (3000, 3)), 0, 255).round()
    weights = rng.integers(1, 20, len(features)).astype(np.float64)
    start = features[rng.choice(len(features), 16, replace=False)] + 0.5
    for passes in (1, 2, 3):
        plain = cluster._lloyd_passes(features, weights, start, passes)
        np.testing.assert_array_equal(
            cluster._lloyd_passes(features, weights, start, passes, relax=2.0), plain
        )
    four = cluster._lloyd_passes(features, weights, start, 4, relax=2.0)
    assert not np.array_equal(four, cluster._lloyd_passes(features, weights, start, 4))


@pytest.mark.parametrize("relax", [0.0, -1.0, 2.5, float("nan")])
def test_engine_refuses_a_relaxation_outside_0_to_2(relax: float) -> None:
    import kmimg.colorfit as cluster

    points = np.arange(30, dtype=np.float64).reshape(10, 3)
    with pytest.raises(ValueError, match="bad shape"):
        cluster._lloyd_passes(points, np.ones(10), points[:2].copy(), 5, relax=relax)


def test_nearest_two_gives_the_runner_up(rng: np.random.Generator) -> None:
    import kmimg.colorfit as cluster

    points = rng.normal(0, 50, (3000, 4))
    centers = rng.normal(0, 50, (19, 4))
    distances = ((points[:, None, :] - centers[None]) ** 2).sum(axis=2)
    labels, best, second = cluster._nearest_two(points, centers)
    np.testing.assert_array_equal(labels, np.argmin(distances, axis=1))
    ordered = np.sort(distances, axis=1)
    np.testing.assert_allclose(best, ordered[:, 0], rtol=1e-5)
    np.testing.assert_allclose(second, ordered[:, 1], rtol=1e-5)
    one = cluster._nearest_two(points, centers[:1])
    assert np.all(np.isinf(one[2]))


def test_nested_ordered_maps_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work on the engine's threads that maps again (several PNGs encoded at once, each
    deflated in pieces) must not wait forever for the pool it runs on."""
    import threading

    from kmimg._threads import ordered_map

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    done: list[list[int]] = []

    def outer(i: int) -> list[int]:
        return ordered_map(lambda j: i * 10 + j, range(3))

    def run() -> None:
        done.append([value for part in ordered_map(outer, range(4)) for value in part])

    runner = threading.Thread(target=run)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "nested ordered_map deadlocked"
    assert done == [[0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]]

"""The pure core of `kmimg classify`: features, k-means grouping, evaluation, labels, montage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kmimg.core.classify import (
    cluster_features,
    color_histogram,
    evaluate,
    feature_image,
    histogram_bin_colors,
    image_features,
    match_labels,
    natural_key,
    parse_labels_csv,
    pixel_features,
)
from kmimg.errors import InputError
from kmimg.options import FeatureOptions, parse_size
from kmimg.render.montage import EMPTY_FRAME, ClusterRow, cluster_montage, fit_tile, flatten_alpha
from kmimg.types import FeatureKind

# ----------------------------------------------------------------------------- features


def test_parse_size() -> None:
    assert parse_size("8x8") == (8, 8)
    assert parse_size("16X4") == (16, 4)
    assert parse_size(" 12 ") == (12, 12)
    for bad in ("", "8x", "x8", "0x8", "8x300", "eight", "8x8x8", "-1x3"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_feature_options_validate_and_describe() -> None:
    assert FeatureOptions().length == 64
    assert FeatureOptions(size=(4, 2), color=True).length == 24
    assert FeatureOptions(kind=FeatureKind.HISTOGRAM, bins=3).length == 27
    assert FeatureOptions().describe() == "8x8 grey pixels"
    assert "histogram" in FeatureOptions(kind=FeatureKind.HISTOGRAM).describe()
    with pytest.raises(ValueError):
        FeatureOptions(size=(0, 8))
    with pytest.raises(ValueError):
        FeatureOptions(bins=1)


def test_pixel_features_same_size_is_the_image_scaled_to_unit() -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    rgb = np.repeat(grey[..., None], 3, axis=2)
    features = pixel_features(rgb, None, size=(8, 8))
    # Rows flattened in order, as the seed's digits.data; grey luma of R=G=B is that value.
    np.testing.assert_allclose(features, grey.reshape(-1) / 255.0, atol=1e-12)


def test_pixel_features_area_average_and_colour_layout() -> None:
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2, :2] = (255, 0, 0)  # top-left quarter red
    rgb[2:, 2:] = (0, 0, 255)  # bottom-right quarter blue
    colour = pixel_features(rgb, None, size=(2, 2), color=True).reshape(2, 2, 3)
    np.testing.assert_allclose(colour[0, 0], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(colour[1, 1], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(colour[0, 1], [0, 0, 0], atol=1e-6)
    grey = pixel_features(rgb, None, size=(1, 1))
    np.testing.assert_allclose(grey, [(0.299 + 0.114) / 4], atol=1e-6)


def test_pixel_features_composite_transparency_over_black() -> None:
    rgb = np.full((2, 2, 3), 200, dtype=np.uint8)
    alpha = np.array([[255, 0], [0, 255]], dtype=np.uint8)
    features = pixel_features(rgb, alpha, size=(2, 2))
    np.testing.assert_allclose(features, [200 / 255, 0, 0, 200 / 255], atol=1e-9)


def test_color_histogram_is_unit_length_hellinger() -> None:
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 255, 255)
    hist = color_histogram(rgb, None, bins=2)
    assert hist.shape == (8,)
    np.testing.assert_allclose(hist[0], np.sqrt(0.75))
    np.testing.assert_allclose(hist[7], np.sqrt(0.25))
    np.testing.assert_allclose(np.linalg.norm(hist), 1.0)


def test_color_histogram_weights_by_alpha_and_refuses_invisible() -> None:
    rgb = np.zeros((1, 2, 3), dtype=np.uint8)
    rgb[0, 1] = (255, 0, 0)
    alpha = np.array([[0, 255]], dtype=np.uint8)
    hist = color_histogram(rgb, alpha, bins=2)
    assert hist[0b100] == pytest.approx(1.0)  # red bin only: the black pixel is invisible
    with pytest.raises(InputError, match="transparent"):
        color_histogram(rgb, np.zeros((1, 2), dtype=np.uint8), bins=2)


def test_bin_colors_match_histogram_order() -> None:
    colors = histogram_bin_colors(4)
    hist = color_histogram(colors.reshape(-1, 1, 3), None, bins=4)
    np.testing.assert_allclose(hist, np.full(64, np.sqrt(1 / 64)))
    assert tuple(colors[0]) == (32, 32, 32)


@settings(max_examples=40, deadline=None)
@given(
    image=arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 20), st.just(3))),
    width=st.integers(1, 12),
    height=st.integers(1, 12),
    color=st.booleans(),
)
def test_pixel_features_shape_and_range(image: np.ndarray, width: int, height: int, color: bool) -> None:
    options = FeatureOptions(size=(width, height), color=color)
    features = image_features(image, None, options)
    assert features.shape == (options.length,)
    assert features.min() >= -1e-6
    assert features.max() <= 1 + 1e-6
    drawn = feature_image(features, options)
    assert drawn.shape == (height, width, 3)


@settings(max_examples=40, deadline=None)
@given(
    image=arrays(np.uint8, st.tuples(st.integers(1, 16), st.integers(1, 16), st.just(3))),
    bins=st.integers(2, 6),
)
def test_histogram_properties(image: np.ndarray, bins: int) -> None:
    options = FeatureOptions(kind=FeatureKind.HISTOGRAM, bins=bins)
    hist = image_features(image, None, options)
    assert hist.shape == (bins**3,)
    assert (hist >= 0).all()
    assert np.sum(hist**2) == pytest.approx(1.0)
    assert feature_image(hist, options).shape == (64, 64, 3)


# ----------------------------------------------------------------------------- clustering


def blobs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated groups of 30, 20 and 10 points in 5 dimensions."""
    centres = np.array([[0.0] * 5, [5.0] * 5, [0.0, 10.0, 0.0, 10.0, 0.0]])
    truth = np.repeat([0, 1, 2], [30, 20, 10])
    points = centres[truth] + rng.normal(0, 0.3, (60, 5))
    order = rng.permutation(60)
    return points[order], truth[order]


def test_cluster_features_finds_blobs_numbered_by_size(rng: np.random.Generator) -> None:
    points, truth = blobs(rng)
    result = cluster_features(points, k=3, seed=0)
    assert result.sizes.tolist() == [30, 20, 10]
    # Cluster numbers are size ranks, whatever k-means called them internally.
    np.testing.assert_array_equal(result.labels, truth)
    expected = np.linalg.norm(points - result.centers[result.labels], axis=1)
    np.testing.assert_allclose(result.distances, expected, atol=1e-9)
    assert result.inertia == pytest.approx(float((expected**2).sum()))
    assert result.distinct == 60
    nearest = result.members(2, 3)
    assert len(nearest) == 3
    assert all(result.labels[i] == 2 for i in nearest)
    assert result.distances[nearest].tolist() == sorted(result.distances[nearest].tolist())


def test_cluster_features_is_deterministic_and_seeded(rng: np.random.Generator) -> None:
    points = rng.random((200, 8))
    first = cluster_features(points, k=6, seed=3, n_init=3)
    again = cluster_features(points.copy(), k=6, seed=3, n_init=3)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.distances, again.distances)
    np.testing.assert_array_equal(first.centers, again.centers)
    other = cluster_features(points, k=6, seed=4, n_init=1)
    assert other.labels.shape == first.labels.shape


def test_standardize_keeps_centres_in_feature_units(rng: np.random.Generator) -> None:
    points, _ = blobs(rng)
    points[:, 0] *= 1000.0  # a feature on a much larger scale
    points[:, 4] = 7.0  # a feature that never varies
    result = cluster_features(points, k=3, seed=0, standardize=True)
    for cluster in range(3):
        inside = points[result.labels == cluster]
        np.testing.assert_allclose(result.centers[cluster], inside.mean(axis=0), rtol=1e-6, atol=1e-6)
    assert np.isfinite(result.distances).all()


def test_fewer_distinct_vectors_than_k_leaves_empty_clusters() -> None:
    points = np.array([[0.0, 0.0]] * 4 + [[1.0, 1.0]] * 3)
    result = cluster_features(points, k=3, seed=0)  # no ConvergenceWarning escapes (filterwarnings=error)
    assert result.distinct == 2
    assert result.sizes.tolist() == [4, 3, 0]


def test_cluster_features_rejects_bad_arguments() -> None:
    points = np.zeros((3, 2))
    with pytest.raises(ValueError, match="k=4"):
        cluster_features(points, k=4)
    with pytest.raises(ValueError):
        cluster_features(points, k=0)
    with pytest.raises(ValueError):
        cluster_features(points, k=2, n_init=0)
    with pytest.raises(ValueError):
        cluster_features(np.array([[np.nan, 0.0], [0.0, 0.0]]), k=1)


# ----------------------------------------------------------------------------- evaluation


def test_evaluate_perfect_and_permuted() -> None:
    clusters = [0, 0, 1, 1, 2, 2]
    truth = ["b", "b", "c", "c", "a", "a"]
    result = evaluate(clusters, truth)
    assert result.accuracy == 1.0
    assert result.adjusted_rand_index == pytest.approx(1.0)
    assert result.normalized_mutual_information == pytest.approx(1.0)
    assert result.mapping == {0: "b", 1: "c", 2: "a"}
    assert result.classes == 3


def test_evaluate_majority_mapping_like_the_seed() -> None:
    clusters = [0, 0, 0, 1, 1, 1, 1]
    truth = ["3", "3", "5", "5", "5", "3", "10"]
    result = evaluate(clusters, truth)
    assert result.mapping == {0: "3", 1: "5"}
    assert result.majority == {0: 2, 1: 2}
    assert result.accuracy == pytest.approx(4 / 7)
    tie = evaluate([0, 0], ["10", "2"])
    assert tie.mapping == {0: "2"}  # ties go to the smallest label in natural order
    assert natural_key("2") < natural_key("10")


def test_evaluate_one_cluster_for_everything() -> None:
    result = evaluate([0, 0, 0, 0], ["x", "x", "y", "z"])
    assert result.accuracy == 0.5
    assert result.adjusted_rand_index == pytest.approx(0.0)
    assert result.normalized_mutual_information == pytest.approx(0.0)
    with pytest.raises(ValueError):
        evaluate([], [])


# ----------------------------------------------------------------------------- labels file


def test_parse_labels_csv() -> None:
    assert parse_labels_csv("file,label\na.png,3\n\n b.png , cat \n") == [("a.png", "3"), ("b.png", "cat")]
    assert parse_labels_csv("a.png,1\n") == [("a.png", "1")]
    with pytest.raises(InputError, match="line 2"):
        parse_labels_csv("a.png,1\nonly-one-column\n")
    with pytest.raises(InputError):
        parse_labels_csv("file,label\n")


def test_match_labels_by_path_and_by_unique_name(tmp_path: Path) -> None:
    inputs = [str(tmp_path / "set" / "a.png"), str(tmp_path / "set" / "b.png"), "other/a.png", "c.png"]
    rows = [("set/a.png", "1"), ("b.png", "2"), ("c.png", "3"), ("missing.png", "4"), ("x/c.png", "9")]
    found = match_labels(rows, base=tmp_path, inputs=inputs)
    # set/a.png by path; b.png and c.png by their unique names; x/c.png is not c.png.
    assert found == {0: "1", 1: "2", 3: "3"}
    ambiguous = match_labels([("a.png", "7")], base=tmp_path / "nowhere", inputs=inputs)
    assert ambiguous == {}
    with pytest.raises(InputError, match="two labels"):
        match_labels([("c.png", "1"), ("c.png", "2")], base=tmp_path, inputs=inputs)


# ----------------------------------------------------------------------------- montage


def test_feature_image_round_trips_pixels() -> None:
    options = FeatureOptions(size=(3, 2), color=True)
    rgb = np.arange(18, dtype=np.uint8).reshape(2, 3, 3) * 10
    drawn = feature_image(pixel_features(rgb, None, size=(3, 2), color=True), options)
    np.testing.assert_array_equal(drawn, rgb)


def test_montage_layouts() -> None:
    centre = np.zeros((8, 8, 3), dtype=np.uint8)
    centre[2:6, 3:5] = 255
    member = np.full((30, 60, 3), 128, dtype=np.uint8)
    grid = cluster_montage([ClusterRow(centre, (), ("cluster 0",))] * 7, thumb=32, title="t")
    with_members = cluster_montage([ClusterRow(centre, (member, member), ("cluster 0",))] * 3, thumb=32)
    assert grid.dtype == np.uint8
    assert grid.ndim == 3
    assert grid.shape[2] == 3
    assert grid.shape[1] > 5 * 32 > grid.shape[0] / 2  # 5 centres per line, 2 lines
    assert with_members.shape[0] > 3 * 32
    assert with_members.shape[1] >= 3 * 32
    # The enlarged centre keeps crisp pixels: only black and white inside.
    tile = np.asarray(fit_tile(centre, 32))
    assert tile.shape == (32, 32, 3)
    assert set(np.unique(tile).tolist()) == {0, 255}
    assert np.asarray(fit_tile(member, 32)).shape == (16, 32, 3)
    with pytest.raises(ValueError):
        cluster_montage([])


def count_color(image: np.ndarray, color: tuple[int, int, int]) -> int:
    return int((image == np.array(color, dtype=np.uint8)).all(axis=2).sum())


@pytest.mark.parametrize("members", [0, 2])
def test_an_empty_cluster_is_an_empty_frame_not_a_centre(members: int) -> None:
    red = (230, 20, 20)
    centre = np.full((8, 8, 3), red, dtype=np.uint8)
    member = np.full((8, 8, 3), (20, 20, 230), dtype=np.uint8)
    full = ClusterRow(centre, (member,) * members, ("cluster 0", "2 images"))
    empty = ClusterRow(None, (), ("cluster 1", "0 images"))
    alone = cluster_montage([full], thumb=32)
    both = cluster_montage([full, empty], thumb=32)
    assert count_color(alone, red) == count_color(both, red) == 32 * 32  # one centre drawn
    assert count_color(alone, EMPTY_FRAME) == 0
    assert count_color(both, EMPTY_FRAME) == 4 * 32 - 4  # the outline of one 32-pixel square
    assert both.size > alone.size  # the empty cluster keeps its place, captioned
    assert cluster_montage([empty], thumb=32).shape[0] > 32


def test_flatten_alpha_over_black() -> None:
    rgb = np.full((1, 2, 3), 200, dtype=np.uint8)
    out = flatten_alpha(rgb, np.array([[255, 0]], dtype=np.uint8))
    assert out[0, 0].tolist() == [200, 200, 200]
    assert out[0, 1].tolist() == [0, 0, 0]


@settings(max_examples=30, deadline=None)
@given(
    points=arrays(np.float64, st.tuples(st.integers(2, 30), st.integers(1, 4)), elements=st.floats(-10, 10)),
    k=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_clustering_properties(points: np.ndarray, k: int, seed: int) -> None:
    k = min(k, len(points))
    result = cluster_features(points, k=k, seed=seed, n_init=2)
    assert result.labels.shape == (len(points),)
    assert set(result.labels.tolist()) <= set(range(k))
    assert int(result.sizes.sum()) == len(points)
    assert (np.diff(result.sizes) <= 0).all()  # numbered by decreasing size
    assert (result.distances >= 0).all()
    assert result.centers.shape == (k, points.shape[1])


@settings(max_examples=50, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 4), st.sampled_from("abc")), min_size=1, max_size=40))
def test_evaluation_properties(pairs: list[tuple[int, str]]) -> None:
    clusters = [c for c, _ in pairs]
    truth = [t for _, t in pairs]
    result = evaluate(clusters, truth)
    most_common = max(truth.count(label) for label in set(truth))
    # Mapping each cluster to its majority can only beat calling everything the commonest label.
    assert most_common / len(truth) - 1e-12 <= result.accuracy <= 1.0
    assert -1.0 <= result.adjusted_rand_index <= 1.0 + 1e-9
    assert -1e-9 <= result.normalized_mutual_information <= 1.0 + 1e-9
    assert sum(result.majority.values()) == round(result.accuracy * len(truth))


def test_labels_csv_with_a_third_column_is_refused() -> None:
    import pytest

    from kmimg.core.classify import parse_labels_csv
    from kmimg.errors import InputError

    with pytest.raises(InputError, match="line 2"):
        parse_labels_csv("file,label\na.png,3,extra\n")


# ----------------------------------------------------------------------------- in batches


def _blobs(rng: np.random.Generator, per: int = 60) -> np.ndarray:
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 5.0, 5.0]])
    return np.concatenate([c + rng.normal(0, 0.4, (per, 3)) for c in centres])


def test_batches_read_at_most_batch_size_vectors_at_a_time_and_find_the_blobs() -> None:
    from kmimg.core.classify import cluster_features, cluster_in_batches

    data = _blobs(np.random.default_rng(3))
    largest = []

    def rows(indices: np.ndarray) -> np.ndarray:
        assert np.all(np.diff(indices) > 0)
        largest.append(len(indices))
        return data[indices]

    streamed = cluster_in_batches(rows, len(data), k=3, batch_size=25, seed=1)
    assert max(largest) <= 25
    whole = cluster_features(data, k=3, seed=1)
    assert np.array_equal(streamed.labels, whole.labels)  # numbered by size, ties by first member
    assert np.allclose(streamed.centers, whole.centers, atol=0.2)
    assert streamed.distinct == 3
    again = cluster_in_batches(rows, len(data), k=3, batch_size=25, seed=1)
    assert np.array_equal(again.distances, streamed.distances)


def test_batches_standardize_and_count_distinct_vectors_up_to_k() -> None:
    from kmimg.core.classify import cluster_in_batches

    data = np.repeat(np.array([[0.0, 10.0], [1.0, 30.0]]), 10, axis=0)
    grouping = cluster_in_batches(lambda i: data[i], len(data), k=3, batch_size=4, standardize=True)
    assert grouping.distinct == 2
    assert sorted(grouping.sizes.tolist()) == [0, 10, 10]
    assert np.allclose(sorted(grouping.centers[grouping.sizes > 0][:, 1]), [10.0, 30.0])
    with pytest.raises(ValueError, match="batch_size must be at least k"):
        cluster_in_batches(lambda i: data[i], len(data), k=3, batch_size=2)


def test_the_spill_file_gives_back_rows_put_in_any_order(tmp_path: Path) -> None:
    from kmimg.io.spill import RowSpill

    rows = np.arange(40, dtype=np.float64).reshape(10, 4)
    with RowSpill(4, folder=str(tmp_path)) as spill:
        for index in (3, 0, 9, 1, 2, 5, 4, 7, 6, 8):
            spill.put(index, rows[index])
        assert np.array_equal(spill.rows(np.array([0, 1, 2, 5, 7, 8])), rows[[0, 1, 2, 5, 7, 8]])
        assert list(tmp_path.iterdir()) == []  # no name on disk: gone however the process ends
    with RowSpill(4) as spill:
        spill.put(0, rows[0])
        with pytest.raises(ValueError, match="row 3 was never stored"):
            spill.rows(np.array([3]))

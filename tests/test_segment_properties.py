"""Property tests of segmentation over small random images (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kmimg.core.segment import SegmentOptions, cutout_image, mask_image, segment
from kmimg.types import ColorSpace

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = st.tuples(st.integers(1, 20), st.integers(1, 20))
images = shapes.flatmap(lambda s: arrays(np.uint8, (s[0], s[1], 3)))
options = st.builds(
    SegmentOptions,
    k=st.integers(2, 6),
    sigma=st.sampled_from([0.0, 1.0, 2.0]),
    max_side=st.sampled_from([0, 8, 256]),
    spatial=st.sampled_from([0.0, 0.5]),
    space=st.sampled_from(list(ColorSpace)),
    flatten=st.sampled_from([0.0, 0.2]),
    min_region=st.sampled_from([0, 4]),
    seed=st.integers(0, 1000),
)


@SETTINGS
@given(image=images, opts=options)
def test_labels_partition_the_image_in_count_order(image: np.ndarray, opts: SegmentOptions) -> None:
    result = segment(image, opts)
    assert result.labels.shape == image.shape[:2]
    assert int(result.labels.max()) < opts.k
    masks = np.stack([mask_image(result, i) for i in range(opts.k)])
    assert (masks.astype(np.int64).sum(axis=0) == 255).all()  # every pixel in exactly one mask
    pixels = [c.pixels for c in result.clusters]
    assert pixels == sorted(pixels, reverse=True)
    assert sum(pixels) == image.shape[0] * image.shape[1]
    assert 1 <= len(result.background) < opts.k
    assert cutout_image(image, None, result).shape == (*image.shape[:2], 4)


@SETTINGS
@given(image=images, opts=options)
def test_same_options_same_labels(image: np.ndarray, opts: SegmentOptions) -> None:
    assert np.array_equal(segment(image, opts).labels, segment(image.copy(), opts).labels)


@SETTINGS
@given(image=images, min_region=st.integers(2, 12))
def test_after_clean_up_no_region_is_smaller_than_min_region(image: np.ndarray, min_region: int) -> None:
    result = segment(image, SegmentOptions(k=3, sigma=0, min_region=min_region))
    from skimage.measure import label

    regions = label(result.labels.astype(np.int16), background=-1, connectivity=2)
    sizes = np.bincount(regions.ravel())[1:]
    # Merging can only join regions, so each is at least min_region unless one region remains.
    assert len(sizes) == 1 or sizes.min() >= min_region
    assert sum(c.regions for c in result.clusters) == len(sizes)
    # The clean-up really ran: every small region of the raw labels was merged (the largest is
    # kept when all are small), and at most their pixels changed.
    raw = segment(image, SegmentOptions(k=3, sigma=0)).labels
    raw_sizes = np.bincount(label(raw.astype(np.int16), background=-1, connectivity=2).ravel())[1:]
    small = raw_sizes < min_region
    expected = int(small.sum()) - int(bool(small.all()))
    assert result.regions_merged == expected
    assert result.pixels_changed <= int(raw_sizes[small].sum())

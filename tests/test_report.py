"""The pure core of `compress-report`: the k sweep, its measures and the recommendation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kmimg.core.quantize
from kmimg import metrics
from kmimg.cli.documents import aggregate_fields, report_fields, target_fields
from kmimg.core.quantize import QuantizeOptions, quantize
from kmimg.core.report import (
    DEFAULT_TARGET,
    Aggregate,
    CompressReport,
    KResult,
    Metric,
    Target,
    aggregate,
    compress_report,
    human_bytes,
    recommend,
)
from kmimg.io import encode_indexed_png, load_image
from kmimg.io.png import reference_png_bytes
from kmimg.options import parse_ks
from kmimg.types import ColorSpace


def step(k: int, *, psnr: float = 30.0, ssim: float = 0.9, delta_e: float = 3.0, size: int = 1000) -> KResult:
    return KResult(
        k=k,
        colors_used=k,
        png_bytes=size,
        bits_per_pixel=1.0,
        ratio_vs_input=1.0,
        ratio_vs_png24=1.0,
        psnr=psnr,
        ssim=ssim,
        delta_e=delta_e,
        seconds=0.0,
        meets_target=False,
    )


# ----------------------------------------------------------------------------- parse_ks


def test_parse_ks_sorts_and_drops_duplicates() -> None:
    assert parse_ks("16, 4,4,256 ,2") == (2, 4, 16, 256)


@pytest.mark.parametrize("text", ["", " , ", "1", "257", "8,x", "4.5", "-4"])
def test_parse_ks_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ks(text)


# ----------------------------------------------------------------------------- targets


def test_target_directions() -> None:
    good = step(8, psnr=35.0, ssim=0.96, delta_e=1.5)
    bad = step(8, psnr=25.0, ssim=0.80, delta_e=6.0)
    for target in (Target(Metric.PSNR, 32), Target(Metric.SSIM, 0.95), Target(Metric.DELTA_E, 2.0)):
        assert target.met_by(good)
        assert not target.met_by(bad)


def test_target_is_inclusive_and_lossless_meets_any_psnr() -> None:
    assert Target(Metric.PSNR, 30.0).met_by(step(4, psnr=30.0))
    assert Target(Metric.DELTA_E, 3.0).met_by(step(4, delta_e=3.0))
    assert Target(Metric.PSNR, 99.0).met_by(step(4, psnr=math.inf))


@pytest.mark.parametrize(
    ("metric", "value"),
    [(Metric.SSIM, 1.5), (Metric.PSNR, -1.0), (Metric.DELTA_E, -0.1), (Metric.PSNR, math.nan)],
)
def test_target_rejects_impossible_values(metric: Metric, value: float) -> None:
    with pytest.raises(ValueError):
        Target(metric, value)


def test_target_wording() -> None:
    assert DEFAULT_TARGET.describe() == "PSNR ≥ 32 dB"
    assert Target(Metric.DELTA_E, 2.5).describe(ascii_only=True) == "mean dE2000 <= 2.5"
    assert target_fields(Target(Metric.SSIM, 0.95)) == {"metric": "ssim", "op": ">=", "value": 0.95}


# ----------------------------------------------------------------------------- recommend


def test_recommend_is_the_smallest_k_meeting_even_when_quality_is_not_monotonic() -> None:
    steps = [step(4, psnr=25), step(8, psnr=33), step(16, psnr=31), step(32, psnr=34)]
    assert recommend(steps, [Target(Metric.PSNR, 32)]) == 8
    assert recommend(steps, [Target(Metric.PSNR, 33.5)]) == 32
    assert recommend(steps, [Target(Metric.PSNR, 40)]) is None


def test_recommend_with_several_targets_needs_all() -> None:
    steps = [step(4, psnr=33, delta_e=5), step(8, psnr=34, delta_e=2.5), step(16, psnr=36, delta_e=1.5)]
    assert recommend(steps, [Target(Metric.PSNR, 32), Target(Metric.DELTA_E, 2.0)]) == 16


# ----------------------------------------------------------------------------- the sweep


@pytest.fixture
def photo_report(noisy_rgb: np.ndarray) -> CompressReport:
    return compress_report(noisy_rgb, input_bytes=5000, ks=(16, 2, 4, 4), targets=(Target(Metric.PSNR, 20),))


def test_sweep_is_ascending_and_measures_agree(noisy_rgb: np.ndarray, photo_report: CompressReport) -> None:
    report = photo_report
    assert [s.k for s in report.steps if not s.searched] == [2, 4, 16]
    assert [s.k for s in report.steps if s.searched] == [report.recommended_k]  # found by the search
    assert (report.width, report.height) == (40, 30)
    assert report.png24_bytes == reference_png_bytes(noisy_rgb)
    for s in report.steps:
        png = report.pngs[s.k]
        assert s.png_bytes == len(png)
        assert s.bits_per_pixel == pytest.approx(8 * len(png) / (40 * 30))
        assert s.ratio_vs_input == pytest.approx(5000 / len(png))
        assert s.ratio_vs_png24 == pytest.approx(report.png24_bytes / len(png))
        decoded = load_image("k", data=png)
        assert s.psnr == pytest.approx(metrics.psnr(noisy_rgb, decoded.rgb), abs=1e-9)
        assert s.ssim == pytest.approx(metrics.ssim(noisy_rgb, decoded.rgb), abs=1e-9)
        assert s.delta_e == pytest.approx(metrics.delta_e2000_images(noisy_rgb, decoded.rgb), abs=1e-6)
        assert s.colors_used <= s.k
        assert s.meets_target == (s.psnr >= 20)
    assert report.recommended_k == recommend(report.steps, report.targets)


def test_png_at_each_k_is_byte_identical_to_quantize(noisy_rgb: np.ndarray) -> None:
    report = compress_report(noisy_rgb, input_bytes=1, ks=(3, 8), seed=5, space=ColorSpace.LAB)
    for k in (3, 8):
        alone = quantize(noisy_rgb, None, QuantizeOptions(k=k, seed=5, space=ColorSpace.LAB))
        assert report.pngs[k] == encode_indexed_png(alone.indices, alone.palette, reorder=True)


def test_histogram_is_built_once_for_all_ks(noisy_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = kmimg.core.quantize.analyze

    def counting(*args: object, **kwargs: object) -> kmimg.core.quantize.Analysis:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kmimg.core.quantize, "analyze", counting)
    compress_report(noisy_rgb, input_bytes=1, ks=(2, 4, 8, 16))
    assert len(calls) == 1


def test_sweep_is_deterministic(noisy_rgb: np.ndarray) -> None:
    a = compress_report(noisy_rgb, input_bytes=1, ks=(4, 8), seed=3)
    b = compress_report(noisy_rgb, input_bytes=1, ks=(4, 8), seed=3)
    assert dict(a.pngs) == dict(b.pngs)
    assert [replace(s, seconds=0) for s in a.steps] == [replace(s, seconds=0) for s in b.steps]


def test_few_colours_are_lossless_and_reported_as_null_psnr() -> None:
    rgb = np.zeros((10, 12, 3), dtype=np.uint8)
    rgb[:, 4:8] = (200, 10, 10)
    rgb[:, 8:] = (10, 10, 200)
    report = compress_report(rgb, input_bytes=100, ks=(2, 4), targets=(Target(Metric.PSNR, 60),))
    two, three, four = report.steps
    assert math.isfinite(two.psnr) and not two.meets_target
    assert math.isinf(four.psnr) and four.colors_used == 3 and four.meets_target
    assert three.searched and math.isinf(three.psnr) and three.meets_target  # the search's: 3 colours
    assert report.recommended_k == 3
    fields = report_fields(report)
    assert fields["ks"][2]["psnr"] is None and fields["ks"][1]["searched"] is True
    assert fields["recommended_k"] == 3 and fields["target_met"] is True


def test_no_k_meets_an_impossible_target(noisy_rgb: np.ndarray) -> None:
    report = compress_report(noisy_rgb, input_bytes=1, ks=(2, 4), targets=(Target(Metric.SSIM, 1.0),))
    assert report.recommended_k is None and report.recommended is None
    assert report_fields(report)["target_met"] is False
    assert report_fields(report)["recommended_png_bytes"] is None


def test_alpha_uses_an_rgba_truecolour_reference(noisy_rgb: np.ndarray) -> None:
    alpha = np.full(noisy_rgb.shape[:2], 255, dtype=np.uint8)
    alpha[:, :10] = 0
    rgb = noisy_rgb.copy()
    rgb[alpha == 0] = 0
    report = compress_report(rgb, alpha, input_bytes=1, ks=(4,))
    assert report.png24_bytes == reference_png_bytes(np.dstack([rgb, alpha]))
    assert load_image("k", data=report.pngs[4]).alpha is not None


def test_without_pngs_keeps_the_numbers(photo_report: CompressReport) -> None:
    small = photo_report.without_pngs()
    assert not small.pngs
    assert small.steps == photo_report.steps
    assert report_fields(small) == report_fields(photo_report)


def test_progress_reports_each_k(noisy_rgb: np.ndarray) -> None:
    seen: list[int] = []
    compress_report(noisy_rgb, input_bytes=1, ks=(8, 2), progress=seen.append)
    assert seen == [2, 8]


def test_empty_ks_or_targets_are_refused(noisy_rgb: np.ndarray) -> None:
    with pytest.raises(ValueError):
        compress_report(noisy_rgb, input_bytes=1, ks=())
    with pytest.raises(ValueError):
        compress_report(noisy_rgb, input_bytes=1, targets=())


# ----------------------------------------------------------------------------- aggregate


def test_aggregate_counts_savings_only_where_a_k_is_recommended(photo_report: CompressReport) -> None:
    unmet = replace(photo_report, recommended_k=None)
    total = aggregate([photo_report, unmet])
    best = photo_report.recommended
    assert best is not None
    assert total == Aggregate(
        images=2,
        recommended=1,
        input_bytes=10_000,
        png24_bytes=2 * photo_report.png24_bytes,
        recommended_bytes=best.png_bytes,
        saved_vs_input=5000 - best.png_bytes,
        saved_vs_png24=photo_report.png24_bytes - best.png_bytes,
    )
    assert aggregate_fields(total)["images_meeting_target"] == 1


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (30_624, "30.6 kB"),
        (2_500_000, "2.5 MB"),
        (7 * 10**9, "7.0 GB"),
    ],
)
def test_human_bytes(count: int, text: str) -> None:
    assert human_bytes(count) == text


# ----------------------------------------------------------------------------- properties


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pixels=st.integers(0, 2**32 - 1),
    ks=st.sets(st.sampled_from([2, 3, 4, 6, 8, 12]), min_size=1, max_size=4),
    target=st.floats(10.0, 50.0),
)
def test_recommendation_is_the_smallest_k_meeting_the_target(
    pixels: int, ks: set[int], target: float
) -> None:
    rgb = np.random.default_rng(pixels).integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    rgb[::2] //= 64  # a few repeated colours so that some ks are lossless
    report = compress_report(rgb, input_bytes=1, ks=sorted(ks), targets=(Target(Metric.PSNR, target),))
    meeting = [s.k for s in report.steps if s.psnr >= target]
    assert report.recommended_k == (min(meeting) if meeting else None)
    assert [s.k for s in report.steps if not s.searched] == sorted(ks)
    assert all(s.colors_used <= s.k and s.meets_target == (s.k in meeting) for s in report.steps)
    searched = [s for s in report.steps if s.searched]  # at most one: the search's k, which meets
    assert len(searched) <= 1 and all(s.meets_target and s.k not in ks for s in searched)

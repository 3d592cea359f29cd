"""The pictures of `compress-report`: the contact sheet and the self-contained HTML page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pytest

from kmimg.core.report import CompressReport, Metric, Target, aggregate, compress_report
from kmimg.io import encode_png
from kmimg.render.html import HtmlEntry, quality_chart, render_html
from kmimg.render.sheet import Tile, contact_sheet, report_sheet

SVG = "{http://www.w3.org/2000/svg}"
GREEN = (0, 128, 64)


@pytest.fixture
def report(noisy_rgb: np.ndarray) -> CompressReport:
    return compress_report(noisy_rgb, input_bytes=4000, ks=(2, 4, 8, 16), targets=(Target(Metric.PSNR, 19),))


def chart_points(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)  # the chart must be well-formed XML to render inline
    return [c for c in root.iter(f"{SVG}circle") if "point" in c.get("class", "").split()]


# ----------------------------------------------------------------------------- contact sheet


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (20, 30)) -> np.ndarray:
    return np.broadcast_to(np.array(colour, dtype=np.uint8), (*size, 3)).copy()


def test_sheet_grid_holds_every_tile_and_frames_the_highlight() -> None:
    colours = [(255, 0, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
    tiles = [
        Tile(solid(c), None, (f"tile {i}", "second line"), highlight=i == 3) for i, c in enumerate(colours)
    ]
    sheet = contact_sheet(tiles, thumb=60, title="five tiles")
    assert sheet.dtype == np.uint8 and sheet.ndim == 3 and sheet.shape[2] == 3
    flat = sheet.reshape(-1, 3)
    for colour in colours:
        assert (flat == colour).all(axis=1).sum() >= 30 * 20  # each thumbnail is there, at least 1:1
    assert (flat == GREEN).all(axis=1).any()
    # ceil(sqrt(5)) = 3 columns, 2 rows: wider than two thumbnails, shorter than three rows
    assert 3 * 60 <= sheet.shape[1] < 4 * 60
    assert 2 * 40 <= sheet.shape[0] < 3 * (40 + 60)


def test_sheet_without_highlight_has_no_frame() -> None:
    sheet = contact_sheet([Tile(solid((9, 9, 9)), None, ("a",))], thumb=32)
    assert not (sheet.reshape(-1, 3) == GREEN).all(axis=1).any()


def test_large_images_are_shrunk_to_the_thumb_size() -> None:
    sheet = contact_sheet([Tile(solid((250, 0, 0), (400, 800)), None, ("big",))], thumb=100)
    reds = np.argwhere((sheet == (250, 0, 0)).all(axis=2))
    height, width = reds.max(axis=0) - reds.min(axis=0) + 1
    assert (height, width) == (50, 100)


def test_transparency_shows_a_checkerboard() -> None:
    alpha = np.zeros((32, 32), dtype=np.uint8)
    sheet = contact_sheet([Tile(solid((255, 0, 0), (32, 32)), alpha, ("clear",))], thumb=32)
    flat = sheet.reshape(-1, 3)
    assert not (flat == (255, 0, 0)).all(axis=1).any()
    assert (flat == (204, 204, 204)).all(axis=1).sum() >= 8 * 8


def test_sheet_rejects_nothing_to_draw() -> None:
    with pytest.raises(ValueError):
        contact_sheet([])


def test_report_sheet_has_the_original_and_every_k(noisy_rgb: np.ndarray, report: CompressReport) -> None:
    sheet = report_sheet(noisy_rgb, None, report, name="photo.png", input_format="PNG", thumb=40)
    # 5 tiles -> 3 columns x 2 rows of 40-pixel thumbnails (40x30 images are shown at 1:1)
    assert sheet.shape[1] >= 3 * 40
    assert (sheet.reshape(-1, 3) == GREEN).all(axis=1).any() == (report.recommended_k is not None)
    unmet = replace(report, recommended_k=None)
    plain = report_sheet(noisy_rgb, None, unmet, name="photo.png", input_format="PNG", thumb=40)
    assert not (plain.reshape(-1, 3) == GREEN).all(axis=1).any()


# ----------------------------------------------------------------------------- HTML


def test_chart_has_one_point_per_k_and_marks_the_recommendation(report: CompressReport) -> None:
    points = chart_points(quality_chart(report))
    assert [int(p.get("data-k", "0")) for p in points] == [step.k for step in report.steps]
    assert [step.k for step in report.steps if not step.searched] == [2, 4, 8, 16]
    marked = [p.get("data-k") for p in points if "recommended" in p.get("class", "")]
    assert marked == [str(report.recommended_k)]


def test_chart_point_positions_follow_size_and_quality(report: CompressReport) -> None:
    points = chart_points(quality_chart(report))
    xs = [float(p.get("cx", "0")) for p in points]
    ys = [float(p.get("cy", "0")) for p in points]
    sizes = [s.png_bytes for s in report.steps]
    psnrs = [s.psnr for s in report.steps]
    assert np.argsort(xs).tolist() == np.argsort(sizes, kind="stable").tolist()
    assert np.argsort(ys).tolist() == np.argsort([-p for p in psnrs], kind="stable").tolist()


def test_chart_handles_lossless_and_other_metrics() -> None:
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[:, 4:] = 255
    lossless = compress_report(rgb, input_bytes=10, ks=(2, 4))
    assert len(chart_points(quality_chart(lossless))) == 2
    by_de = replace(lossless, targets=(Target(Metric.DELTA_E, 1.0),))
    svg = quality_chart(by_de)
    assert "ΔE2000" in svg and len(chart_points(svg)) == 2


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_page_is_self_contained(noisy_rgb: np.ndarray, report: CompressReport) -> None:
    sheet = encode_png(report_sheet(noisy_rgb, None, report, name="a", input_format="PNG", thumb=32))
    page = render_html([HtmlEntry("<a&b>.png", "PNG", report.without_pngs(), sheet)], settings="ks 2, 4")
    collector = _Collector()
    collector.feed(page)
    tags = [tag for tag, _ in collector.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    sources = [attrs.get("src") or "" for _, attrs in collector.tags if "src" in attrs]
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "Content-Security-Policy" in page
    assert "&lt;a&amp;b&gt;.png" in page and "<a&b>" not in page
    assert page.count('class="point') == len(report.steps) == 5  # the 4 ks and the search's k
    assert page.count('<tr class="recommended">') == 1


def test_page_with_several_images_has_a_summary_and_failures(report: CompressReport) -> None:
    unmet = replace(report, recommended_k=None)
    entries = [HtmlEntry("one.png", "PNG", report), HtmlEntry("two.png", "PNG", unmet)]
    page = render_html(entries, summary=aggregate([report, unmet]), failures=[("bad.png", "not an image")])
    assert page.count('class="point') == 2 * len(report.steps)
    assert page.count("<svg") == 2
    assert 'class="aggregate"' in page and "1 of 2 meet the target" in page
    assert "No k in this sweep meets the target" in page
    assert "bad.png: not an image" in page

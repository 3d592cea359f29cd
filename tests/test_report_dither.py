"""`compress-report --dither`: every k also measured dithered, in the core, the pictures, the JSON,
the terminal table and the docs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from terminal import run_kmimg
from typer.testing import CliRunner

from kmimg import metrics
from kmimg.cli import app
from kmimg.core.quantize import QuantizeOptions, analyze, quantize, quantize_analysis, redither
from kmimg.core.report import DITHER_ADVICE, CompressReport, Metric, Target, compress_report, dither_note
from kmimg.io import encode_indexed_png, load_image
from kmimg.render.html import HtmlEntry, quality_chart, render_html
from kmimg.render.sheet import report_sheet
from kmimg.types import ColorSpace

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
runner = CliRunner()


@pytest.fixture
def gradient() -> np.ndarray:
    """A smooth two-way gradient with a little noise: what dithering is for."""
    y, x = np.mgrid[0:36, 0:48]
    noise = np.random.default_rng(3).integers(-3, 4, (36, 48, 3))
    rgb = np.dstack([x * 5, y * 6, 120 + (x + y) * 2]) + noise
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.fixture
def dithered_report(gradient: np.ndarray) -> CompressReport:
    return compress_report(
        gradient, input_bytes=5000, ks=(8, 2, 4), targets=(Target(Metric.PSNR, 25),), dither=1.0, search=False
    )


# ----------------------------------------------------------------------------- the core


@pytest.mark.parametrize(("level", "space"), [(1.0, ColorSpace.RGB), (0.5, ColorSpace.LAB)])
def test_dithered_png_at_each_k_is_byte_identical_to_quantize_dither(
    gradient: np.ndarray, level: float, space: ColorSpace
) -> None:
    report = compress_report(gradient, input_bytes=1, ks=(3, 8), seed=5, space=space, dither=level)
    assert report.dither == level
    for step in report.steps:
        alone = quantize(gradient, None, QuantizeOptions(k=step.k, seed=5, space=space, dither=level))
        assert report.dithered_pngs[step.k] == encode_indexed_png(alone.indices, alone.palette)
        assert step.dithered is not None
        assert (step.dithered.psnr, step.dithered.ssim, step.dithered.delta_e) == (
            alone.psnr,
            alone.ssim,
            alone.delta_e,
        )


def test_dithered_measures_agree_with_the_decoded_png(
    dithered_report: CompressReport, gradient: np.ndarray
) -> None:
    report = dithered_report
    for step in report.steps:
        dithered = step.dithered
        assert dithered is not None
        png = report.dithered_pngs[step.k]
        assert dithered.png_bytes == len(png)
        assert dithered.bytes_vs_plain == pytest.approx(len(png) / step.png_bytes)
        assert dithered.ratio_vs_input == pytest.approx(5000 / len(png))
        assert dithered.ratio_vs_png24 == pytest.approx(report.png24_bytes / len(png))
        assert dithered.bits_per_pixel == pytest.approx(8 * len(png) / gradient[..., 0].size)
        decoded = load_image("d", data=png).rgb
        assert dithered.psnr == pytest.approx(metrics.psnr(gradient, decoded), abs=1e-9)
        assert dithered.ssim == pytest.approx(metrics.ssim(gradient, decoded), abs=1e-9)
        assert not np.array_equal(decoded, load_image("p", data=report.pngs[step.k]).rgb)


def test_dithering_leaves_the_undithered_sweep_and_the_recommendation_alone(gradient: np.ndarray) -> None:
    targets = (Target(Metric.PSNR, 25),)
    plain = compress_report(gradient, input_bytes=5000, ks=(2, 4, 8), targets=targets)
    dithered_report = compress_report(gradient, input_bytes=5000, ks=(8, 2, 4), targets=targets, dither=1.0)
    assert any(step.searched for step in plain.steps)  # the search's k is dithered and measured too
    assert dict(plain.pngs) == dict(dithered_report.pngs)
    assert [replace(s, seconds=0) for s in plain.steps] == [
        replace(s, seconds=0, dithered=None) for s in dithered_report.steps
    ]
    assert plain.recommended_k == dithered_report.recommended_k
    assert plain.dither == 0.0 and not plain.dithered_pngs
    assert all(step.dithered is None for step in plain.steps)
    assert plain.dither_cost() is None and dither_note(plain) is None


def test_dithered_sweep_is_deterministic(gradient: np.ndarray) -> None:
    a = compress_report(gradient, input_bytes=1, ks=(4, 16), seed=2, dither=0.7)
    b = compress_report(gradient, input_bytes=1, ks=(4, 16), seed=2, dither=0.7)
    assert dict(a.dithered_pngs) == dict(b.dithered_pngs)
    strip = [replace(s, seconds=0, dithered=replace(s.dithered, seconds=0)) for s in a.steps if s.dithered]
    again = [replace(s, seconds=0, dithered=replace(s.dithered, seconds=0)) for s in b.steps if s.dithered]
    assert strip == again and len(strip) == len(a.steps) >= 2  # the ks and the search's k


def test_without_pngs_drops_the_dithered_pngs_too(dithered_report: CompressReport) -> None:
    small = dithered_report.without_pngs()
    assert not small.pngs and not small.dithered_pngs
    assert small.steps == dithered_report.steps and small.dither == 1.0


@pytest.mark.parametrize("level", [-0.1, 1.5])
def test_a_level_outside_0_1_is_refused(gradient: np.ndarray, level: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        compress_report(gradient, input_bytes=1, ks=(4,), dither=level)


def test_redither_is_quantize_with_dither_without_a_second_fit(gradient: np.ndarray) -> None:
    analysis = analyze(gradient)
    plain = quantize_analysis(analysis, QuantizeOptions(k=6, seed=1))
    again = redither(analysis, plain, 0.8)
    direct = quantize_analysis(analysis, QuantizeOptions(k=6, seed=1, dither=0.8))
    assert np.array_equal(again.indices, direct.indices) and np.array_equal(again.palette, direct.palette)
    assert np.array_equal(again.counts, direct.counts) and again.quality == direct.quality
    assert again.options == direct.options
    with pytest.raises(ValueError, match="undithered"):
        redither(analysis, direct, 0.5)


def test_dither_note_gives_the_byte_cost_and_when_it_pays(dithered_report: CompressReport) -> None:
    note = dither_note(dithered_report)
    cost = dithered_report.dither_cost()
    assert note is not None and cost is not None
    assert note.startswith("Dithered (level 1): ") and note.endswith(DITHER_ADVICE)
    assert f"{cost[0]:.2f}" in note and f"{cost[1]:.2f}×" in note
    assert "low k" in DITHER_ADVICE and "smooth gradients" in DITHER_ADVICE


# ----------------------------------------------------------------------------- the pictures


def undithered(report: CompressReport) -> CompressReport:
    steps = tuple(replace(step, dithered=None) for step in report.steps)
    return replace(report, steps=steps, dither=0.0, dithered_pngs={})


def test_sheet_gets_a_second_row_of_dithered_tiles(
    gradient: np.ndarray, dithered_report: CompressReport
) -> None:
    plain = undithered(dithered_report)
    one_row = report_sheet(gradient, None, plain, name="g", input_format="PNG", thumb=48)
    two_rows = report_sheet(gradient, None, dithered_report, name="g", input_format="PNG", thumb=48)
    # undithered: the original and 3 ks in a 2 x 2 grid; dithered: a row of 4, then a row of 3
    # dithered tiles under the ks, its first cell (under the original) empty
    cell_w = (one_row.shape[1] - 8) // 2
    assert two_rows.shape[1] == 4 * cell_w + 8 and two_rows.shape[0] == one_row.shape[0]
    header, cell_h = 25, (one_row.shape[0] - 25 - 8) // 2
    below_original = two_rows[header + cell_h + 8 : header + 2 * cell_h, 10:cell_w]
    assert below_original.size and (below_original == 255).all()
    under_k2 = two_rows[header + cell_h + 8 : header + 2 * cell_h, cell_w + 10 : 2 * cell_w]
    assert not (under_k2 == 255).all()


def test_html_shows_the_dithered_columns_points_and_the_note(dithered_report: CompressReport) -> None:
    page = render_html([HtmlEntry("g.png", "PNG", dithered_report)])
    assert page.count('class="point') == 3  # one undithered point per k, as before
    assert page.count('class="dithered-point"') == 3
    assert "dithered bytes" in page and DITHER_ADVICE in page
    root = ET.fromstring(quality_chart(dithered_report))
    dots = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "dithered-point"]
    assert [int(dot.get("data-k", "0")) for dot in dots] == [2, 4, 8]
    plain = render_html([HtmlEntry("g.png", "PNG", undithered(dithered_report))])
    assert "dithered-point" not in plain.split("</style>")[1] and DITHER_ADVICE not in plain


# ----------------------------------------------------------------------------- the command


def report_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["compress-report", *args, "--json", "-"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture
def photo(write_png, gradient: np.ndarray) -> Path:  # type: ignore[no-untyped-def]
    path: Path = write_png(gradient, "photo.png")
    return path


def test_json_has_a_dithered_object_per_k_equal_to_quantize_dither(photo: Path, tmp_path: Path) -> None:
    document = report_json(str(photo), "--ks", "3,9", "--seed", "4", "--dither", "0.6")
    assert document["schema_version"] == 2 and document["dither"] == 0.6
    for row in document["results"][0]["ks"]:
        dithered = row["dithered"]
        assert set(dithered) == {
            "png_bytes", "bits_per_pixel", "ratio_vs_input", "ratio_vs_png24", "bytes_vs_undithered",
            "psnr", "ssim", "delta_e2000", "seconds",
        }  # fmt: skip
        out = tmp_path / f"q{row['k']}.png"
        args = ["quantize", str(photo), "-k", str(row["k"]), "--seed", "4", "--dither", "0.6", "-o", str(out)]
        assert runner.invoke(app, args).exit_code == 0
        assert dithered["png_bytes"] == out.stat().st_size
        assert dithered["bytes_vs_undithered"] == round(out.stat().st_size / row["png_bytes"], 4)
        original = load_image(photo).rgb
        assert dithered["psnr"] == pytest.approx(metrics.psnr(original, load_image(out).rgb), abs=1e-3)


def test_json_without_dither_has_null_dithered_and_level_0(photo: Path) -> None:
    for extra in ((), ("--no-dither",), ("--dither", "0")):
        document = report_json(str(photo), "--ks", "4", *extra)
        assert document["dither"] == 0.0
        assert {row["dithered"] is None for row in document["results"][0]["ks"]} == {True}


def test_bare_dither_means_level_1(photo: Path) -> None:
    document = report_json(str(photo), "--dither", "--ks", "4")
    assert document["dither"] == 1.0 and document["results"][0]["ks"][0]["dithered"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dither", "1.5"), "kmimg: error: --dither LEVEL must be between 0 and 1, got 1.5\n"),
        (("--dither=-0.2",), "kmimg: error: --dither LEVEL must be between 0 and 1, got -0.2\n"),
        (("--dither", "0.5", "--no-dither"), "kmimg: error: give --dither or --no-dither, not both\n"),
    ],
)
def test_bad_dither_is_a_usage_error(
    photo: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = runner.invoke(
        app, ["compress-report", str(photo), "--ks", "4", *args, "--html", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2
    assert result.stderr == message
    assert not (tmp_path / "r.html").exists()


def test_dithered_numbers_do_not_depend_on_jobs(write_png, gradient: np.ndarray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_png(gradient, "in/a.png")
    write_png(gradient[::-1, ::-1], "in/b.png")

    def numbers(jobs: str) -> list[Any]:
        results = report_json(str(tmp_path / "in"), "--ks", "3,6", "--dither", "-j", jobs)["results"]
        for entry in results:
            entry.pop("seconds")
            for row in entry["ks"]:
                row.pop("seconds")
                row["dithered"].pop("seconds")
        return list(results)

    assert numbers("1") == numbers("2")


def test_sheet_and_html_of_the_command_show_the_dithered_pngs(photo: Path, tmp_path: Path) -> None:
    sheet, html = tmp_path / "s.png", tmp_path / "r.html"
    args = [
        str(photo),
        "--ks",
        "2,4",
        "--dither",
        "--sheet",
        str(sheet),
        "--html",
        str(html),
        "--thumb",
        "32",
        "--target-psnr",
        "99",  # no k up to 256 meets it: no k found by the search among the tiles
    ]
    assert runner.invoke(app, ["compress-report", *args]).exit_code == 0
    page = html.read_text(encoding="utf-8")
    assert page.count('class="dithered-point"') == 2 and "dither 1; " in page
    plain = tmp_path / "p.png"
    args = [str(photo), "--ks", "2,4", "--sheet", str(plain), "--thumb", "32", "--target-psnr", "99"]
    assert runner.invoke(app, ["compress-report", *args]).exit_code == 0
    # 3 tiles in a 2 x 2 grid; dithered, 3 columns: the original and 2 ks, then 2 dithered tiles
    with_dither, without = load_image(sheet), load_image(plain)
    assert with_dither.height == without.height
    assert with_dither.width - 8 == 3 * (without.width - 8) // 2


def test_terminal_table_shows_both_and_says_when_dithering_pays(photo: Path) -> None:
    code, stderr = run_kmimg("compress-report", str(photo), "--ks", "2,4", "--dither", "0.5", columns=220)
    assert code == 0
    assert "dithered bytes" in stderr and "Dithered (level 0.5)" in stderr
    assert "low k" in stderr and "smooth gradients" in stderr
    code, plain = run_kmimg("compress-report", str(photo), "--ks", "2,4", columns=220)
    assert code == 0 and "dithered" not in plain.lower()


# ----------------------------------------------------------------------------- the docs


def test_docs_say_when_dithering_pays_and_link_the_dithering_page() -> None:
    page = (ROOT / "docs" / "compress-report.md").read_text(encoding="utf-8")
    assert "](dithering.md)" in page and "`--dither [LEVEL]`" in page
    assert "kmimg compress-report" in page and "--dither" in page
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--dither" in readme

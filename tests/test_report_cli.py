"""`kmimg compress-report` as a user runs it: JSON checked against the files it wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg import metrics
from kmimg.cli import app
from kmimg.io import load_image

runner = CliRunner()


def run(*args: str, input: bytes | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["compress-report", *args], input=input)


@pytest.fixture
def photo(write_png, noisy_rgb: np.ndarray) -> Path:  # type: ignore[no-untyped-def]
    path: Path = write_png(noisy_rgb, "photo.png")
    return path


def smallest_meeting(rows: list[dict[str, Any]], key: str, value: float, higher: bool = True) -> int | None:
    def ok(row: dict[str, Any]) -> bool:
        measured = row[key]
        if measured is None:  # lossless PSNR
            return True
        return bool(measured >= value if higher else measured <= value)

    meeting = [row["k"] for row in rows if ok(row)]
    return min(meeting) if meeting else None


def test_help_documents_the_options() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for option in (
        "--ks",
        "--target-psnr",
        "--target-ssim",
        "--target-de",
        "--write-best",
        "--sheet",
        "--html",
    ):
        assert option in result.output
    assert "Example: kmimg compress-report" in result.output


@pytest.mark.slow
def test_flower_json_agrees_with_the_written_files(samples: Path, tmp_path: Path) -> None:
    flower = samples / "flower.jpg"
    best_dir, sheet, html = tmp_path / "best", tmp_path / "flower-sheet.png", tmp_path / "flower.html"
    result = run(
        str(flower), "--ks", "4,16,64", "--write-best", str(best_dir), "--sheet", str(sheet),
        "--html", str(html), "--json", "-", "--thumb", "64",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "kmimg.compress-report" and document["schema_version"] == 2
    assert document["targets"] == [{"metric": "psnr", "op": ">=", "value": 32.0}]
    (entry,) = document["results"]
    rows = entry["ks"]
    # the requested ks, and the fewest colours meeting PSNR >= 32 dB that the search found
    assert [row["k"] for row in rows if not row["searched"]] == [4, 16, 64]
    (searched,) = [row for row in rows if row["searched"]]
    assert 16 < searched["k"] < 64 and searched["psnr"] >= 32.0
    assert entry["recommended_k"] == smallest_meeting(rows, "psnr", 32.0) == searched["k"]

    original = load_image(flower)
    assert entry["input_bytes"] == flower.stat().st_size
    assert (entry["width"], entry["height"]) == (original.width, original.height)
    best_path = Path(entry["best_output"])
    assert best_path == best_dir / f"flower-k{searched['k']}.png"
    written = load_image(best_path)
    row = searched
    assert row["png_bytes"] == best_path.stat().st_size == entry["recommended_png_bytes"]
    assert row["psnr"] == pytest.approx(metrics.psnr(original.rgb, written.rgb), abs=1e-3)
    assert row["ssim"] == pytest.approx(metrics.ssim(original.rgb, written.rgb), abs=1e-5)
    assert row["delta_e2000"] == pytest.approx(
        metrics.delta_e2000_images(original.rgb, written.rgb), abs=1e-3
    )
    assert row["bits_per_pixel"] == pytest.approx(
        8 * row["png_bytes"] / (original.width * original.height), 1e-3
    )
    assert row["ratio_vs_input"] == pytest.approx(entry["input_bytes"] / row["png_bytes"], 1e-3)
    with Image.open(best_path) as image:
        assert image.mode == "P" and len(image.getcolors(256) or []) <= searched["k"]
    with Image.open(sheet) as image:
        assert image.format == "PNG" and image.width >= 2 * 64
    assert entry["sheet"] == str(sheet)
    assert html.read_text(encoding="utf-8").count('class="point') == 4


def test_every_k_agrees_with_quantize_written_files(photo: Path, tmp_path: Path) -> None:
    result = run(str(photo), "--ks", "2,5,12", "--json", "-", "--seed", "7")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"][0]["ks"]
    original = load_image(photo).rgb
    for row in rows:
        out = tmp_path / f"q{row['k']}.png"
        done = runner.invoke(
            app, ["quantize", str(photo), "-k", str(row["k"]), "--seed", "7", "-o", str(out)]
        )
        assert done.exit_code == 0, done.output
        assert row["png_bytes"] == out.stat().st_size
        assert row["psnr"] == pytest.approx(metrics.psnr(original, load_image(out).rgb), abs=1e-3)


def test_best_png_is_the_quantize_result_at_the_recommended_k(photo: Path, tmp_path: Path) -> None:
    result = run(str(photo), "--ks", "2,4,8,16", "--target-psnr", "19", "--write-best", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    (best,) = list((tmp_path / "b").iterdir())
    k = int(best.name.removeprefix("photo-k").removesuffix(".png"))
    assert 4 < k <= 8  # 8 is the smallest requested k meeting 19 dB; the search may find fewer
    runner.invoke(app, ["quantize", str(photo), "-k", str(k), "-o", str(tmp_path / "q.png")])
    assert best.read_bytes() == (tmp_path / "q.png").read_bytes()


@pytest.mark.parametrize(
    ("option", "value", "key", "higher"),
    [("--target-ssim", "0.5", "ssim", True), ("--target-de", "12", "delta_e2000", False)],
)
def test_other_targets(photo: Path, option: str, value: str, key: str, higher: bool) -> None:
    result = run(str(photo), "--ks", "2,4,8,16", option, value, "--json", "-")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    entry = document["results"][0]
    assert entry["recommended_k"] == smallest_meeting(entry["ks"], key, float(value), higher)
    assert entry["recommended_k"] is not None
    assert document["targets"][0]["metric"] == key


def test_several_targets_must_all_hold(photo: Path) -> None:
    result = run(str(photo), "--ks", "2,4,8,16", "--target-psnr", "15", "--target-de", "10", "--json", "-")
    entry = json.loads(result.stdout)["results"][0]
    both = [
        row["k"]
        for row in entry["ks"]
        if row["psnr"] >= 15 and row["delta_e2000"] <= 10 and row["meets_target"]
    ]
    assert entry["recommended_k"] == min(both)
    assert 8 < min(both) <= 16  # 16 is the smallest requested k meeting both; PSNR alone would take 4
    assert [row["meets_target"] for row in entry["ks"]] == [row["k"] in both for row in entry["ks"]]


def test_unreachable_target_is_said_clearly_and_writes_no_best(photo: Path, tmp_path: Path) -> None:
    best_dir = tmp_path / "best"
    result = run(
        str(photo), "--ks", "2,4", "--target-psnr", "99", "--write-best", str(best_dir), "--json", "-"
    )
    assert result.exit_code == 0
    assert result.stderr == (
        f"kmimg: warning: {photo}: no k up to 256 meets PSNR ≥ 99 dB (ks 2,4, then searched); "
        "no best PNG written\n"
    )
    entry = json.loads(result.stdout)["results"][0]
    assert entry["recommended_k"] is None and entry["target_met"] is False and entry["best_output"] is None
    assert not best_dir.exists()


def test_folder_gives_rows_an_aggregate_sheets_and_one_html(  # type: ignore[no-untyped-def]
    write_png, noisy_rgb: np.ndarray, tmp_path: Path
) -> None:
    a = write_png(noisy_rgb, "in/a.png")
    b = write_png(noisy_rgb[::-1, ::2], "in/sub/b.png")
    (tmp_path / "in" / "bad.png").write_bytes(b"not an image")
    sheets, html = tmp_path / "sheets", tmp_path / "report.html"
    result = run(
        str(tmp_path / "in"), "-r", "--ks", "2,4,8", "--target-psnr", "17", "--sheet", str(sheets),
        "--html", str(html), "--json", "-", "-j", "1", "--thumb", "32",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith(f"kmimg: error: {tmp_path / 'in' / 'bad.png'}: ")
    document = json.loads(result.stdout)
    assert [r["input"] for r in document["results"]] == [str(a), str(b)]
    assert document["failures"][0]["input"] == str(tmp_path / "in" / "bad.png")
    assert sorted(p.relative_to(sheets).as_posix() for p in sheets.rglob("*.png")) == [
        "a-sheet.png",
        "sub/b-sheet.png",
    ]
    total = document["aggregate"]
    results = document["results"]
    assert total["images"] == 2
    met = [r for r in results if r["recommended_k"] is not None]
    assert total["images_meeting_target"] == len(met) >= 1
    assert total["recommended_png_bytes"] == sum(r["recommended_png_bytes"] for r in met)
    assert total["bytes_saved_vs_input"] == sum(r["input_bytes"] - r["recommended_png_bytes"] for r in met)
    assert total["bytes_saved_vs_png24"] == sum(r["png24_bytes"] - r["recommended_png_bytes"] for r in met)
    page = html.read_text(encoding="utf-8")
    assert page.count('class="point') == 2 * 3
    assert page.count("data:image/png;base64,") == 2
    assert 'class="aggregate"' in page and "bad.png" in page


def test_jobs_do_not_change_the_numbers(write_png, noisy_rgb: np.ndarray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_png(noisy_rgb, "in/a.png")
    write_png(noisy_rgb[::-1], "in/b.png")

    def numbers(jobs: str) -> list[Any]:
        result = run(str(tmp_path / "in"), "--ks", "3,6", "--json", "-", "-j", jobs)
        assert result.exit_code == 0, result.output
        results = json.loads(result.stdout)["results"]
        for entry in results:
            entry.pop("seconds")
            for row in entry["ks"]:
                row.pop("seconds")
        return list(results)

    assert numbers("1") == numbers("2")


def test_sheet_file_needs_a_single_input(photo: Path, tmp_path: Path) -> None:
    result = run(str(photo), str(photo), "--sheet", str(tmp_path / "s.png"))
    assert result.exit_code == 2
    assert result.stderr.startswith("kmimg: error: --sheet FILE.png takes one input")
    assert not (tmp_path / "s.png").exists()


def test_existing_best_needs_force(photo: Path, tmp_path: Path) -> None:
    args = [str(photo), "--ks", "2", "--target-psnr", "10", "--write-best", str(tmp_path)]
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 1
    assert again.stderr == (
        f"kmimg: error: {photo}: output {tmp_path / 'photo-k2.png'} exists (use --force to overwrite)\n"
    )
    assert run(*args, "--force").exit_code == 0


def test_existing_sheet_in_a_folder_needs_force(photo: Path, tmp_path: Path) -> None:
    args = [str(photo), "--ks", "2", "--sheet", str(tmp_path / "sheets"), "--thumb", "16"]
    assert run(*args).exit_code == 0
    assert run(*args).exit_code == 1
    assert run(*args, "--force").exit_code == 0


def test_html_must_not_overwrite_an_input(photo: Path) -> None:
    result = run(str(photo), "--html", str(photo))
    assert result.exit_code == 2


@pytest.mark.parametrize("ks", ["1,2", "2,300", "two", ","])
def test_bad_ks_are_a_usage_error(photo: Path, ks: str) -> None:
    result = run(str(photo), "--ks", ks)
    assert result.exit_code == 2


def test_pipes_get_silence_without_json(photo: Path) -> None:
    result = run(str(photo), "--ks", "2,4", "--target-psnr", "10")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""


def test_stdin_input(photo: Path) -> None:
    result = run("-", "--ks", "4", "--json", "-", input=photo.read_bytes())
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)["results"][0]
    assert entry["input"] == "<stdin>" and entry["input_bytes"] == photo.stat().st_size


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.jpg"), "--ks", "2")
    assert result.exit_code == 1
    assert result.stderr == f"kmimg: error: {tmp_path / 'nope.jpg'}: no such file\n"


def test_readme_section_documents_every_option_and_the_picture() -> None:
    import typer.main

    root = Path(__file__).resolve().parent.parent
    section = (root / "docs" / "compress-report.md").read_text(encoding="utf-8")
    command = typer.main.get_command(app).commands["compress-report"]  # type: ignore[attr-defined]
    options = [p.opts for p in command.params if p.param_type_name == "option" and "--help" not in p.opts]
    assert len(options) > 15
    for names in options:
        assert any(f"`{name}" in section or f", {name}" in section for name in names), names
    assert "](flower-sheet.png)" in section
    assert (root / "docs" / "flower-sheet.png").is_file()
    assert '"schema": "kmimg.compress-report"' in section


def test_png_bytes_are_those_of_the_png_quantize_writes(samples: Path, tmp_path: Path) -> None:
    """``png_bytes`` is the size of ``quantize -k K --strip``'s file, also where the encoder
    filters the rows on a reordered palette (a grey photo at K = 64)."""
    coins = str(samples / "coins.png")
    out = tmp_path / "coins-k64.png"
    assert runner.invoke(app, ["quantize", coins, "-k", "64", "--strip", "-o", str(out), "-q"]).exit_code == 0
    report = tmp_path / "report.json"
    assert run(coins, "--ks", "64", "--json", str(report), "-q").exit_code == 0
    measured = json.loads(report.read_text())["results"][0]["ks"]
    assert [row["png_bytes"] for row in measured if row["k"] == 64] == [out.stat().st_size]

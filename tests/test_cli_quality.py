"""`kmimg quantize --quality` and `--target-*` on the command line and in the library (issue 26):
names, exit 99 and its mix with 98 and failures, JSON, reruns, the in-place build line twice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import kmimg
from kmimg.cli import app
from kmimg.core.quality import quality_to_mse

runner = CliRunner()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["quantize", *args])


def photo(seed: int, height: int = 72, width: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(3 * x + seed) * 0.5 + 0.5, np.cos(2 * y) * 0.5 + 0.5, (x * y) % 1.0], -1) * 255
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two photo-like PNGs, a flat one stored uncompressed, and a tiny noisy JPEG."""
    where = tmp_path / "in"
    where.mkdir()
    Image.fromarray(photo(1)).save(where / "a.png")
    Image.fromarray(photo(2)).save(where / "b.png")
    flat = np.zeros((40, 60, 3), dtype=np.uint8)
    flat[:, 30:] = (200, 40, 40)
    Image.fromarray(flat).save(where / "flat.png", compress_level=0)
    noise = np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(where / "noise.jpg", quality=5)
    return where


def test_quality_writes_the_fewest_colours_that_reach_max(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(str(folder / "a.png"), "--quality", "40-70", "--out-dir", str(out), "--json", "-")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    (record,) = json.loads(result.stdout)["results"]
    assert record["output"] == str(out / "a-q40-70.png") and (out / "a-q40-70.png").exists()
    assert record["k_requested"] == 256 and record["k_used"] <= record["k_chosen"] < 256
    assert record["quality"] >= 70 and record["goal_met"] is True and record["skipped"] is None
    written = np.asarray(Image.open(out / "a-q40-70.png").convert("RGB"), dtype=np.float64)
    mse = float(((written - photo(1)) ** 2).mean())
    assert mse <= quality_to_mse(70)
    # the same bytes as -k K at the K chosen
    fixed = run(str(folder / "a.png"), "-k", str(record["k_chosen"]), "-o", str(tmp_path / "k.png"))
    assert fixed.exit_code == 0
    assert (tmp_path / "k.png").read_bytes() == (out / "a-q40-70.png").read_bytes()


def test_fixed_k_records_have_no_quality_fields(folder: Path, tmp_path: Path) -> None:
    result = run(str(folder / "a.png"), "-k", "8", "--out-dir", str(tmp_path / "o"), "--json", "-")
    (record,) = json.loads(result.stdout)["results"]
    assert record["k_chosen"] is None and record["quality"] is None and record["goal_met"] is None


def test_below_min_writes_nothing_and_exits_99(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        str(folder / "a.png"), "--quality", "95-100", "-k", "4", "--out-dir", str(out), "--json", "-"
    )
    assert result.exit_code == 99, result.output
    assert not out.exists() or not any(out.iterdir())
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"kmimg: warning: {folder / 'a.png'}: not written: quality ")
    assert line.endswith("with 4 colours is below the minimum 95 (--quality)")
    document = json.loads(result.stdout)
    (record,) = document["results"]
    assert record["skipped"] == "quality" and record["k_chosen"] == 4 and record["quality"] < 95
    assert document["failures"] == []


def test_max_alone_means_zero_to_max(folder: Path, tmp_path: Path) -> None:
    result = run(str(folder / "a.png"), "--quality", "100", "-k", "4", "--out-dir", str(tmp_path / "o"))
    assert result.exit_code == 0 and (tmp_path / "o" / "a-q0-100.png").exists()


def test_99_wins_over_98_and_a_failure_over_both(folder: Path, tmp_path: Path) -> None:
    args = ("--quality", "60-99", "-k", "8", "--skip-if-larger", "--json", "-", "-q")
    mixed = run(str(folder), *args, "--out-dir", str(tmp_path / "o1"))
    assert mixed.exit_code == 99, mixed.output
    skipped = {Path(r["input"]).name: r["skipped"] for r in json.loads(mixed.stdout)["results"]}
    assert skipped["flat.png"] is None  # two colours: lossless, smaller
    assert skipped["noise.jpg"] in ("larger", "quality") and "quality" in skipped.values()
    (folder / "broken.png").write_bytes(b"not a PNG")
    failed = run(str(folder), *args, "--out-dir", str(tmp_path / "o2"))
    assert failed.exit_code == 1
    assert [f["input"] for f in json.loads(failed.stdout)["failures"]] == [str(folder / "broken.png")]


def test_only_98_is_98(tmp_path: Path, noisy_rgb: np.ndarray) -> None:
    Image.fromarray(noisy_rgb).save(tmp_path / "small.jpg", quality=10)  # no PNG of it is smaller
    result = run(str(tmp_path / "small.jpg"), "--quality", "100", "--skip-if-larger", "--json", "-")
    assert result.exit_code == 98, result.output
    assert json.loads(result.stdout)["results"][0]["skipped"] == "larger"


@pytest.mark.parametrize(
    ("args", "wording"),
    [
        (("--quality", "80-60"), "MIN-MAX"),
        (("--quality", "good"), "not a quality"),
        (("--quality", "101"), "MIN-MAX"),
        (("--target-ssim", "1.5"), "1.5"),
        (("--quality", "60-80", "--palette", "p.gpl"), "not with --palette"),
        (("--target-psnr", "40", "--shared-palette"), "not with --palette"),
    ],
)
def test_usage_errors(folder: Path, args: tuple[str, ...], wording: str) -> None:
    (folder / "p.gpl").write_text("GIMP Palette\n0 0 0 black\n255 255 255 white\n")
    result = run(str(folder / "a.png"), *[a if a != "p.gpl" else str(folder / a) for a in args])
    assert result.exit_code == 2
    assert wording in result.stderr and len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "b.png", "flat.png", "noise.jpg", "p.gpl"]


def test_targets_name_and_reach(folder: Path, tmp_path: Path) -> None:
    result = run(
        str(folder / "b.png"),
        "--target-psnr",
        "36",
        "--target-de",
        "2.5",
        "--out-dir",
        str(tmp_path),
        "--json",
        "-",
    )
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)["results"]
    assert record["output"] == str(tmp_path / "b-target.png")
    assert record["psnr"] >= 36 and record["delta_e2000"] <= 2.5 and record["goal_met"] is True


def test_a_rerun_with_another_k_takes_no_earlier_output_as_input(folder: Path) -> None:
    assert run(str(folder), "-k", "8", "-q").exit_code == 0
    assert run(str(folder), "--quality", "10-40", "-q").exit_code == 0
    result = run(str(folder), "-k", "4", "--json", "-")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in folder.iterdir())
    assert not [name for name in names if name.count("-k") + name.count("-q") > 1], names
    assert "a-k4.png" in names and "a-k8-k4.png" not in names and "a-q10-40-k4.png" not in names
    skipped = {Path(s["input"]).name for s in json.loads(result.stdout)["skipped"]}
    assert {"a-k8.png", "a-q10-40.png", "noise-k8.png"} <= skipped
    assert "kmimg: notice: " in result.stderr and "naming rule" in result.stderr


def test_a_file_named_like_an_output_without_its_source_is_an_input(tmp_path: Path) -> None:
    Image.fromarray(photo(4)).save(tmp_path / "logo-k2.png")
    result = run(str(tmp_path), "-k", "4", "-q")
    assert result.exit_code == 0
    assert (tmp_path / "logo-k2-k4.png").exists()


def test_the_in_place_build_line_twice(folder: Path) -> None:
    """`--quality 60-80 --skip-if-larger --ext .png --force DIR` twice: exit 0/98/99 each time,
    every file a valid indexed PNG or byte-identical to before, none added or lost."""
    Image.fromarray(photo(5)).save(folder / "c.png", compress_level=0)
    noise = np.random.default_rng(9).integers(0, 256, (30, 30, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "noise.png", optimize=True)
    for _ in range(2):
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        result = run(str(folder), "--quality", "60-80", "--skip-if-larger", "--ext", ".png", "--force", "-q")
        assert result.exit_code in (0, 98, 99), result.output
        after = {p.name: p.read_bytes() for p in folder.iterdir()}
        assert sorted(after) == sorted(before)
        for name, data in after.items():
            if data != before[name]:
                assert name.endswith(".png")
                with Image.open(folder / name) as image:
                    assert image.format == "PNG" and image.mode == "P"
        assert not list(folder.glob(".*"))  # no temporary file left


def test_the_library_takes_the_same_options(folder: Path, tmp_path: Path) -> None:
    found = kmimg.quantize(folder / "a.png", quality="40-70")
    assert found.quality_score is not None and found.quality_score >= 70
    assert found.options.k == found.colors_used or found.colors_used < found.options.k
    again = kmimg.quantize(folder / "a.png", found.options.k)
    assert again.to_png() == found.to_png() and again.quality_score is None
    with pytest.raises(kmimg.QualityTooLowError, match="below the minimum 95"):
        kmimg.quantize(folder / "a.png", 4, quality=(95, 100))
    with pytest.raises(ValueError, match="not with palette"):
        kmimg.quantize(folder / "a.png", quality=80, palette=[(0, 0, 0), (255, 255, 255)])
    done = kmimg.quantize_files(folder, 8, quality="60-99", skip_if_larger=True, out_dir=tmp_path, jobs=1)
    by_name = {Path(r.input).name: r for r in done}
    assert all(r.ok for r in done)
    assert by_name["a.png"].record is not None and by_name["a.png"].record.skipped == "quality"
    assert by_name["a.png"].outputs == ()
    assert by_name["flat.png"].outputs == (str(tmp_path / "flat-q60-99.png"),)
    in_place = kmimg.quantize_files(folder / "flat.png", ext=".png", force=True, quality=50, jobs=1)
    assert in_place[0].outputs == (str(folder / "flat.png"),)
    with Image.open(folder / "flat.png") as image:
        assert image.mode == "P"

"""`kmimg quantize` as a user runs it: files, folders, stdin, JSON, errors, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app

runner = CliRunner()


def run(*args: str, input: bytes | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["quantize", *args], input=input)


@pytest.fixture
def photo(write_png, noisy_rgb: np.ndarray) -> Path:  # type: ignore[no-untyped-def]
    path: Path = write_png(noisy_rgb, "photo.png")
    return path


def palette_of(path: Path) -> list[list[int]]:
    with Image.open(path) as image:
        assert image.mode == "P"
        flat = list(image.palette.tobytes())
    return [flat[i : i + 3] for i in range(0, len(flat), 3)]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("kmimg ")


def test_help_has_an_example() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Example: kmimg quantize" in result.output


def test_single_input_with_output_and_json(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    summary = tmp_path / "summary.json"
    result = run(str(photo), "-k", "8", "-o", str(out), "--json", str(summary))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # not a terminal: quiet
    document = json.loads(summary.read_text())
    assert document["schema"] == "kmimg.quantize"
    assert document["schema_version"] == 2
    assert document["failures"] == []
    (record,) = document["results"]
    assert record["input"] == str(photo)
    assert record["output"] == str(out)
    assert (record["width"], record["height"]) == (40, 30)
    assert record["k_requested"] == 8
    assert record["k_used"] == len(record["palette"]) == 8
    assert record["output_bytes"] == out.stat().st_size
    assert record["input_bytes"] == photo.stat().st_size
    fractions = [entry["fraction"] for entry in record["palette"]]
    assert fractions == sorted(fractions, reverse=True)
    assert sum(fractions) == pytest.approx(1.0, abs=1e-5)
    png_palette = palette_of(out)
    for entry in record["palette"]:
        assert png_palette[entry["index"]] == entry["rgb"]
        assert entry["hex"] == "#{:02x}{:02x}{:02x}".format(*entry["rgb"])
    for key in ("psnr", "ssim", "delta_e2000", "seconds", "seed"):
        assert key in record
    with Image.open(out) as image:
        quantized = np.asarray(image.convert("RGB"))
    from kmimg import metrics

    original = np.asarray(Image.open(photo).convert("RGB"))
    assert record["psnr"] == pytest.approx(metrics.psnr(original, quantized), abs=1e-3)


def test_default_name_is_next_to_input(photo: Path) -> None:
    result = run(str(photo), "-k", "4")
    assert result.exit_code == 0, result.output
    out = photo.with_name("photo-k4.png")
    assert out.exists()
    assert len(palette_of(out)) == 4


def test_existing_output_needs_force(photo: Path) -> None:
    out = photo.with_name("photo-k4.png")
    out.write_bytes(b"precious")
    result = run(str(photo), "-k", "4")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"kmimg: error: {photo}: output {out} exists (use --force to overwrite)"
    assert out.read_bytes() == b"precious"
    assert run(str(photo), "-k", "4", "--force").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_explicit_output_overwrites(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    out.write_bytes(b"old")
    assert run(str(photo), "-o", str(out)).exit_code == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_output_equal_to_input_is_refused(photo: Path) -> None:
    before = photo.read_bytes()
    result = run(str(photo), "-o", str(photo))
    assert result.exit_code == 2
    assert "is the input itself" in result.stderr
    assert photo.read_bytes() == before


def test_same_seed_same_bytes_and_seed_is_used(photo: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert run(str(photo), "-k", "6", "--seed", "7", "-o", str(a)).exit_code == 0
    assert run(str(photo), "-k", "6", "--seed", "7", "-o", str(b)).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_folder_recursive_mirrors_into_out_dir(write_png, noisy_rgb: np.ndarray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_png(noisy_rgb, "in/a.png")
    write_png(noisy_rgb[::-1], "in/sub/b.png")
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    out_dir = tmp_path / "out"
    result = run(str(tmp_path / "in"), "-r", "--out-dir", str(out_dir), "-k", "8", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.png")) == [
        "a-k8.png",
        "sub/b-k8.png",
    ]
    flat = run(str(tmp_path / "in"), "--out-dir", str(tmp_path / "flat"), "-k", "8")
    assert flat.exit_code == 0
    assert [p.name for p in (tmp_path / "flat").rglob("*.png")] == ["a-k8.png"]


def test_jobs_do_not_change_bytes(write_png, noisy_rgb: np.ndarray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        write_png(np.roll(noisy_rgb, i * 5, axis=1), f"in/{i}.png")
    for jobs in ("1", "2"):
        assert run(str(tmp_path / "in"), "--out-dir", str(tmp_path / jobs), "-j", jobs).exit_code == 0
    for i in range(3):
        assert (tmp_path / "1" / f"{i}-k16.png").read_bytes() == (
            tmp_path / "2" / f"{i}-k16.png"
        ).read_bytes()


def test_batch_goes_on_past_a_bad_file(write_png, noisy_rgb: np.ndarray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = write_png(noisy_rgb, "in/good.png")
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"this is not a png")
    out_dir = tmp_path / "out"
    result = run(str(bad), str(good), "--out-dir", str(out_dir), "--json", "-")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"kmimg: error: {bad}: ")
    assert "Traceback" not in result.output
    assert (out_dir / "good-k16.png").exists()
    assert not (out_dir / "bad-k16.png").exists()
    document = json.loads(result.stdout)
    assert [r["input"] for r in document["results"]] == [str(good)]
    assert document["failures"][0]["input"] == str(bad)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.jpg"), "--out-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == f"kmimg: error: {tmp_path / 'nope.jpg'}: no such file\n"


def test_stdin_to_stdout(photo: Path) -> None:
    result = runner.invoke(app, ["quantize", "-", "-k", "4"], input=photo.read_bytes())
    assert result.exit_code == 0, result.stderr
    with Image.open(io.BytesIO(result.stdout_bytes)) as image:
        assert image.mode == "P"
        assert image.size == (40, 30)


def test_png_to_stdout_and_json_to_stdout_conflict(photo: Path) -> None:
    result = run(str(photo), "-o", "-", "--json", "-")
    assert result.exit_code == 2
    assert result.stderr.startswith("kmimg: error: ")


def test_output_with_several_inputs_is_a_usage_error(photo: Path, tmp_path: Path) -> None:
    result = run(str(photo), str(photo), "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 2


def test_two_inputs_writing_the_same_output_are_refused_before_work(
    write_png, noisy_rgb, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    a = write_png(noisy_rgb, "a/x.png")
    b = write_png(noisy_rgb, "b/x.png")
    result = run(str(a), str(b), "--out-dir", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "would both write" in result.stderr
    assert not list((tmp_path / "out").glob("*.png"))


@pytest.mark.parametrize("k", ["1", "257", "abc"])
def test_bad_k_is_a_usage_error(photo: Path, k: str) -> None:
    assert run(str(photo), "-k", k).exit_code == 2


def test_alpha_is_kept_and_hidden_colours_stay_hidden(tmp_path: Path, noisy_rgb: np.ndarray) -> None:
    rgba = np.dstack([noisy_rgb, np.full(noisy_rgb.shape[:2], 255, dtype=np.uint8)])
    rgba[:, :8] = [255, 0, 255, 0]  # magenta hidden under alpha 0
    src = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(src)
    out = tmp_path / "alpha-out.png"
    assert run(str(src), "-k", "8", "-o", str(out)).exit_code == 0
    with Image.open(out) as image:
        assert image.mode == "P"
        assert "transparency" in image.info
        decoded = np.asarray(image.convert("RGBA"))
    assert (decoded[:, :8, 3] == 0).all()
    assert (decoded[:, 8:, 3] == 255).all()
    assert not ((decoded[..., 0] == 255) & (decoded[..., 1] == 0) & (decoded[..., 2] == 255)).any()
    assert len(palette_of(out)) <= 8


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    src = tmp_path / "rotated.jpg"
    image.save(src, exif=exif, quality=95)
    out = tmp_path / "upright.png"
    assert run(str(src), "-k", "2", "-o", str(out)).exit_code == 0
    with Image.open(out) as result:
        assert result.size == (20, 40)
        rgb = np.asarray(result.convert("RGB")).astype(int)
    assert rgb[2, 10, 2] > rgb[2, 10, 0]  # top is blue after rotating clockwise
    assert rgb[-3, 10, 0] > rgb[-3, 10, 2]


def test_dither_option(photo: Path, tmp_path: Path) -> None:
    plain, dithered = tmp_path / "p.png", tmp_path / "d.png"
    assert run(str(photo), "-k", "4", "-o", str(plain)).exit_code == 0
    assert run(str(photo), "-k", "4", "--dither", "-o", str(dithered)).exit_code == 0
    assert plain.read_bytes() != dithered.read_bytes()
    assert len(palette_of(dithered)) <= 4


def test_lab_space_option(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "lab.png"
    result = run(str(photo), "-k", "8", "--space", "lab", "-o", str(out), "--json", "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["results"][0]["space"] == "lab"


@pytest.mark.slow
def test_sample_flower_k16(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "flower.png"
    result = run(str(samples / "flower.jpg"), "-k", "16", "-o", str(out), "--json", "-")
    assert result.exit_code == 0
    record = json.loads(result.stdout)["results"][0]
    assert record["k_used"] == 16
    assert record["psnr"] > 28.5 and record["ssim"] > 0.85
    assert record["output_bytes"] < record["input_bytes"]

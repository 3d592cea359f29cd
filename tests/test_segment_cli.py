"""`kmimg segment` as a user runs it: outputs, naming, JSON, overwrite policy, errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app

runner = CliRunner()
ALL_SUFFIXES = ["-contours.png", "-cutout.png", "-labels.png", "-mask-0.png", "-mask-1.png", "-seg.png"]


def run(*args: str, input: bytes | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["segment", *args], input=input)


def scene(seed: int = 0) -> np.ndarray:
    """A 50x70 yellow disc on noisy blue, with a known foreground."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:50, 0:70]
    disc = (y - 25) ** 2 + (x - 35) ** 2 < 15**2
    image = np.where(disc[..., None], [220, 200, 40], [40, 60, 140]).astype(np.float64)
    return np.clip(image + rng.normal(0, 15, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def photo(write_png) -> Path:  # type: ignore[no-untyped-def]
    path: Path = write_png(scene(), "photo.png")
    return path


def read(path: Path) -> tuple[str, np.ndarray]:
    with Image.open(path) as image:
        return image.mode, np.asarray(image)


def test_help_has_an_example() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Example: kmimg segment" in result.output


def test_default_outputs_next_to_input(photo: Path) -> None:
    result = run(str(photo))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    names = sorted(p.name for p in photo.parent.glob("photo-*.png"))
    assert names == ["photo-contours.png", "photo-cutout.png", "photo-seg.png"]


def test_every_output_with_json(photo: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    result = run(str(photo), "--emit", "all", "--out-dir", str(out_dir), "--json", "-")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out_dir.iterdir()) == ["photo" + s for s in ALL_SUFFIXES]
    document = json.loads(result.stdout)
    assert document["schema"] == "kmimg.segment"
    assert document["schema_version"] == 2
    assert document["failures"] == []
    (record,) = document["results"]
    assert (record["input"], record["width"], record["height"], record["k"]) == (str(photo), 70, 50, 2)
    assert record["outputs"] == {
        "seg": str(out_dir / "photo-seg.png"),
        "labels": str(out_dir / "photo-labels.png"),
        "masks": [str(out_dir / "photo-mask-0.png"), str(out_dir / "photo-mask-1.png")],
        "cutout": str(out_dir / "photo-cutout.png"),
        "contours": str(out_dir / "photo-contours.png"),
    }
    assert record["background"] == [0]
    background, disc = record["clusters"]
    assert background["background"] is True and disc["background"] is False
    assert background["border_share"] == 1.0 and disc["border_share"] == 0.0
    assert disc["regions"] == 1
    assert disc["bbox"]["width"] == pytest.approx(29, abs=2)
    assert disc["bbox"]["height"] == pytest.approx(29, abs=2)
    assert disc["hex"] == "#{:02x}{:02x}{:02x}".format(*disc["rgb"])
    assert disc["rgb"][0] > 180 and disc["rgb"][2] < 100
    assert record["foreground_fraction"] == disc["fraction"]
    assert record["foreground_regions"] == 1
    assert record["cleanup"] == {"min_region": 0, "regions_merged": 0, "pixels_changed": 0}
    assert set(record["options"]) == {"sigma", "max_side", "spatial", "space", "flatten", "background"}

    mode, labels = read(out_dir / "photo-labels.png")
    assert mode == "L" and labels.shape == (50, 70)
    assert [int((labels == i).sum()) for i in range(2)] == [c["pixels"] for c in record["clusters"]]
    masks = [read(out_dir / f"photo-mask-{i}.png") for i in range(2)]
    assert all(m == "L" and a.shape == (50, 70) and set(np.unique(a)) <= {0, 255} for m, a in masks)
    assert ((masks[0][1] == 255) ^ (masks[1][1] == 255)).all()  # each pixel in exactly one mask
    assert np.array_equal(masks[1][1] == 255, labels == 1)
    mode, cutout = read(out_dir / "photo-cutout.png")
    assert mode == "RGBA" and cutout.shape == (50, 70, 4)
    assert np.array_equal(cutout[..., 3] == 255, labels == 1)
    assert (cutout[..., 3][labels == 0] == 0).all()
    mode, seg = read(out_dir / "photo-seg.png")
    assert mode == "RGB" and seg.shape == (50, 70, 3)
    assert tuple(seg[25, 35]) == tuple(disc["rgb"])
    mode, contours = read(out_dir / "photo-contours.png")
    assert mode == "RGB" and contours.shape == (50, 70, 3)


def test_emit_selects_outputs_and_masks_follow_k(photo: Path, tmp_path: Path) -> None:
    result = run(str(photo), "-k", "3", "--emit", "masks,labels", "--out-dir", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "photo-labels.png",
        "photo-mask-0.png",
        "photo-mask-1.png",
        "photo-mask-2.png",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["--emit", "seg,bogus"],
        ["--emit", ""],
        ["--background", "5"],
        ["--background", "0,1"],
        ["--background", "middle"],
        ["--contour-color", "red"],
        ["-k", "1"],
        ["-k", "65"],
        ["--sigma", "-1"],
        ["--max-side", "4"],
        ["--flatten", "2"],
    ],
)
def test_bad_options_are_usage_errors_before_any_work(photo: Path, args: list[str]) -> None:
    result = run(str(photo), *args)
    assert result.exit_code == 2
    assert not list(photo.parent.glob("photo-*.png"))


def test_usage_error_message_is_one_line(photo: Path) -> None:
    result = run(str(photo), "--background", "7")
    assert result.stderr == "kmimg: error: background cluster indices must be between 0 and 1, got '7'\n"


def test_existing_output_needs_force_and_nothing_is_written(photo: Path) -> None:
    contours = photo.with_name("photo-contours.png")
    contours.write_bytes(b"precious")
    result = run(str(photo))
    assert result.exit_code == 1
    assert result.stderr == (f"kmimg: error: {photo}: output {contours} exists (use --force to overwrite)\n")
    assert contours.read_bytes() == b"precious"
    assert not photo.with_name("photo-seg.png").exists()  # checked before any work
    assert run(str(photo), "--force").exit_code == 0
    assert contours.read_bytes().startswith(b"\x89PNG")


def test_two_inputs_writing_the_same_outputs_are_refused(write_png, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write_png(scene(), "a/x.png")
    b = write_png(scene(1), "b/x.png")
    result = run(str(a), str(b), "--out-dir", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "would both write" in result.stderr
    assert not list((tmp_path / "out").glob("*.png"))


def test_batch_goes_on_past_a_bad_file(write_png, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = write_png(scene(), "in/good.png")
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"not a png at all")
    out_dir = tmp_path / "out"
    result = run(str(tmp_path / "in"), "--out-dir", str(out_dir), "--json", "-")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kmimg: error: {bad}: ")
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "good-contours.png",
        "good-cutout.png",
        "good-seg.png",
    ]
    document = json.loads(result.stdout)
    assert [r["input"] for r in document["results"]] == [str(good)]
    assert document["failures"][0]["input"] == str(bad)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.png"), "--out-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == f"kmimg: error: {tmp_path / 'nope.png'}: no such file\n"


def test_same_bytes_for_any_jobs_and_seed_is_deterministic(write_png, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        write_png(scene(i), f"in/{i}.png")
    for jobs in ("1", "2"):
        args = ["--emit", "all", "-k", "3", "--seed", "4", "--out-dir", str(tmp_path / jobs), "-j", jobs]
        assert run(str(tmp_path / "in"), *args).exit_code == 0
    names = sorted(p.name for p in (tmp_path / "1").iterdir())
    assert len(names) == 3 * 7
    for name in names:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def test_stdin_input_is_named_stdin(photo: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["segment", "-", "--emit", "labels", "--out-dir", str(tmp_path / "o")], input=photo.read_bytes()
    )
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["stdin-labels.png"]


def test_grey_and_alpha_inputs(tmp_path: Path) -> None:
    grey = scene()[..., 0]
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    rgba = np.dstack([scene(), np.full((50, 70), 255, dtype=np.uint8)])
    rgba[:, :5, 3] = 128  # a translucent strip stays translucent in the cut-out if foreground
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    result = run(str(tmp_path / "grey.png"), str(tmp_path / "alpha.png"), "--emit", "cutout,labels")
    assert result.exit_code == 0, result.output
    mode, labels = read(tmp_path / "grey-labels.png")
    assert labels.shape == (50, 70) and int(labels.max()) == 1
    mode, cutout = read(tmp_path / "alpha-cutout.png")
    assert mode == "RGBA" and cutout.shape == (50, 70, 4)
    assert set(np.unique(cutout[..., 3])) <= {0, 128, 255}


def test_contour_colour_option(photo: Path, tmp_path: Path) -> None:
    result = run(str(photo), "--emit", "contours", "--contour-color", "#00FF00", "--out-dir", str(tmp_path))
    assert result.exit_code == 0
    _, contours = read(tmp_path / "photo-contours.png")
    green = (contours == (0, 255, 0)).all(axis=2)
    assert 40 < green.sum() < 600  # a ring around the disc, two pixels wide


def test_min_region_is_reported(write_png, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = scene()
    image[2:4, 2:4] = (230, 210, 50)  # a 4-pixel yellow speck
    src = write_png(image, "speck.png")
    args = ["--sigma", "0.5", "--emit", "labels", "--json", "-", "--out-dir", str(tmp_path / "o")]
    record = json.loads(run(str(src), *args, "--min-region", "20").stdout)["results"][0]
    assert record["cleanup"]["min_region"] == 20
    assert record["cleanup"]["regions_merged"] >= 1
    assert record["foreground_regions"] == 1


@pytest.mark.slow
def test_coins_contours_count_24_coins(samples: Path, tmp_path: Path) -> None:
    args = ["-k", "2", "--flatten", "0.15", "--min-region", "64", "--emit", "all", "--json", "-"]
    result = run(str(samples / "coins.png"), *args, "--out-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)["results"][0]
    assert record["foreground_regions"] == 24
    assert record["background"] == [0]
    with Image.open(samples / "coins.png") as original:
        size = original.size
    for name in ("coins-labels.png", "coins-mask-0.png", "coins-mask-1.png", "coins-cutout.png"):
        with Image.open(tmp_path / name) as image:
            assert image.size == size


def test_readme_section_documents_every_option_and_shows_the_picture() -> None:
    import typer.main

    root = Path(__file__).resolve().parent.parent
    section = (root / "docs" / "segment.md").read_text()
    command = typer.main.get_command(app).commands["segment"]  # type: ignore[attr-defined]
    options = [p.opts for p in command.params if p.param_type_name == "option" and "--help" not in p.opts]
    assert len(options) > 15
    for names in options:
        assert any(f"`{name}" in section or f", {name}" in section for name in names), names
    assert "](coins-contours.png)" in section
    assert (root / "docs" / "coins-contours.png").is_file()
    assert "kmimg segment sample_images/coins.png" in section


def test_black_logo_on_transparent_canvas_is_cut_out(tmp_path: Path) -> None:
    y, x = np.mgrid[0:50, 0:70]
    logo = ((y - 25) ** 2 + (x - 30) ** 2 < 12**2) | ((y > 10) & (y < 40) & (x > 48) & (x < 60))
    rgba = np.zeros((50, 70, 4), dtype=np.uint8)  # black, and fully transparent off the logo
    rgba[..., 3] = np.where(logo, 255, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    result = run(str(tmp_path / "logo.png"), "--emit", "cutout", "--json", "-", "--out-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)["results"][0]
    assert record["foreground_fraction"] == round(float(logo.mean()), 6)
    assert record["foreground_regions"] == 2
    transparent = [c for c in record["clusters"] if c["transparent"]]
    assert len(transparent) == 1 and transparent[0]["background"]
    assert transparent[0]["pixels"] == int((~logo).sum())
    _, cutout = read(tmp_path / "logo-cutout.png")
    assert np.array_equal(cutout[..., 3], rgba[..., 3])

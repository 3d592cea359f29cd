"""kmimg as a notebook user meets it (issue 25): a PIL image in, a PIL image out, ``save()``
writing the command line's bytes, and a folder with one broken file quantized from Python on
worker processes and on a real Dask scheduler."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import kmimg
from kmimg.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"
runner = CliRunner()


def cli_bytes(tmp_path: Path, source: Path, *args: str) -> bytes:
    target = tmp_path / "cli" / f"{source.stem}.png"
    result = runner.invoke(app, ["quantize", str(source), *args, "-o", str(target)])
    assert result.exit_code == 0, result.output
    return target.read_bytes()


def test_a_pil_image_in_a_pil_image_out_and_the_cli_bytes(tmp_path: Path) -> None:
    with Image.open(SAMPLES / "chelsea.png") as photo:
        photo.load()
        result = kmimg.quantize(photo, 12, dither=0.5, space="lab")
    preview = result.to_pil()
    assert preview.mode == "P" and preview.size == photo.size
    np.testing.assert_array_equal(np.asarray(preview.convert("RGB")), result.to_rgb())
    assert result.colors_used <= 12 and result.psnr > 25
    result.save(tmp_path / "api.png")
    expected = cli_bytes(tmp_path, SAMPLES / "chelsea.png", "-k", "12", "--dither", "0.5", "--space", "lab")
    assert (tmp_path / "api.png").read_bytes() == expected
    buffer = io.BytesIO()
    result.save(buffer)
    assert buffer.getvalue() == expected


def test_transparency_survives_to_pil_and_save(tmp_path: Path) -> None:
    """An RGBA array in: the P image carries the palette's alpha, and the PNG is the CLI's."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (40, 60, 4), dtype=np.uint8)
    pixels[:10, :, 3] = 0
    pixels[10:20, :, 3] = 128
    Image.fromarray(pixels).save(tmp_path / "rgba.png")
    result = kmimg.quantize(pixels, 8)
    preview = result.to_pil()
    assert "transparency" in preview.info
    np.testing.assert_array_equal(np.asarray(preview.convert("RGBA")), result.to_rgba())
    result.save(tmp_path / "api.png")
    assert (tmp_path / "api.png").read_bytes() == cli_bytes(tmp_path, tmp_path / "rgba.png", "-k", "8")


def test_grey_uint16_and_float_arrays_are_images() -> None:
    with Image.open(SAMPLES / "coins.png") as coins:
        grey = np.asarray(coins)
    assert grey.ndim == 2
    assert kmimg.segment(grey, 2).labels.shape == grey.shape
    as_float = kmimg.quantize(grey / 255.0, 4)
    as_16 = kmimg.quantize(grey.astype(np.uint16) * 257, 4)
    as_8 = kmimg.quantize(grey, 4)
    np.testing.assert_array_equal(as_float.indices, as_8.indices)
    np.testing.assert_array_equal(as_16.indices, as_8.indices)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: kmimg.quantize(np.zeros((4, 4, 3), np.uint8), k=1), ValueError, "k must be"),
        (lambda: kmimg.quantize(np.zeros((4, 4, 3), np.uint8), space="hsv"), ValueError, "space must be"),
        (lambda: kmimg.quantize(np.zeros((4, 4, 3), np.uint8), seed=-1), ValueError, "seed must be"),
        (lambda: kmimg.quantize(np.zeros((4, 4, 3), np.uint8), keep="#zzzzzz"), ValueError, "keep"),
        (lambda: kmimg.quantize(np.zeros((4, 4, 3), np.uint8), k="8"), TypeError, "k must be an integer"),
        (lambda: kmimg.quantize(np.zeros((4, 4, 5), np.uint8)), ValueError, "image must be shaped"),
        (lambda: kmimg.quantize(np.zeros((4, 4), np.int32)), TypeError, "image must be uint8"),
        (lambda: kmimg.quantize(np.full((4, 4), 1.5)), ValueError, "image: float values must be in [0, 1]"),
        (lambda: kmimg.quantize(3.0), TypeError, "image must be a path"),
        (lambda: kmimg.quantize(b"not an image"), kmimg.InputError, "not an image"),
        (lambda: kmimg.segment(np.zeros((9, 9), np.uint8), max_side=4), ValueError, "max_side must be"),
        (lambda: kmimg.palette([], 4), ValueError, "images must hold"),
        (
            lambda: kmimg.quantize(np.full((4, 4, 4), (9, 9, 9, 0), np.uint8), 2, keep="#ff0000,#00ff00"),
            ValueError,
            "^keep lists 2 colours, but k = 2 leaves 1",
        ),
    ],
)
def test_errors_name_the_public_parameter(call: object, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        call()  # type: ignore[operator]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small images and a file that is not one, as a notebook user's folder."""
    found = tmp_path_factory.mktemp("photos") / "photos"
    found.mkdir()
    rng = np.random.default_rng(25)
    y, x = np.mgrid[0:40, 0:56]
    for index in range(4):
        base = np.stack([x * (3 + index), y * 5, (x + y) * 2 + 30 * index], axis=-1).astype(np.float64)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(found / f"photo{index}.png")
    (found / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return found


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Dask scheduler with two single-threaded workers on loopback (tests/test_dask.py's)."""
    pytest.importorskip("distributed")
    from test_dask import _scheduler_address, _scheduler_args, _start, _wait_for, start_workers

    where = tmp_path_factory.mktemp("notebook-cluster")
    info = where / "scheduler.json"
    processes = [_start(_scheduler_args(info), where / "scheduler.log")]
    try:
        _wait_for(where / "scheduler.log", "Scheduler at:", processes[0])
        address = _scheduler_address(info)
        processes += start_workers(address, where, ["a", "b"])
        yield address
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


@pytest.mark.parametrize("where", ["processes", pytest.param("dask", marks=pytest.mark.dask)])
def test_quantize_files_over_a_folder_with_one_broken_file(
    where: str, folder: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    executor = {"jobs": 2} if where == "processes" else {"scheduler": request.getfixturevalue("scheduler")}
    done = kmimg.quantize_files(folder, 8, out_dir=tmp_path / "out", **executor)  # type: ignore[arg-type]
    names = ["broken.png", *(f"photo{i}.png" for i in range(4))]
    assert [Path(result.input).name for result in done] == names
    broken, *good = done
    assert not broken.ok and broken.record is None and broken.outputs == ()
    assert broken.error is not None and "PNG" in broken.error
    reference = runner.invoke(app, ["quantize", str(folder), "-k", "8", "--out-dir", str(tmp_path / "cli")])
    assert reference.exit_code == 1  # the broken file, as here
    for result in good:
        assert result.ok and result.record is not None and result.record.colors_used <= 8
        (output,) = result.outputs
        assert Path(output).read_bytes() == (tmp_path / "cli" / Path(output).name).read_bytes()


def test_palette_files_writes_the_cli_palette_and_none_when_an_input_fails(
    folder: Path, tmp_path: Path
) -> None:
    photos = [folder / f"photo{i}.png" for i in range(4)]
    run = kmimg.palette_files(photos, 6, jobs=2)
    assert run.palette is not None and [Path(r.input).name for r in run.files] == [p.name for p in photos]
    run.palette.save(tmp_path / "api.gpl")
    cli = runner.invoke(
        app, ["palette", *map(str, photos), "-k", "6", "-o", str(tmp_path / "cli" / "api.gpl")]
    )
    assert cli.exit_code == 0, cli.output
    assert (tmp_path / "api.gpl").read_bytes() == (tmp_path / "cli" / "api.gpl").read_bytes()
    assert kmimg.palette(photos, 6).palette.tolist() == run.palette.palette.tolist()
    failed = kmimg.palette_files(folder, 6, jobs=1)
    assert failed.palette is None
    assert [Path(r.input).name for r in failed.files if not r.ok] == ["broken.png"]


def test_segment_and_report_files_write_the_cli_bytes(folder: Path, tmp_path: Path) -> None:
    done = kmimg.segment_files(folder, 3, out_dir=tmp_path / "api", emit="all", min_region=4, jobs=2)
    assert [r.ok for r in done] == [False, True, True, True, True]
    args = ["segment", str(folder), "-k", "3", "--emit", "all", "--min-region", "4"]
    assert runner.invoke(app, [*args, "--out-dir", str(tmp_path / "cli")]).exit_code == 1
    for result in done[1:]:
        assert len(result.outputs) == 4 + 3
        for output in result.outputs:
            assert Path(output).read_bytes() == (tmp_path / "cli" / Path(output).name).read_bytes()
    reports = kmimg.compress_report_files(
        folder, [4, 64], target_psnr=25, write_best=tmp_path / "best", jobs=1
    )
    assert [r.ok for r in reports] == [False, True, True, True, True]
    args = ["compress-report", str(folder), "--ks", "4,64", "--target-psnr", "25", "-j", "2"]
    assert runner.invoke(app, [*args, "--write-best", str(tmp_path / "cli-best")]).exit_code == 1
    written = sorted(output for result in reports for output in result.outputs)
    assert written and [Path(path).name for path in written] == sorted(
        p.name for p in (tmp_path / "cli-best").iterdir()
    )
    for output in written:
        assert Path(output).read_bytes() == (tmp_path / "cli-best" / Path(output).name).read_bytes()
    with pytest.raises(ValueError, match="jobs or scheduler"):
        kmimg.segment_files(folder, jobs=2, scheduler="tcp://127.0.0.1:1")

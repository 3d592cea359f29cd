"""Batch behaviour shared by the commands: stdin among files, --fail-fast with workers, seeds,
outputs that would hit an input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app

runner = CliRunner()


@pytest.fixture
def folder(write_png, noisy_rgb: np.ndarray, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    for name in "bcde":
        write_png(np.roll(noisy_rgb, ord(name), axis=1), f"in/{name}.png")
    (tmp_path / "in" / "a.png").write_bytes(b"not an image")
    return tmp_path / "in"


def test_stdin_among_files_with_workers(folder: Path, tmp_path: Path) -> None:
    data = (folder / "b.png").read_bytes()
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["quantize", "-", str(folder / "c.png"), "--out-dir", str(out), "-j", "2"], input=data
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["c-k16.png", "stdin-k16.png"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_fail_fast_lists_every_file_it_wrote(folder: Path, tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "out"
    args = ["quantize", str(folder), "--out-dir", str(out), "--fail-fast", "-j", jobs, "--json", "-"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    written = sorted(str(p) for p in out.glob("*.png")) if out.exists() else []
    assert sorted(r["output"] for r in document["results"]) == written
    assert len(written) < 4  # it stopped: e.png at least was never started
    assert [Path(f["input"]).name for f in document["failures"]] == ["a.png"]


def test_classify_fail_fast_is_a_plain_failure(folder: Path) -> None:
    result = runner.invoke(app, ["classify", str(folder), "-k", "1", "--fail-fast", "-j", "1"])
    assert result.exit_code == 1
    assert "internal error" not in result.stderr
    assert result.stderr.startswith(f"kmimg: error: {folder / 'a.png'}: ")


@pytest.mark.parametrize("command", ["quantize", "segment", "compress-report", "classify"])
@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_seed_out_of_range_is_a_usage_error(command: str, seed: str, folder: Path) -> None:
    result = runner.invoke(app, [command, str(folder / "b.png"), "--seed", seed])
    assert result.exit_code == 2
    assert "internal error" not in result.output


def test_write_best_never_overwrites_an_input(tmp_path: Path, noisy_rgb: np.ndarray) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    Image.fromarray(noisy_rgb).save(folder / "a.png")
    victim = folder / "a-k4.png"
    Image.fromarray(noisy_rgb[::-1]).save(victim)
    before = victim.read_bytes()
    args = ["compress-report", str(folder / "a.png"), str(victim), "--ks", "2,4", "--write-best", str(folder)]
    result = runner.invoke(app, [*args, "--force", "--target-psnr", "1"])
    assert result.exit_code == 2
    assert "another input" in result.stderr
    assert victim.read_bytes() == before


def test_classify_link_dir_inside_the_input_folder_is_not_read_back(
    write_png,  # type: ignore[no-untyped-def]
    noisy_rgb: np.ndarray,
    tmp_path: Path,
) -> None:
    for i in range(4):
        write_png(np.roll(noisy_rgb, 7 * i, axis=0), f"photos/{i}.png")
    folder = tmp_path / "photos"
    counts = []
    for _ in range(2):
        args = ["classify", str(folder), "-r", "-k", "2", "--link-dir", str(folder / "groups"), "--json", "-"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
        counts.append(len(json.loads(result.stdout)["results"]))
    assert counts == [4, 4]


@pytest.mark.parametrize(
    "args",
    [
        ["quantize", "--json"],
        ["segment", "--json"],
        ["compress-report", "--json"],
        ["compress-report", "--html"],
        ["classify", "--csv"],
    ],
)
def test_summary_file_that_is_a_folder_is_refused_before_work(
    args: list[str], folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    command, option = args
    result = runner.invoke(
        app, [command, str(folder / "b.png"), str(folder / "c.png"), option, str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "is a folder" in result.stderr
    assert not out.exists()


def test_usage_error_creates_no_output_folder(write_png, noisy_rgb: np.ndarray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write_png(noisy_rgb, "a/x.png")
    b = write_png(noisy_rgb, "b/x.png")
    for command, option in (
        ("quantize", "--out-dir"),
        ("segment", "--out-dir"),
        ("compress-report", "--sheet"),
    ):
        out = tmp_path / f"out-{command}"
        result = runner.invoke(app, [command, str(a), str(b), option, str(out)])
        assert result.exit_code == 2, (command, result.stderr)
        assert not out.exists()


@pytest.fixture
def many_small(tmp_path: Path) -> Path:
    """80 small images (several chunks per worker) with a broken file at number 40."""
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(9)
    for i in range(80):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(folder / f"i{i:03d}.png")
    (folder / "i040.png").write_bytes(b"not an image")
    return folder


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_chunked_batches_write_every_file_once_in_order(many_small: Path, tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["quantize", str(many_small), "-k", "4", "--out-dir", str(out), "-j", jobs, "--json", "-"]
    )
    assert result.exit_code == 1, result.stderr  # one failure, the rest written
    document = json.loads(result.stdout)
    names = [Path(record["input"]).name for record in document["results"]]
    assert names == [f"i{i:03d}.png" for i in range(80) if i != 40]
    assert sorted(p.name for p in out.iterdir()) == [f"i{i:03d}-k4.png" for i in range(80) if i != 40]
    assert [Path(f["input"]).name for f in document["failures"]] == ["i040.png"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_fail_fast_stops_inside_a_chunk(many_small: Path, tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "out"
    args = ["quantize", str(many_small), "-k", "4", "--out-dir", str(out), "-j", jobs, "--fail-fast"]
    result = runner.invoke(app, [*args, "--json", "-"])
    assert result.exit_code == 1
    written = sorted(p.name for p in out.iterdir())
    reported = sorted(Path(r["output"]).name for r in json.loads(result.stdout)["results"])
    assert written == reported  # every file written is listed, nothing else was written
    # The chunk holding the broken file stops at it: none of the files after it in that chunk.
    assert "i041-k4.png" not in written
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left

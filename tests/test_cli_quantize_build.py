"""`kmimg quantize` in build scripts (issue 26): `--skip-if-larger` (exit 98), `--ext`, reruns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.cli.frame import ExitCode

runner = CliRunner()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["quantize", *args])


@pytest.fixture
def small_jpeg(tmp_path: Path, noisy_rgb: np.ndarray) -> Path:
    """A tiny JPEG of noise: its 256-colour PNG is bigger than the file."""
    path = tmp_path / "in" / "small.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noisy_rgb).save(path, quality=10)
    return path


@pytest.fixture
def big_png(tmp_path: Path) -> Path:
    """Four flat colours stored uncompressed: any indexed PNG of it is far smaller."""
    path = tmp_path / "in" / "big.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = np.zeros((60, 80, 3), dtype=np.uint8)
    blocks[:30, :40] = (200, 30, 30)
    blocks[30:, 40:] = (20, 90, 200)
    blocks[:30, 40:] = (250, 250, 250)
    Image.fromarray(blocks).save(path, compress_level=0)
    return path


def test_the_exit_codes_are_pngquants() -> None:
    assert ExitCode.SKIPPED_LARGER == 98
    assert ExitCode.QUALITY_TOO_LOW == 99


def test_an_output_not_smaller_is_not_written(small_jpeg: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(str(small_jpeg), "-k", "256", "--skip-if-larger", "--out-dir", str(out), "--json", "-")
    assert result.exit_code == 98, result.output
    assert not (out / "small-k256.png").exists()
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"kmimg: warning: {small_jpeg}: not written: the ")
    assert line.endswith(
        f"would not be smaller than the input ({small_jpeg.stat().st_size:,} bytes; --skip-if-larger)"
    )
    document = json.loads(result.stdout)
    (record,) = document["results"]
    assert record["skipped"] == "larger" and document["failures"] == []
    assert record["output_bytes"] >= record["input_bytes"] == small_jpeg.stat().st_size


def test_without_the_option_it_is_written(small_jpeg: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(str(small_jpeg), "-k", "256", "--out-dir", str(out), "--json", "-")
    assert result.exit_code == 0 and result.stderr == ""
    assert (out / "small-k256.png").exists()
    assert json.loads(result.stdout)["results"][0]["skipped"] is None


def test_a_batch_whose_only_problem_is_size_exits_98(small_jpeg: Path, big_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(str(small_jpeg.parent), "-k", "256", "--skip-if-larger", "--out-dir", str(out))
    assert result.exit_code == 98
    assert sorted(p.name for p in out.iterdir()) == ["big-k256.png"]
    assert len(result.stderr.splitlines()) == 1


def test_a_real_failure_makes_it_1(small_jpeg: Path, big_png: Path, tmp_path: Path) -> None:
    (small_jpeg.parent / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    result = run(
        str(small_jpeg.parent), "-k", "256", "--skip-if-larger", "--out-dir", str(out), "--json", "-"
    )
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert [r["skipped"] for r in document["results"]] == [None, "larger"]
    assert [f["input"] for f in document["failures"]] == [str(small_jpeg.parent / "broken.png")]
    assert (out / "big-k256.png").exists() and not (out / "small-k256.png").exists()


def test_an_explicit_output_is_left_as_it_was(small_jpeg: Path, tmp_path: Path) -> None:
    out = tmp_path / "kept.png"
    out.write_bytes(b"before")
    assert run(str(small_jpeg), "-k", "256", "--skip-if-larger", "-o", str(out)).exit_code == 98
    assert out.read_bytes() == b"before"


def test_standard_output_gets_nothing(small_jpeg: Path) -> None:
    result = runner.invoke(
        app, ["quantize", "-", "-k", "256", "--skip-if-larger"], input=small_jpeg.read_bytes()
    )
    assert result.exit_code == 98
    assert result.stdout_bytes == b""


def test_ext_replaces_the_k_suffix(big_png: Path) -> None:
    result = run(str(big_png), "-k", "4", "--ext", "-min.png")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in big_png.parent.iterdir()) == ["big-min.png", "big.png"]


def test_ext_png_on_a_png_needs_force(big_png: Path) -> None:
    before = big_png.read_bytes()
    result = run(str(big_png), "-k", "4", "--ext", ".png")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"kmimg: error: {big_png}: output {big_png} is the input itself"
    assert big_png.read_bytes() == before


def test_ext_png_force_rewrites_in_place(big_png: Path, small_jpeg: Path) -> None:
    before = big_png.stat().st_size
    result = run(str(big_png.parent), "-k", "4", "--ext", ".png", "--force")
    assert result.exit_code == 0, result.output
    # No file added or lost but the JPEG's PNG; no temporary file left.
    assert sorted(p.name for p in big_png.parent.iterdir()) == ["big.png", "small.jpg", "small.png"]
    with Image.open(big_png) as image:
        assert image.mode == "P" and image.size == (80, 60)
    assert big_png.stat().st_size < before


def test_in_place_with_skip_if_larger_leaves_the_file_byte_identical(small_jpeg: Path) -> None:
    png = small_jpeg.with_suffix(".png")
    Image.open(small_jpeg).save(png, optimize=True)  # already small: no 256-colour PNG beats it
    before = png.read_bytes()
    result = run(str(png), "-k", "256", "--ext", ".png", "--force", "--skip-if-larger")
    assert result.exit_code == 98, result.output
    assert png.read_bytes() == before


@pytest.mark.parametrize("args", [["--ext", "a/b"], ["--ext", ""], ["--ext", ".png", "-o", "x.png"]])
def test_bad_ext_is_a_usage_error(big_png: Path, args: list[str]) -> None:
    result = run(str(big_png), *args)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1


@pytest.fixture
def folder(tmp_path: Path, samples: Path) -> Path:
    """A folder of two photos, as a build script's assets."""
    path = tmp_path / "f2"
    path.mkdir()
    for name in ("chelsea.png", "coins.png"):
        (path / name).write_bytes((samples / name).read_bytes())
    return path


def contents(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_a_rerun_without_force_is_refused_with_a_hint(folder: Path) -> None:
    assert run(str(folder), "-k", "8").exit_code == 0
    result = run(str(folder), "-k", "8")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("; to rerun, add --force or --skip-existing")


def test_a_rerun_with_force_skips_the_outputs_as_inputs(folder: Path) -> None:
    assert run(str(folder), "-k", "8").exit_code == 0
    first = contents(folder)
    result = run(str(folder), "-k", "8", "--force", "--json", "-")
    assert result.exit_code == 0, result.output
    assert contents(folder) == first  # rewritten from their sources, the same bytes; no -k8-k8.png
    assert sorted(first) == ["chelsea-k8.png", "chelsea.png", "coins-k8.png", "coins.png"]
    document = json.loads(result.stdout)
    assert [r["input"] for r in document["results"]] == [
        str(folder / "chelsea.png"),
        str(folder / "coins.png"),
    ]
    assert document["skipped"] == [
        {
            "input": str(folder / "chelsea-k8.png"),
            "reason": f"it is the output of {folder / 'chelsea.png'} (same naming rule)",
        },
        {
            "input": str(folder / "coins-k8.png"),
            "reason": f"it is the output of {folder / 'coins.png'} (same naming rule)",
        },
    ]
    first_output, first_input = folder / "chelsea-k8.png", folder / "chelsea.png"
    assert result.stderr.splitlines()[0] == (
        f"kmimg: notice: {first_output}: skipped: it is the output of {first_input} (same naming rule)"
    )
    assert run(str(folder), "-k", "8", "--force", "-q").stderr == ""


def test_skip_existing_resumes_a_stopped_batch(folder: Path) -> None:
    assert run(str(folder / "coins.png"), "-k", "8").exit_code == 0  # the batch stopped after one file
    done = (folder / "coins-k8.png").stat().st_mtime_ns
    result = run(str(folder), "-k", "8", "--skip-existing", "--json", "-")
    assert result.exit_code == 0, result.output
    assert (folder / "coins-k8.png").stat().st_mtime_ns == done  # left alone
    assert (folder / "chelsea-k8.png").exists()
    document = json.loads(result.stdout)
    assert [r["input"] for r in document["results"]] == [str(folder / "chelsea.png")]
    assert {s["input"]: s["reason"] for s in document["skipped"]}[str(folder / "coins.png")] == (
        f"output {folder / 'coins-k8.png'} exists (--skip-existing)"
    )
    again = run(str(folder), "-k", "8", "--skip-existing")
    assert again.exit_code == 0 and "kmimg: notice:" in again.stderr


def test_force_and_skip_existing_conflict(folder: Path) -> None:
    result = run(str(folder), "--force", "--skip-existing")
    assert result.exit_code == 2
    assert result.stderr.strip() == "kmimg: error: give --force or --skip-existing, not both"


def test_in_place_run_twice(folder: Path) -> None:
    for attempt in range(2):
        before = contents(folder)
        result = run(str(folder), "-k", "64", "--ext", ".png", "--force", "--skip-if-larger")
        assert result.exit_code in (0, 98), result.output
        after = contents(folder)
        assert sorted(after) == sorted(before) == ["chelsea.png", "coins.png"]  # nothing added or lost
        for name, data in after.items():
            if data != before[name]:
                with Image.open(folder / name) as image:
                    assert image.mode == "P"
        if attempt == 1:
            assert result.exit_code == 98 and after == before


def test_skip_existing_with_an_explicit_output(big_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "done.png"
    out.write_bytes(b"finished before")
    result = run(str(big_png), "-o", str(out), "--skip-existing", "--json", "-")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == b"finished before"
    document = json.loads(result.stdout)
    assert document["results"] == [] and document["skipped"][0]["input"] == str(big_png)
    out.unlink()
    assert run(str(big_png), "-o", str(out), "--skip-existing").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PNG")

"""Faults and odd inputs through ``kmimg quantize`` as a user runs it (issue 6).

Each bad input must give exactly one ``kmimg: error: <path>: <reason>`` line, exit 1, no
traceback, no output file, no temporary file left, and any pre-existing output unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import corpus
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app

runner = CliRunner()


def quantize(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["quantize", *args])


def leftovers(folder: Path) -> list[Path]:
    """Temporary files write_atomic would leave behind if it failed to clean up."""
    return [p for p in folder.rglob("*") if p.name.endswith(".kmimg-tmp") or p.name.startswith(".")]


def assert_one_error(result, path: Path | str, fragment: str = "") -> None:  # type: ignore[no-untyped-def]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"kmimg: error: {path}: "), lines[0]
    assert fragment in lines[0]
    assert "Traceback" not in result.output


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("name", sorted(corpus.bad_files()))
def test_bad_input_one_line_no_output(name: str, tmp_path: Path) -> None:
    (path,) = corpus.write_all(tmp_path / "in", {name: corpus.bad_files()[name]}).values()
    out = tmp_path / "out"
    result = quantize(str(path), "--out-dir", str(out))
    assert result.exit_code == 1
    assert_one_error(result, path)
    assert not out.exists()  # the folder is made only when a file goes into it


@pytest.mark.parametrize("name", ["random.png", "truncated-two-thirds.jpg", "bomb-30000.png", "nan.tif"])
def test_bad_input_leaves_an_existing_output_byte_for_byte(name: str, tmp_path: Path) -> None:
    (path,) = corpus.write_all(tmp_path, {name: corpus.bad_files()[name]}).values()
    target = tmp_path / "keep.png"
    original = corpus.pillow_bytes(Image.new("RGB", (3, 3), (1, 2, 3)), "PNG")
    target.write_bytes(original)
    for args in (["-o", str(target)], ["--out-dir", str(tmp_path / "o"), "--force"]):
        if args[0] == "--out-dir":
            target = tmp_path / "o" / (path.stem + "-k16.png")
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(original)
        result = quantize(str(path), *args)
        assert result.exit_code == 1
        assert_one_error(result, path)
        assert target.read_bytes() == original
    assert leftovers(tmp_path) == []


def test_allow_truncated_processes_with_one_warning(tmp_path: Path) -> None:
    files = {n: d for n, d in corpus.bad_files().items() if n in ("truncated-end.jpg", "truncated-third.png")}
    paths = corpus.write_all(tmp_path / "in", files)
    out = tmp_path / "out"
    refused = quantize(str(tmp_path / "in"), "--out-dir", str(out), "-k", "4")
    assert refused.exit_code == 1
    assert all("--allow-truncated decodes what is there" in line for line in refused.stderr.splitlines())
    result = quantize(str(tmp_path / "in"), "--out-dir", str(out), "-k", "4", "--allow-truncated", "-j", "2")
    assert result.exit_code == 0, result.stderr
    lines = sorted(result.stderr.splitlines())
    assert [line.split(": ")[:3] for line in lines] == [
        ["kmimg", "warning", str(paths["truncated-end.jpg"])],
        ["kmimg", "warning", str(paths["truncated-third.png"])],
    ]
    assert sorted(p.name for p in out.iterdir()) == ["truncated-end-k4.png", "truncated-third-k4.png"]


def test_directory_named_like_an_image_and_dangling_links(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "fake.png").mkdir(parents=True)
    (folder / "gone.png").symlink_to(tmp_path / "missing.png")
    Image.new("RGB", (4, 4), (9, 9, 9)).save(folder / "real.png")
    out = tmp_path / "out"
    result = quantize(str(folder), "--out-dir", str(out))
    assert result.exit_code == 0, result.stderr  # a folder scan takes regular files only
    assert [p.name for p in out.iterdir()] == ["real-k16.png"]
    explicit = quantize(str(folder / "gone.png"), "--out-dir", str(out))
    assert explicit.exit_code == 1
    assert_one_error(explicit, folder / "gone.png", "broken symbolic link")


def test_an_output_that_is_a_dangling_link_exists_until_forced(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(folder / "real.png")
    (out / "real-k16.png").symlink_to(tmp_path / "missing.png")
    refused = quantize(str(folder), "--out-dir", str(out))
    assert refused.exit_code == 1
    assert_one_error(refused, folder / "real.png", "exists (use --force to overwrite)")
    forced = quantize(str(folder), "--out-dir", str(out), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert (out / "real-k16.png").is_file() and not (out / "real-k16.png").is_symlink()


def test_empty_folder_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    result = quantize(str(tmp_path), "--out-dir", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr == f"kmimg: error: {tmp_path}: no images\n"


# ----------------------------------------------------------------------------- odd but valid inputs


@pytest.mark.parametrize("name", sorted(corpus.good_files()))
def test_odd_valid_inputs_are_processed(name: str, tmp_path: Path) -> None:
    (path,) = corpus.write_all(tmp_path / "in", {name: corpus.good_files()[name]}).values()
    out = tmp_path / "out.png"
    result = quantize(str(path), "-k", "8", "-o", str(out), "--json", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    record = json.loads(result.stdout)["results"][0]
    with Image.open(out) as image:
        assert image.format == "PNG" and image.mode == "P"
        assert image.size == (record["width"], record["height"])


@pytest.mark.parametrize("colours", [1, 3])
def test_few_colours_at_k16_are_lossless_without_duplicate_entries(colours: int, tmp_path: Path) -> None:
    palette = np.array([[200, 30, 40], [10, 250, 90], [0, 0, 255]], np.uint8)[:colours]
    pixels = palette[np.arange(60).reshape(6, 10) % colours]
    source = tmp_path / "few.png"
    Image.fromarray(pixels).save(source)
    out = tmp_path / "few-k16.png"
    result = quantize(str(source), "-k", "16", "-o", str(out), "--json", "-")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)["results"][0]
    assert record["k_used"] == colours
    assert record["psnr"] is None  # lossless
    with Image.open(out) as image:
        entries = np.frombuffer(image.palette.tobytes(), np.uint8).reshape(-1, 3)
        decoded = np.asarray(image.convert("RGB"))
    assert len(entries) == colours
    assert len({tuple(e) for e in entries}) == colours
    assert np.array_equal(decoded, pixels)


@pytest.mark.parametrize("dither", ["--no-dither", "--dither"])
def test_fully_transparent_image_stays_invisible(dither: str, tmp_path: Path) -> None:
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., :3] = [255, 0, 255]
    source = tmp_path / "ghost.png"
    Image.fromarray(rgba, "RGBA").save(source)
    out = tmp_path / "ghost-k4.png"
    assert quantize(str(source), "-k", "4", dither, "-o", str(out)).exit_code == 0
    with Image.open(out) as image:
        decoded = np.asarray(image.convert("RGBA"))
    assert (decoded[..., 3] == 0).all()
    assert not (decoded[..., :3] == [255, 0, 255]).all(axis=-1).any()


@pytest.mark.parametrize("dither", ["--no-dither", "--dither"])
def test_hidden_colours_stay_hidden_next_to_visible_ones(dither: str, tmp_path: Path) -> None:
    rgba = np.dstack([corpus.gradient(40, 40), np.full((40, 40), 255, np.uint8)])
    rgba[:, :20] = [255, 0, 255, 0]
    rgba[:20, 20:, 3] = 100
    source = tmp_path / "hidden.png"
    Image.fromarray(rgba, "RGBA").save(source)
    out = tmp_path / "out.png"
    assert quantize(str(source), "-k", "4", dither, "-o", str(out)).exit_code == 0
    with Image.open(out) as image:
        decoded = np.asarray(image.convert("RGBA"))
    assert (decoded[:, :20, 3] == 0).all()
    assert sorted(np.unique(decoded[..., 3])) == [0, 100, 255]
    assert not (decoded[..., :3] == [255, 0, 255]).all(axis=-1).any()


@pytest.mark.parametrize("name", ["with space.png", "ünïcödé 写真.png", "-dash.png", "-"])
def test_awkward_names(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Image.fromarray(corpus.gradient()).save(tmp_path / name, format="PNG")
    argument = f"./{name}" if name == "-" else name
    result = runner.invoke(app, ["quantize", "-k", "4", "--", argument])
    assert result.exit_code == 0, result.stderr
    expected = tmp_path / f"{Path(name).stem}-k4.png"
    with Image.open(expected) as image:
        assert image.size == (16, 12)


# ----------------------------------------------------------------------------- outputs


def test_output_equal_to_input_through_links_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    Image.fromarray(corpus.gradient()).save(source)
    before = source.read_bytes()
    (tmp_path / "hard.png").hardlink_to(source)
    (tmp_path / "soft.png").symlink_to(source)
    for alias in ("hard.png", "soft.png"):
        result = quantize(str(source), "-o", str(tmp_path / alias))
        assert result.exit_code == 2
        assert "is the input itself" in result.stderr
    assert source.read_bytes() == before


def test_output_equal_to_another_input_is_refused_before_work(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "a-k16.png"
    Image.fromarray(corpus.gradient()).save(a)
    b.write_bytes(a.read_bytes())
    before = b.read_bytes()
    result = quantize(str(b), str(a))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"kmimg: error: {a}: output {b} is another input")
    assert result.stderr.rstrip().endswith("to rerun, add --force or --skip-existing")
    assert b.read_bytes() == before
    assert not (tmp_path / "a-k16-k16.png").exists()  # nothing was done, not even for b
    # With --force (a rerun), b is a's output by the naming rule: skipped as an input, rewritten.
    result = quantize(str(b), str(a), "--force")
    assert result.exit_code == 0
    assert result.stderr.strip() == f"kmimg: notice: {b}: skipped: it is the output of {a} (same naming rule)"
    assert b.read_bytes() != before
    assert not (tmp_path / "a-k16-k16.png").exists()


def test_two_inputs_one_output_nothing_written(tmp_path: Path) -> None:
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        Image.fromarray(corpus.gradient()).save(tmp_path / sub / "same.png")
    out = tmp_path / "out"
    result = quantize(
        str(tmp_path / "x" / "same.png"), str(tmp_path / "y" / "same.png"), "--out-dir", str(out)
    )
    assert result.exit_code == 2
    assert "would both write" in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_output_folder_under_a_file_is_refused_before_work(tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    Image.fromarray(corpus.gradient()).save(source)
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    for args in (["--out-dir", str(blocker / "sub")], ["-o", str(blocker / "sub" / "x.png")]):
        result = quantize(str(source), *args)
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("kmimg: error: ")
        assert "is not a folder" in result.stderr
    assert blocker.read_text() == "I am a file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder_is_refused_before_work(tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    Image.fromarray(corpus.gradient()).save(source)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = quantize(str(source), "--out-dir", str(locked))
        assert result.exit_code == 1
        assert result.stderr == f"kmimg: error: {locked}: folder is not writable\n"
    finally:
        locked.chmod(0o700)


def test_output_path_that_is_a_folder_fails_that_input(tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    Image.fromarray(corpus.gradient()).save(source)
    (tmp_path / "a-k16.png").mkdir()
    result = quantize(str(source), "--force")
    assert result.exit_code == 1
    assert_one_error(result, source, "is a folder")


# ----------------------------------------------------------------------------- batches


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """1,000 tiny PNGs, four of them broken (each a different way)."""
    folder = tmp_path_factory.mktemp("thousand")
    rng = np.random.default_rng(1000)
    broken = {
        "img0100.png": b"",
        "img0350.png": b"GIF89a garbage",
        "img0600.png": corpus.bad_files()["truncated-two-thirds.png"],
        "img0999.png": corpus.bad_files()["bomb-30000.png"],
    }
    for i in range(1000):
        name = f"img{i:04d}.png"
        if name in broken:
            (folder / name).write_bytes(broken[name])
        else:
            Image.fromarray(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)).save(folder / name)
    return folder, sorted(broken)


def test_batch_of_a_thousand_with_bad_files(thousand: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, broken = thousand
    out = tmp_path / "out"
    summary = tmp_path / "summary.json"
    result = quantize(str(folder), "--out-dir", str(out), "-k", "2", "-j", "2", "--json", str(summary))
    assert result.exit_code == 1
    document = json.loads(summary.read_text())
    assert sorted(Path(f["input"]).name for f in document["failures"]) == broken
    assert len(document["results"]) == 996
    errors = result.stderr.splitlines()
    assert sorted(Path(line.split(": ")[2]).name for line in errors) == broken
    assert len(list(out.iterdir())) == 996
    assert not any((out / (Path(name).stem + "-k2.png")).exists() for name in broken)
    assert leftovers(out) == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_fail_fast_stops_at_the_first_failure(
    thousand: tuple[Path, list[str]], tmp_path: Path, jobs: str
) -> None:
    folder, broken = thousand
    out = tmp_path / "out"
    result = quantize(str(folder), "--out-dir", str(out), "-k", "2", "-j", jobs, "--fail-fast", "--json", "-")
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert Path(result.stderr.split(": ")[2]).name == broken[0]
    document = json.loads(result.stdout)
    assert len(document["failures"]) == 1
    written = len(list(out.iterdir()))
    assert written < 996
    if jobs == "1":
        assert written == 100  # img0000 ... img0099, in order
    assert leftovers(out) == []


# ----------------------------------------------------------------------------- warnings


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_library_warnings_become_one_line_per_input(jobs: str, tmp_path: Path) -> None:
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00\x12\x01\x03\x00\x01\x00\x00\x00"
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (200, 10 * i, 10)).save(folder / f"e{i}.jpg", exif=exif)
    result = quantize(str(folder), "--out-dir", str(tmp_path / "out"), "-k", "2", "-j", jobs)
    assert result.exit_code == 0
    lines = sorted(result.stderr.splitlines())
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert line.startswith(f"kmimg: warning: {folder / f'e{i}.jpg'}: Corrupt EXIF data.")


@pytest.mark.parametrize("which", ["input", "output"])
def test_json_summary_may_not_overwrite_an_input_or_an_output(which: str, tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    Image.fromarray(corpus.gradient()).save(source)
    before = source.read_bytes()
    clash = source if which == "input" else tmp_path / "a-k16.png"
    result = quantize(str(source), "--json", str(clash))
    assert result.exit_code == 2
    assert result.stderr == f"kmimg: error: --json {clash} would overwrite {clash}\n"
    assert source.read_bytes() == before
    assert names_in(tmp_path) == ["a.png"]


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_bad_standard_input_is_one_line_and_no_output() -> None:
    result = runner.invoke(app, ["quantize", "-"], input=corpus.bad_files()["random.png"])
    assert result.exit_code == 1
    assert result.stderr == "kmimg: error: <stdin>: not a supported image format (no decoder recognises it)\n"
    assert result.stdout_bytes == b""


def test_a_name_starting_with_a_dash_needs_double_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Image.fromarray(corpus.gradient()).save("-x.png")
    assert runner.invoke(app, ["quantize", "-x.png"]).exit_code == 2  # taken for an option
    assert runner.invoke(app, ["quantize", "--", "-x.png"]).exit_code == 0
    assert (tmp_path / "-x-k16.png").exists()


def test_recursive_scan_does_not_follow_a_symlink_loop(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)
    Image.fromarray(corpus.gradient()).save(folder / "sub" / "a.png")
    out = tmp_path / "out"
    result = quantize(str(folder), "-r", "--out-dir", str(out), "-k", "2")
    assert result.exit_code == 0, result.stderr
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.png")] == ["sub/a-k2.png"]


def test_an_output_name_too_long_is_refused_before_work(tmp_path: Path) -> None:
    source = tmp_path / ("n" * 250 + ".png")
    Image.fromarray(corpus.gradient()).save(source)
    result = quantize(str(source))
    assert result.exit_code == 1
    assert_one_error(result, source, "is longer than 255 bytes")
    assert names_in(tmp_path) == [source.name]


def test_a_newline_in_a_file_name_stays_one_error_line(tmp_path: Path) -> None:
    source = tmp_path / "two\nlines.png"
    source.write_bytes(b"not an image")
    result = quantize(str(source), "--out-dir", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"kmimg: error: {tmp_path}/two\\nlines.png: a text file")

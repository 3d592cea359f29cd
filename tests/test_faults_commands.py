"""The shared fault handling seen through every other command: segment, compress-report and
classify inherit one error line per bad input, exit 1, no output for it and no temporary file
(issue 6; quantize has its own, fuller tests in test_faults_cli.py). Folders without images
are named the same way by all four commands, quantize included (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import corpus
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app

runner = CliRunner()

BAD = ("random.png", "truncated-third.png", "bomb-30000.png", "drawing.png")


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Three good images and four bad ones in one folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((corpus.gradient(24, 32) // (i + 1)).astype(np.uint8)).save(folder / f"good{i}.png")
    corpus.write_all(folder, {name: corpus.bad_files()[name] for name in BAD})
    return folder


def bad_lines(stderr: str) -> list[str]:
    return sorted(
        Path(line.split(": ")[2]).name for line in stderr.splitlines() if line.startswith("kmimg: error: ")
    )


def no_temporary_files(root: Path) -> bool:
    return not any(p.name.startswith(".") or p.name.endswith(".kmimg-tmp") for p in root.rglob("*"))


def test_segment(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["segment", str(mixed), "--out-dir", str(out), "-j", "2", "--json", "-"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert bad_lines(result.stderr) == sorted(BAD)
    assert len(result.stderr.splitlines()) == len(BAD)
    assert sorted({p.name.split("-")[0] for p in out.iterdir()}) == ["good0", "good1", "good2"]
    failures = json.loads(result.stdout)["failures"]
    assert sorted(Path(f["input"]).name for f in failures) == sorted(BAD)
    assert no_temporary_files(tmp_path)


def test_compress_report(mixed: Path, tmp_path: Path) -> None:
    best = tmp_path / "best"
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    args = ["--ks", "2,4", "--target-psnr", "1", "--write-best", str(best), "--sheet", str(sheets)]
    result = runner.invoke(app, ["compress-report", str(mixed), *args, "--json", "-", "-j", "2"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert bad_lines(result.stderr) == sorted(BAD)
    assert sorted(p.name.split("-")[0] for p in best.iterdir()) == ["good0", "good1", "good2"]
    assert sorted(p.name.split("-")[0] for p in sheets.iterdir()) == ["good0", "good1", "good2"]
    failures = json.loads(result.stdout)["failures"]
    assert sorted(Path(f["input"]).name for f in failures) == sorted(BAD)
    assert no_temporary_files(tmp_path)


def test_classify(mixed: Path, tmp_path: Path) -> None:
    summary = tmp_path / "groups.json"
    result = runner.invoke(app, ["classify", str(mixed), "-k", "2", "--json", str(summary)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert bad_lines(result.stderr) == sorted(BAD)
    document = json.loads(summary.read_text())
    assert sorted(Path(f["input"]).name for f in document["failures"]) == sorted(BAD)
    assert no_temporary_files(tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        ["segment", "--out-dir", "{out}"],
        ["compress-report", "--ks", "2,4", "--write-best", "{out}", "--target-psnr", "1"],
    ],
    ids=["segment", "compress-report"],
)
@pytest.mark.parametrize("name", ["empty.png", "random.png", "truncated-end.jpg", "bomb-1e10.png", "nan.tif"])
def test_one_corrupt_input_one_line_no_output(command: list[str], name: str, tmp_path: Path) -> None:
    (source,) = corpus.write_all(tmp_path / "in", {name: corpus.bad_files()[name]}).values()
    out = tmp_path / "out"
    out.mkdir()
    args = [arg.replace("{out}", str(out)) for arg in command]
    result = runner.invoke(app, [args[0], str(source), *args[1:]])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"kmimg: error: {source}: ")
    assert list(out.iterdir()) == []
    assert no_temporary_files(tmp_path)


def test_existing_outputs_survive_a_bad_input(tmp_path: Path) -> None:
    (source,) = corpus.write_all(tmp_path, {"shot.png": corpus.bad_files()["truncated-end.png"]}).values()
    out = tmp_path / "out"
    out.mkdir()
    kept = out / "shot-seg.png"
    kept.write_bytes(b"previous result")
    result = runner.invoke(app, ["segment", str(source), "--out-dir", str(out), "--force"])
    assert result.exit_code == 1
    assert kept.read_bytes() == b"previous result"
    assert sorted(p.name for p in out.iterdir()) == ["shot-seg.png"]


TRUNCATED = "truncated-two-thirds.jpg"


@pytest.fixture
def truncated(tmp_path: Path) -> Path:
    return corpus.write_all(tmp_path / "cut", {TRUNCATED: corpus.bad_files()[TRUNCATED]})[TRUNCATED]


COMMANDS = {
    "segment": lambda src, out: ["segment", str(src), "--out-dir", str(out)],
    "compress-report": lambda src, out: [
        "compress-report",
        str(src),
        "--ks",
        "2,4",
        "--target-psnr",
        "1",
        "--write-best",
        str(out),
    ],
    "classify": lambda src, out: ["classify", str(src), "-k", "1", "--csv", str(out / "groups.csv")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_allow_truncated_in_every_command(command: str, truncated: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    refused = runner.invoke(app, COMMANDS[command](truncated, out))
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"kmimg: error: {truncated}: ")
    accepted = runner.invoke(app, [*COMMANDS[command](truncated, out), "--allow-truncated"])
    assert accepted.exit_code == 0, accepted.stderr
    assert accepted.stderr.startswith("kmimg: warning: ")
    assert any(out.iterdir())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_json_summary_may_not_overwrite_an_input(command: str, mixed: Path, tmp_path: Path) -> None:
    victim = mixed / "good0.png"
    before = victim.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(app, [*COMMANDS[command](mixed, out), "--json", str(victim)])
    assert result.exit_code == 2
    assert "would overwrite" in result.stderr
    assert victim.read_bytes() == before


FOLDER_COMMANDS = {
    "quantize": lambda src, out: ["quantize", *src, "--out-dir", str(out)],
    "segment": lambda src, out: ["segment", *src, "--out-dir", str(out)],
    "compress-report": lambda src, out: ["compress-report", *src, "--ks", "2", "--write-best", str(out)],
    "classify": lambda src, out: ["classify", *src, "-k", "1", "--link-dir", str(out)],
}


@pytest.fixture
def imageless(tmp_path: Path) -> Path:
    """A folder with nothing a scan takes: a text file, a hidden image, an image one level down."""
    folder = tmp_path / "no images here"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("not an image")
    Image.new("RGB", (4, 4)).save(folder / ".hidden.png")
    Image.new("RGB", (4, 4)).save(folder / "sub" / "deeper.png")
    return folder


@pytest.mark.parametrize("command", sorted(FOLDER_COMMANDS))
def test_a_folder_without_images_is_named(command: str, imageless: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    empty = tmp_path / "empty"
    empty.mkdir()
    for folders, named in (([imageless], imageless), ([empty, imageless], empty)):
        result = runner.invoke(app, FOLDER_COMMANDS[command]([str(f) for f in folders], out))
        assert result.exit_code == 2
        assert result.stderr == f"kmimg: error: {named}: no images\n"
        assert not out.exists()
    # -r finds the image below; an empty folder next to images is no error.
    found = runner.invoke(app, [*FOLDER_COMMANDS[command]([str(imageless), str(empty)], out), "-r"])
    assert found.exit_code == 0, found.stderr
    assert any(out.iterdir())

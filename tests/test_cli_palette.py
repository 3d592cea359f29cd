"""`kmimg palette` and `kmimg quantize --palette / --shared-palette / --palette-out / --keep` as a
user runs them: files, identical PLTEs, order and --jobs independence, errors and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from terminal import run_kmimg
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.io import load_image

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def frames(tmp_path: Path) -> list[Path]:
    """Five overlapping crops of one photo, as frames of a scene; the last has a transparent hole."""
    rgb = load_image(ROOT / "sample_images" / "coffee.png").rgb
    folder = tmp_path / "frames"
    folder.mkdir()
    paths = []
    for i, x in enumerate((0, 40, 80, 120, 160)):
        crop = np.ascontiguousarray(rgb[100:196, x : x + 128])
        path = folder / f"f{i}.png"
        Image.fromarray(crop).save(path)
        paths.append(path)
    rgba = np.dstack([np.asarray(Image.open(paths[-1])), np.full((96, 128), 255, dtype=np.uint8)])
    rgba[:8, :8, 3] = 0
    Image.fromarray(rgba, "RGBA").save(paths[-1])
    return paths


def plte(path: Path) -> bytes:
    raw = path.read_bytes()
    at = raw.index(b"PLTE")
    length = int.from_bytes(raw[at - 4 : at], "big")
    return raw[at + 4 : at + 4 + length]


def test_palette_writes_each_format_and_reads_back(frames: list[Path], tmp_path: Path) -> None:
    hexes = run("palette", *frames, "-k", "12", "-o", "-").stdout.split()
    assert len(hexes) == 12 and all(h.startswith("#") and len(h) == 7 for h in hexes)
    for ext in ("gpl", "act", "hex", "txt", "json"):
        out = tmp_path / f"p.{ext}"
        result = run("palette", *frames, "-k", "12", "-o", out)
        assert result.exit_code == 0, result.stderr
        mapped = tmp_path / f"m-{ext}.png"
        assert run("quantize", frames[0], "--palette", out, "-o", mapped).exit_code == 0
        assert [f"#{plte(mapped)[i : i + 3].hex()}" for i in range(0, 36, 3)] == hexes
    assert (tmp_path / "p.gpl").read_text().startswith("GIMP Palette\nName: p\nColumns: 12\n#\n")
    assert len((tmp_path / "p.act").read_bytes()) == 772


def test_palette_json_and_swatch(frames: list[Path], tmp_path: Path) -> None:
    swatch = tmp_path / "swatch.png"
    result = run("palette", *frames, "-k", "6", "--keep", "#e60012", "--swatch", swatch, "--json", "-")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == "kmimg.palette" and document["k_used"] == 6
    assert [entry["index"] for entry in document["palette"]] == list(range(6))
    assert [entry["hex"] for entry in document["palette"] if entry["kept"]] == ["#e60012"]
    assert abs(sum(entry["fraction"] for entry in document["palette"]) - 1) < 1e-4
    assert len(document["inputs"]) == 5 and document["failures"] == []
    with Image.open(swatch) as image:
        assert image.mode == "RGB" and image.width > 6 * 100


@pytest.mark.parametrize("weight", ["pixels", "images"])
def test_palette_ignores_input_order_and_jobs(frames: list[Path], tmp_path: Path, weight: str) -> None:
    first = run("palette", *frames, "-k", "16", "--weight", weight, "-o", "-", "-j", "1").stdout
    shuffled = [frames[i] for i in (3, 0, 4, 2, 1)]
    assert run("palette", *shuffled, "-k", "16", "--weight", weight, "-o", "-", "-j", "2").stdout == first


def test_weighting_by_images_changes_the_palette(frames: list[Path], tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.fromarray(np.full((400, 400, 3), (250, 10, 200), dtype=np.uint8)).save(big)
    by_pixels = run("palette", big, *frames, "-k", "4", "-o", "-").stdout.split()
    by_images = run("palette", big, *frames, "-k", "4", "--weight", "images", "-o", "-").stdout.split()
    assert by_pixels[0] == "#fa0ac8" and by_images != by_pixels


def test_shared_palette_gives_every_output_the_same_plte(frames: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    saved = tmp_path / "shared.gpl"
    args = ("quantize", *frames, "-k", "16", "--palette-out", saved, "--out-dir", out, "--json", "-")
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    outputs = sorted(out.glob("*.png"))
    assert len(outputs) == 5 and len({plte(p) for p in outputs}) == 1
    assert len(plte(outputs[0])) == 16 * 3  # 15 colours and the transparent entry (last input)
    records = json.loads(result.stdout)["results"]
    assert {r["palette_source"] for r in records} == {"shared"}
    # The saved palette applied to a new frame gives the same PLTE: the indices mean the same.
    again = tmp_path / "again.png"
    Image.fromarray(np.asarray(Image.open(frames[4]).convert("RGBA"))).save(tmp_path / "new.png")
    assert run("quantize", tmp_path / "new.png", "--palette", saved, "-o", again).exit_code == 0
    assert plte(again) == plte(outputs[0])
    shuffled = tmp_path / "shuffled"
    run("quantize", *reversed(frames), "-k", "16", "--shared-palette", "--out-dir", shuffled, "-j", "2")
    for path in outputs:
        assert (shuffled / path.name).read_bytes() == path.read_bytes()


def test_keep_colours_are_bit_exact_in_plte_and_pixels(frames: list[Path], tmp_path: Path) -> None:
    rgb = np.asarray(Image.open(frames[0])).copy()
    rgb[:10, :10] = (230, 0, 18)
    source = tmp_path / "branded.png"
    Image.fromarray(rgb).save(source)
    out = tmp_path / "out.png"
    assert run("quantize", source, "-k", "8", "--keep", "#E60012,#0750ff", "-o", out).exit_code == 0
    with Image.open(out) as image:
        palette = np.array(image.getpalette()).reshape(-1, 3)[:8].tolist()
        indices = np.asarray(image)
    assert [230, 0, 18] in palette and [7, 80, 255] in palette
    assert palette[int(indices[0, 0])] == [230, 0, 18] and len(np.unique(indices[:10, :10])) == 1


def test_palette_from_a_png_keeps_its_plte_order(frames: list[Path], tmp_path: Path) -> None:
    strip = Image.new("P", (3, 1))
    strip.putpalette([255, 255, 0, 0, 0, 0, 200, 30, 30])
    strip.putdata([2, 1, 0])
    strip_path = tmp_path / "strip.png"
    strip.save(strip_path)
    out = tmp_path / "out.png"
    result = run("quantize", frames[0], "--palette", strip_path, "-o", out, "--dither", "--json", "-")
    assert result.exit_code == 0, result.stderr
    assert plte(out)[:9] == bytes([255, 255, 0, 0, 0, 0, 200, 30, 30])
    record = json.loads(result.stdout)["results"][0]
    assert record["palette_source"] == str(strip_path)
    assert record["k_requested"] == len(plte(strip_path)) // 3 == record["k_used"]


def test_transparent_entry_after_the_files_colours(frames: list[Path], tmp_path: Path) -> None:
    brand = tmp_path / "brand.hex"
    brand.write_text("#e60012\n#ffffff\n#101010\n")
    out = tmp_path / "out"
    assert run("quantize", frames[3], frames[4], "--palette", brand, "--out-dir", out).exit_code == 0
    assert plte(out / "f3-brand.png") == bytes.fromhex("e60012ffffff101010")
    assert plte(out / "f4-brand.png") == bytes.fromhex("e60012ffffff101010000000")
    full = tmp_path / "full.hex"
    full.write_text("".join(f"#{i:02x}0000\n" for i in range(256)))
    result = run("quantize", frames[3], frames[4], "--palette", full, "--out-dir", tmp_path / "o2", "-f")
    assert result.exit_code == 1
    assert "f4.png: has transparent pixels, but the palette already holds 256 colours" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--palette", "{tmp}/bad.gpl"), "bad.gpl: line 3: expected 'R G B [name]' with values 0-255, got"),
        (("--palette", "{tmp}/empty.hex"), "empty.hex: holds no colours"),
        (("--palette", "{tmp}/nope.gpl"), "nope.gpl: no such file"),
        (("--palette", "{tmp}/many.txt"), "many.txt: holds 300 colours; a PNG palette holds at most 256"),
        (("--palette", "{tmp}/p.doc"), "p.doc: not a palette file name"),
        (("--keep", "#12345"), "--keep: '#12345' is not a colour (expected #rrggbb or #rrggbbaa)"),
        (("-k", "2", "--keep", "#000000,#ffffff,#ff0000"), "--keep lists 3 colours, more than -k 2"),
        (("--palette", "{tmp}/ok.hex", "--shared-palette"), "--palette and --shared-palette cannot"),
        (("--palette", "{tmp}/ok.hex", "-k", "4"), "--palette and -k cannot be combined"),
        (("--palette-out", "{tmp}/p.png"), "p.png: not a palette file name"),
    ],
)
def test_errors_exit_2_with_one_line_before_any_work(
    frames: list[Path], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "bad.gpl").write_text("GIMP Palette\n#\n1 2 x\n")
    (tmp_path / "empty.hex").write_text("\n")
    (tmp_path / "many.txt").write_text("".join(f"#{i:06x}\n" for i in range(300)))
    (tmp_path / "ok.hex").write_text("#000000\n")
    (tmp_path / "p.doc").write_text("#000000\n")
    out = tmp_path / "out"
    result = run("quantize", *frames, *(a.replace("{tmp}", str(tmp_path)) for a in args), "--out-dir", out)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kmimg: error: ") and message in lines[0], lines
    assert not out.exists()


def test_palette_command_errors(frames: list[Path], tmp_path: Path) -> None:
    result = run("palette", *frames, "-o", tmp_path / "p.png")
    assert result.exit_code == 2 and "p.png: not a palette file name" in result.stderr
    result = run("palette", *frames, "-o", "-", "--json", "-")
    assert result.exit_code == 2 and "cannot share standard output" in result.stderr
    result = run("palette", *frames, "--swatch", frames[0])
    assert result.exit_code == 2 and f"--swatch {frames[0]} would overwrite {frames[0]}" in result.stderr
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnonsense")
    out = tmp_path / "p.gpl"
    result = run("palette", *frames, broken, "-o", out, "--json", "-")
    assert result.exit_code == 1 and "broken.png" in result.stderr and not out.exists()
    document = json.loads(result.stdout)
    assert document["palette"] == [] and [f["input"] for f in document["failures"]] == [str(broken)]
    assert len(document["inputs"]) == 5


def test_terminal_shows_the_colours_as_blocks(frames: list[Path]) -> None:
    code, shown = run_kmimg("palette", str(frames[0]), "-k", "3", "-o", "-")
    assert code == 0
    lines = [line for line in shown.splitlines() if "%" in line]
    assert len(lines) == 3 and "\x1b[" in shown  # coloured blocks
    assert all(re.search(r"#[0-9a-f]{6}\s+\d+\.\d %", line) for line in lines)
    code, piped = run_kmimg("palette", str(frames[0]), "-k", "3", "-o", "-", stderr_tty=False)
    assert code == 0 and piped == ""


def test_shared_palette_with_kept_colours_and_transparency(frames: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    saved = tmp_path / "shared.json"
    args = (
        "quantize",
        *frames,
        "-k",
        "8",
        "--keep",
        "#e60012,#ffffff",
        "--palette-out",
        saved,
        "--out-dir",
        out,
    )
    assert run(*args).exit_code == 0
    entries = {plte(p) for p in out.glob("*.png")}
    assert len(entries) == 1
    colors = [entry[i : i + 3].hex() for entry in entries for i in range(0, 24, 3)]
    assert "e60012" in colors and "ffffff" in colors and colors[-1] == "000000"  # the transparent entry
    saved_colors = [c["hex"] for c in json.loads(saved.read_text())["colors"]]
    assert [f"#{c}" for c in colors[:7]] == saved_colors
    result = run(
        "quantize", *frames, "-k", "2", "--keep", "#e60012,#ffffff", "--shared-palette", "--out-dir", out
    )
    assert result.exit_code == 2 and "-k 2 leaves 1 beside the transparent entry" in result.stderr

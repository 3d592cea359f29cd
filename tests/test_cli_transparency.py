"""Transparency control on the command line (issue 24): --transparent-index, --alpha-threshold,
Adobe colour tables with and without a transparent slot, JASC-PAL palettes, and the one
nearest-colour rule of --palette (--nearest)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.errors import PaletteError
from kmimg.palettes.files import PaletteFormat, format_palette, palette_from_rgb, parse_palette

runner = CliRunner()


def run(*args: object):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def _sprite(tmp_path: Path) -> Path:
    """A 32x32 sprite: a red-to-blue disc with an anti-aliased edge on a transparent canvas."""
    y, x = np.mgrid[0:32, 0:32]
    d = np.hypot(x - 15.5, y - 15.5)
    alpha = np.clip((12 - d) * 128, 0, 255).astype(np.uint8)
    rgb = np.stack([255 - x * 8, np.full_like(x, 40), x * 8], axis=-1).astype(np.uint8)
    path = tmp_path / "sprite.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    return path


def _indexed(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The indices and the RGBA palette of an indexed PNG."""
    image = Image.open(path)
    assert image.mode == "P"
    rgb = np.array(image.getpalette()[: 3 * (int(np.asarray(image).max()) + 1)], dtype=np.uint8).reshape(
        -1, 3
    )
    alpha = np.full(len(rgb), 255, dtype=np.uint8)
    transparency = image.info.get("transparency")
    if isinstance(transparency, bytes):
        alpha[: len(transparency)] = np.frombuffer(transparency, dtype=np.uint8)[: len(rgb)]
    elif isinstance(transparency, int) and transparency < len(rgb):
        alpha[transparency] = 0
    return np.asarray(image), np.column_stack([rgb, alpha])


def test_transparent_index_puts_the_transparent_entry_at_that_slot(tmp_path: Path) -> None:
    sprite = _sprite(tmp_path)
    for slot in (0, 5):
        out = tmp_path / f"slot{slot}.png"
        done = run("quantize", sprite, "-k", 8, "--transparent-index", slot, "-o", out)
        assert done.exit_code == 0, done.output
        indices, palette = _indexed(out)
        assert palette[slot, 3] == 0
        clear = np.asarray(Image.open(sprite).convert("RGBA"))[..., 3] == 0
        assert (indices[clear] == slot).all()


def test_transparent_index_holds_for_images_without_transparency(tmp_path: Path) -> None:
    """Game engines read slot 0 as transparent: an opaque image keeps it free too."""
    rgb = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "opaque.png")
    done = run(
        "quantize", tmp_path / "opaque.png", "-k", 4, "--transparent-index", 0, "-o", tmp_path / "o.png"
    )
    assert done.exit_code == 0, done.output
    indices, palette = _indexed(tmp_path / "o.png")
    assert palette[0, 3] == 0 and (indices != 0).all()


def test_transparent_index_must_be_a_slot(tmp_path: Path) -> None:
    sprite = _sprite(tmp_path)
    done = run("quantize", sprite, "-k", 8, "--transparent-index", 8, "-o", tmp_path / "x.png")
    assert done.exit_code == 2 and "--transparent-index 8 is not a slot of -k 8 colours" in done.output
    assert not (tmp_path / "x.png").exists()


def _act(colors: np.ndarray, transparent: int | None) -> bytes:
    body = np.zeros((256, 3), dtype=np.uint8)
    body[: len(colors)] = colors
    if transparent is None:
        return body.tobytes()  # the 768-byte form: 256 colours, no count, no transparent slot
    return body.tobytes() + struct.pack(">HH", len(colors), transparent)


def test_768_byte_act_needs_a_transparent_index_for_transparent_pixels(tmp_path: Path) -> None:
    colours = np.random.default_rng(2).integers(0, 256, (256, 3), dtype=np.uint8)
    colours[1], colours[2] = (255, 0, 0), (0, 0, 255)
    (tmp_path / "full.act").write_bytes(_act(colours, None))
    sprite = _sprite(tmp_path)
    failed = run("quantize", sprite, "--palette", tmp_path / "full.act", "-o", tmp_path / "a.png")
    assert failed.exit_code == 1 and "--transparent-index" in failed.output
    done = run(
        "quantize",
        sprite,
        "--palette",
        tmp_path / "full.act",
        "--transparent-index",
        0,
        "-o",
        tmp_path / "a.png",
    )
    assert done.exit_code == 0, done.output
    indices, palette = _indexed(tmp_path / "a.png")
    assert len(palette) <= 256 and palette[0, 3] == 0
    alpha = np.asarray(Image.open(sprite).convert("RGBA"))[..., 3]
    assert (indices[alpha < 128] == 0).all()  # binary alpha at 128: the palette has no translucent colour
    assert (indices[alpha >= 128] != 0).all()


def test_772_byte_act_names_its_transparent_slot(tmp_path: Path) -> None:
    colours = np.array([[255, 0, 0], [9, 9, 9], [0, 0, 255]], dtype=np.uint8)
    (tmp_path / "three.act").write_bytes(_act(colours, 1))
    assert parse_palette((tmp_path / "three.act").read_bytes(), source="three.act").colors[1, 3] == 0
    sprite = _sprite(tmp_path)
    done = run("quantize", sprite, "--palette", tmp_path / "three.act", "-o", tmp_path / "b.png")
    assert done.exit_code == 0, done.output
    indices, palette = _indexed(tmp_path / "b.png")
    assert palette[1, 3] == 0
    alpha = np.asarray(Image.open(sprite).convert("RGBA"))[..., 3]
    assert (indices[alpha == 0] == 1).all()


def test_alpha_threshold_makes_alpha_binary(tmp_path: Path) -> None:
    sprite = _sprite(tmp_path)
    done = run("quantize", sprite, "-k", 8, "--alpha-threshold", 200, "-o", tmp_path / "c.png")
    assert done.exit_code == 0, done.output
    indices, palette = _indexed(tmp_path / "c.png")
    assert set(palette[:, 3].tolist()) <= {0, 255}
    alpha = np.asarray(Image.open(sprite).convert("RGBA"))[..., 3]
    assert (palette[indices][..., 3] == np.where(alpha >= 200, 255, 0)).all()


def test_jasc_pal_round_trip_and_use(tmp_path: Path) -> None:
    palette = palette_from_rgb([[255, 0, 0], [0, 255, 0], [0, 0, 255], [250, 250, 250]])
    data = format_palette(palette, PaletteFormat.PAL)
    assert data == b"JASC-PAL\r\n0100\r\n4\r\n255 0 0\r\n0 255 0\r\n0 0 255\r\n250 250 250\r\n"
    np.testing.assert_array_equal(parse_palette(data, source="x.pal").colors, palette.colors)
    (tmp_path / "rgbw.pal").write_bytes(data)
    rgb = np.random.default_rng(3).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    done = run("quantize", tmp_path / "in.png", "--palette", tmp_path / "rgbw.pal", "-o", tmp_path / "p.png")
    assert done.exit_code == 0, done.output
    _, written = _indexed(tmp_path / "p.png")
    np.testing.assert_array_equal(written[: len(palette)], palette.colors)
    out = tmp_path / "shared.pal"
    assert run("palette", tmp_path / "in.png", "-k", 4, "-o", out).exit_code == 0
    assert out.read_bytes().startswith(b"JASC-PAL\r\n0100\r\n4\r\n")


def test_riff_palettes_are_read_and_damaged_pal_files_named() -> None:
    quads = bytes([1, 2, 3, 0, 250, 0, 10, 0])
    riff = (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + 4 + 8)
        + b"PAL data"
        + struct.pack("<IHH", 4 + 8, 0x300, 2)
        + quads
    )
    np.testing.assert_array_equal(
        parse_palette(riff, source="w.pal").colors, [[1, 2, 3, 255], [250, 0, 10, 255]]
    )
    with pytest.raises(PaletteError, match=r"x\.pal: says it holds 3 colours, but lists 2"):
        parse_palette(b"JASC-PAL\n0100\n3\n1 2 3\n4 5 6\n", source="x.pal")
    with pytest.raises(PaletteError, match=r"y\.pal: line 4: expected 'R G B'"):
        parse_palette(b"JASC-PAL\n0100\n1\n1 2 300\n", source="y.pal")


@pytest.mark.parametrize("nearest", ["plain", "luma"])
def test_one_nearest_rule_at_every_palette_size(tmp_path: Path, nearest: str) -> None:
    """Onto a palette of 32 colours (where the old rule switched) every pixel takes the entry
    nearest by the rule asked for: checked against a brute-force search."""
    rng = np.random.default_rng(4)
    colours = rng.integers(0, 256, (32, 3), dtype=np.uint8)
    (tmp_path / "p32.hex").write_text("".join(f"#{r:02x}{g:02x}{b:02x}\n" for r, g, b in colours.tolist()))
    rgb = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    done = run(
        "quantize",
        tmp_path / "in.png",
        "--palette",
        tmp_path / "p32.hex",
        "--nearest",
        nearest,
        "-o",
        tmp_path / "n.png",
    )
    assert done.exit_code == 0, done.output
    indices, _ = _indexed(tmp_path / "n.png")
    d = rgb.reshape(-1, 1, 3).astype(np.float64) - colours[None].astype(np.float64)
    distance = (d**2).sum(axis=2)
    if nearest == "luma":
        luma = d @ np.array([0.299, 0.587, 0.114])
        distance = distance + 0.9 * luma**2
    best = distance.min(axis=1)
    chosen = distance[np.arange(len(distance)), indices.reshape(-1)]
    np.testing.assert_allclose(chosen, best, rtol=1e-6)


def test_nearest_luma_is_refused_in_lab(tmp_path: Path) -> None:
    sprite = _sprite(tmp_path)
    done = run("quantize", sprite, "--space", "lab", "--nearest", "luma", "-o", tmp_path / "x.png")
    assert done.exit_code == 2 and "--nearest luma" in done.output


def test_shared_palette_of_translucent_sprites_keeps_the_transparent_slot(tmp_path: Path) -> None:
    """A shared palette fitted across translucent sprites (the transparent entry a fixed centre
    of the shared fit) puts the transparent entry at --transparent-index in every output."""
    first = _sprite(tmp_path)
    rgba = np.asarray(Image.open(first))
    second = tmp_path / "second.png"
    Image.fromarray(np.ascontiguousarray(rgba[:, ::-1]), "RGBA").save(second)
    out = tmp_path / "out"
    done = run(
        "quantize", first, second, "-k", 8, "--shared-palette", "--transparent-index", 0, "--out-dir", out
    )
    assert done.exit_code == 0, done.output
    plte = [Image.open(out / f"{name}-k8.png").getpalette() for name in ("sprite", "second")]
    assert plte[0] == plte[1]
    for name, source in (("sprite", first), ("second", second)):
        indices, palette = _indexed(out / f"{name}-k8.png")
        assert palette[0, 3] == 0
        assert (indices[np.asarray(Image.open(source))[..., 3] == 0] == 0).all()
        assert ((palette[:, 3] > 0) & (palette[:, 3] < 255)).any()  # translucent entries were fitted


def test_library_takes_the_transparency_options() -> None:
    import kmimg

    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[2:6, 2:6] = (200, 30, 30, 128)
    rgba[3:5, 3:5] = (20, 30, 230, 255)
    result = kmimg.quantize(rgba, 4, transparent_index=0, alpha_threshold=100)
    assert result.palette[0, 3] == 0 and set(result.palette[:, 3].tolist()) == {0, 255}
    with pytest.raises(ValueError, match="nearest"):
        kmimg.quantize(rgba, 4, nearest="closest")

"""Palette files: round trips per format, the layouts GIMP and Photoshop write, and each error."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from kmimg.errors import PaletteError, UsageError
from kmimg.palettes.files import (
    Palette,
    PaletteFormat,
    format_act,
    format_gpl,
    format_hex,
    format_of,
    format_palette,
    palette_from_pixels,
    palette_from_rgb,
    parse_act,
    parse_gpl,
    parse_hex,
    parse_json,
    parse_keep,
    parse_palette,
    png_palette,
)

BRAND = palette_from_rgb(
    [[230, 0, 18], [0, 0, 0], [255, 255, 255], [12, 200, 99], [230, 0, 18]], title="Brand"
)


@pytest.mark.parametrize("kind", list(PaletteFormat))
def test_round_trip_keeps_colours_and_order(kind: PaletteFormat) -> None:
    back = parse_palette(format_palette(BRAND, kind), source=f"brand.{kind.value}", kind=kind)
    np.testing.assert_array_equal(back.colors, BRAND.colors)


opaque_palettes = st.integers(1, 256).flatmap(lambda n: arrays(np.uint8, (n, 3)))


@settings(max_examples=30, deadline=None)
@given(rgb=opaque_palettes, kind=st.sampled_from(list(PaletteFormat)))
def test_any_opaque_palette_round_trips(rgb: np.ndarray, kind: PaletteFormat) -> None:
    palette = palette_from_rgb(rgb)
    back = parse_palette(format_palette(palette, kind), source="p", kind=kind)
    np.testing.assert_array_equal(back.colors, palette.colors)


@settings(max_examples=30, deadline=None)
@given(rgba=st.integers(1, 256).flatmap(lambda n: arrays(np.uint8, (n, 4))))
def test_alpha_round_trips_in_json_and_hex(rgba: np.ndarray) -> None:
    palette = Palette(rgba)
    for kind in (PaletteFormat.JSON, PaletteFormat.HEX):
        back = parse_palette(format_palette(palette, kind), source="p", kind=kind)
        np.testing.assert_array_equal(back.colors, rgba)


def test_names_round_trip_in_gpl_and_json() -> None:
    named = Palette(BRAND.colors[:2], names=("Signal red", "Ink"), title="Brand")
    for kind in (PaletteFormat.GPL, PaletteFormat.JSON):
        back = parse_palette(format_palette(named, kind), source="p", kind=kind)
        assert back.names == ("Signal red", "Ink") and back.title == "Brand"


def test_gpl_is_written_as_gimp_writes_it() -> None:
    text = format_gpl(palette_from_rgb([[230, 0, 18], [7, 80, 255]], title="Brand")).decode()
    assert text == "GIMP Palette\nName: Brand\nColumns: 2\n#\n230   0  18\t#e60012\n  7  80 255\t#0750ff\n"


def test_gpl_reads_what_gimp_inkscape_krita_and_aseprite_write() -> None:
    gimp = b"GIMP Palette\nName: Tango\nColumns: 3\n#\n252 233  79\tButter 1\n# a comment\n\n 0 0 0\n"
    palette = parse_gpl(gimp, source="tango.gpl")
    assert palette.colors.tolist() == [[252, 233, 79, 255], [0, 0, 0, 255]]
    assert palette.names == ("Butter 1", "") and palette.title == "Tango"
    inkscape = b"GIMP Palette\r\nName: Inkscape default\r\n#\r\n  0   0   0  Black (#000000)\r\n"
    assert parse_gpl(inkscape, source="i.gpl").names == ("Black (#000000)",)
    aseprite = b"GIMP Palette\nChannels: RGBA\n#\n 10  20  30 128\tHalf\n"
    assert parse_gpl(aseprite, source="a.gpl").colors.tolist() == [[10, 20, 30, 128]]


def test_act_is_772_bytes_as_photoshop_writes_it() -> None:
    raw = format_act(palette_from_rgb([[1, 2, 3], [4, 5, 6], [7, 8, 9]]))
    assert len(raw) == 772
    assert raw[:9] == bytes(range(1, 10)) and raw[9:768] == bytes(759)
    assert struct.unpack(">HH", raw[768:]) == (3, 0xFFFF)


def test_act_transparent_index_both_ways() -> None:
    with_clear = Palette(np.array([[9, 9, 9, 255], [0, 0, 0, 0]], dtype=np.uint8))
    raw = format_act(with_clear)
    assert struct.unpack(">HH", raw[768:]) == (2, 1)
    np.testing.assert_array_equal(parse_act(raw, source="a.act").colors, with_clear.colors)


def test_act_of_768_bytes_holds_256_colours() -> None:
    raw = bytes(range(256)) * 3
    palette = parse_act(raw, source="old.act")
    assert len(palette) == 256 and palette.colors[0].tolist() == [0, 1, 2, 255]


def test_hex_reads_every_spelling_and_comments() -> None:
    raw = b"; paint.net palette\n// made by hand\n# colours\n#E60012\n0750ff red-ish\nFF102030\n#10203080\n\n"
    palette = parse_hex(raw, source="p.txt")
    assert palette.colors.tolist() == [
        [230, 0, 18, 255], [7, 80, 255, 255], [16, 32, 48, 255], [16, 32, 48, 128],
    ]  # fmt: skip
    assert format_hex(palette_from_rgb([[230, 0, 18]])) == b"#e60012\n"


def test_json_reads_lists_objects_and_quantize_records() -> None:
    assert parse_json(b'["#e60012", "0750ff"]', source="p.json").colors[:, :3].tolist() == [
        [230, 0, 18], [7, 80, 255],
    ]  # fmt: skip
    document = {"palette": [{"index": 0, "hex": "#e60012", "rgb": [230, 0, 18], "alpha": 200}]}
    assert parse_json(json.dumps(document).encode(), source="q.json").colors.tolist() == [[230, 0, 18, 200]]
    assert parse_json(b'{"colors": [{"rgb": [1, 2, 3, 4]}]}', source="p.json").colors.tolist() == [
        [1, 2, 3, 4]
    ]


def test_format_follows_the_extension() -> None:
    kinds = [format_of(p) for p in ("a.GPL", "b.act", "c.hex", "d.txt", "E.Json")]
    assert [kind.value for kind in kinds] == ["gpl", "act", "hex", "hex", "json"]
    with pytest.raises(PaletteError, match=r"x\.png: not a palette file name"):
        format_of("x.png")


@pytest.mark.parametrize(
    ("parse", "raw", "message"),
    [
        (parse_gpl, b"JASC-PAL\n0100\n", r"p: line 1: not a GIMP palette"),
        (
            parse_gpl,
            b"GIMP Palette\n#\n1 2 3\n1 2 300 big\n",
            r"p: line 4: expected 'R G B \[name\]'.*'1 2 300 big'",
        ),
        (parse_gpl, b"GIMP Palette\n1 2\n", r"p: line 2: expected"),
        (parse_gpl, b"GIMP Palette\nName: empty\n#\n", r"p: holds no colours"),
        (parse_gpl, b"GIMP Palette\nChannels: CMYK\n", r"p: line 2: unknown channels 'CMYK'"),
        (parse_hex, b"#e60012\nblue\n", r"p: line 2: expected a colour such as #ff8800, got 'blue'"),
        (parse_hex, b"#e6001\n", r"p: line 1: expected a colour"),
        (parse_hex, b"; nothing\n\n", r"p: holds no colours"),
        (parse_hex, b"#000000\n" * 257, r"p: holds 257 colours; a PNG palette holds at most 256"),
        (parse_act, bytes(700), r"p: not an Adobe colour table \(768 or 772 bytes, this file has 700\)"),
        (parse_act, bytes(768) + struct.pack(">HH", 0, 0xFFFF), r"p: holds no colours"),
        (parse_act, bytes(768) + struct.pack(">HH", 300, 0xFFFF), r"p: says it holds 300 colours"),
        (parse_json, b'{"colors": [', r"p: line 1: not valid JSON"),
        (parse_json, b'{"colours": []}', r'p: expected a list of colours or an object with a "colors" list'),
        (parse_json, b'["#e60012", "#zz0000"]', r"p: colour 2: '#zz0000' is not a colour"),
        (parse_json, b'[{"rgb": [1, 2, 256]}]', r"p: colour 1: 256 is not a value 0-255"),
        (parse_json, b'[{"alpha": 3}]', r'p: colour 1: expected "hex"'),
        (parse_json, b"[]", r"p: holds no colours"),
    ],
)
def test_each_malformed_file_is_a_palette_error(parse, raw: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PaletteError, match=message) as caught:
        parse(raw, source="p")
    assert isinstance(caught.value, UsageError)  # the CLI exits 2
    assert "\n" not in str(caught.value)


def test_formats_without_alpha_refuse_translucent_colours() -> None:
    translucent = Palette(np.array([[1, 2, 3, 128]], dtype=np.uint8))
    with pytest.raises(
        PaletteError, match=r"out\.gpl: a GIMP palette cannot hold colours that are not opaque"
    ):
        format_gpl(translucent, source="out.gpl")
    with pytest.raises(PaletteError, match="cannot hold translucent colours"):
        format_act(translucent, source="out.act")


def test_keep_colours_parse_and_errors() -> None:
    assert parse_keep("#E60012, 0750ff,#e60012").colors[:, :3].tolist() == [[230, 0, 18], [7, 80, 255]]
    for bad, message in [
        ("red", r"--keep: 'red' is not a colour \(expected #rrggbb"),
        ("#e60012,", r"--keep: '' is not a colour"),
        ("#e6001280", r"--keep: '#e6001280' is not opaque"),
    ]:
        with pytest.raises(PaletteError, match=message):
            parse_keep(bad)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_indexed_png_gives_its_plte_in_order_with_trns() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([9, 8, 7, 1, 2, 3, 200, 100, 50])
    image.info["transparency"] = bytes([255, 0])
    raw = _png(image)
    palette = png_palette(raw, source="p.png")
    assert palette is not None
    assert palette.colors.tolist()[:3] == [[9, 8, 7, 255], [1, 2, 3, 0], [200, 100, 50, 255]]


def test_rgb_png_colours_in_order_of_first_appearance() -> None:
    rgb = np.array([[[5, 5, 5], [1, 1, 1], [5, 5, 5]], [[9, 9, 9], [1, 1, 1], [2, 2, 2]]], dtype=np.uint8)
    assert png_palette(_png(Image.fromarray(rgb)), source="p.png") is None
    palette = palette_from_pixels(rgb, None, source="p.png")
    assert palette.colors[:, 0].tolist() == [5, 1, 9, 2]
    many = np.arange(300 * 3, dtype=np.uint16).reshape(1, 300, 3).astype(np.uint8)
    many[0, :, 0] = np.arange(300) % 256
    many[0, :, 1] = np.arange(300) // 256
    with pytest.raises(PaletteError, match=r"p\.png: has 300 colours"):
        palette_from_pixels(many, None, source="p.png")

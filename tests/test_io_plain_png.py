"""The plain-PNG reader (:func:`kmimg.io.png.read_plain_png`): Pillow's pixels for the files it
takes, ``None`` (Pillow decides) for everything else, and no Pillow import on its way."""

from __future__ import annotations

import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import corpus
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kmimg.errors import InputError, KmimgWarning
from kmimg.io import decode, encode_png, inspect_png, load_image
from kmimg.io.png import PNG_SIGNATURE, read_plain_png

BIG = 1 << 40


def pillow_result(raw: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """What load_image gave before the plain reader: Pillow's decoding, kmimg's conversion."""
    facts = inspect_png(raw, BIG)
    rgb, alpha, _, _ = decode._decode(raw, "PNG", BIG, png=facts, lenient=False)
    return rgb, alpha


def assert_same_picture(raw: bytes) -> None:
    picture = load_image("image.png", data=raw)
    rgb, alpha = pillow_result(raw)
    np.testing.assert_array_equal(picture.rgb, rgb)
    assert (picture.alpha is None) == (alpha is None)
    if alpha is not None:
        np.testing.assert_array_equal(picture.alpha, alpha)


images = st.integers(1, 4).flatmap(
    lambda channels: st.tuples(st.integers(1, 9), st.integers(1, 9)).flatmap(
        lambda size: arrays(np.uint8, (*size, channels), elements=st.integers(0, 255))
    )
)


@settings(max_examples=60, deadline=None)
@given(images, st.integers(0, 9))
def test_every_filter_and_layout_decodes_to_pillows_pixels(samples: np.ndarray, level: int) -> None:
    channels = samples.shape[2]
    # kmimg's writer picks any of the five filters per row; the corpus writer uses filter 0
    written = encode_png(samples if channels != 2 else samples[..., :1], compress_level=level)
    for raw in (written, corpus.png_bytes(samples)):
        assert read_plain_png(raw) is not None
        assert_same_picture(raw)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_pillows_own_files_take_the_plain_path(mode: str) -> None:
    from PIL import Image

    pixels = corpus.gradient(23, 31)
    image = Image.fromarray(pixels).convert(mode)
    if mode in ("LA", "RGBA"):
        image.putalpha(Image.fromarray((np.arange(23 * 31) % 256).astype(np.uint8).reshape(23, 31)))
    for params in ({}, {"optimize": True}, {"compress_level": 0}):
        raw = corpus.pillow_bytes(image, "PNG", **params)
        assert read_plain_png(raw) is not None
        assert_same_picture(raw)


def with_chunk(raw: bytes, kind: bytes, body: bytes) -> bytes:
    """``raw`` with a chunk inserted right after IHDR."""
    at = len(PNG_SIGNATURE) + 25
    return raw[:at] + corpus.chunk(kind, body) + raw[at:]


PLAIN = corpus.png_bytes(corpus.gradient(6, 7))


def not_plain() -> dict[str, bytes]:
    pixels = corpus.gradient(6, 7)
    data = b"".join(b"\x00" + row.tobytes() for row in pixels)
    ihdr = corpus.ihdr(7, 6, 8, 2)
    end = corpus.chunk(b"IEND", b"")

    def idat(body: bytes) -> bytes:
        return PNG_SIGNATURE + ihdr + corpus.chunk(b"IDAT", body) + end

    return {
        "interlaced": corpus.png_bytes(pixels, interlace=True),
        "16-bit": corpus.png_bytes(pixels.astype(np.uint16) * 257, bit_depth=16),
        "palette": corpus.png_bytes(pixels[..., 0] % 4, color_type=3, palette=bytes(range(12))),
        "tRNS": with_chunk(PLAIN, b"tRNS", b"\x00\x01\x00\x02\x00\x03"),
        "iCCP": with_chunk(PLAIN, b"iCCP", b"icc\x00\x00" + zlib.compress(corpus.swapped_icc_profile())),
        "eXIf": with_chunk(PLAIN, b"eXIf", b"MM\x00*\x00\x00\x00\x08\x00\x00"),
        "zTXt": with_chunk(PLAIN, b"zTXt", b"Comment\x00\x00" + zlib.compress(b"hello")),
        "iTXt": with_chunk(PLAIN, b"iTXt", b"Comment\x00\x00\x00\x00\x00hello"),
        "EXIF in text": with_chunk(PLAIN, b"tEXt", b"Raw profile type exif\x00\nexif\n0\n"),
        "XMP": with_chunk(PLAIN, b"tEXt", b"XML:com.adobe.xmp\x00<x/>"),
        "suggested palette": with_chunk(PLAIN, b"PLTE", bytes(range(12))),
        "unknown chunk": with_chunk(PLAIN, b"abCd", b"?"),
        "IDAT runs apart": PNG_SIGNATURE
        + ihdr
        + corpus.chunk(b"IDAT", zlib.compress(data)[:20])
        + corpus.chunk(b"tEXt", b"Comment\x00x")
        + corpus.chunk(b"IDAT", zlib.compress(data)[20:])
        + end,
        "bad filter type": idat(zlib.compress(b"\x05" + data[1:])),
        "too little data": idat(zlib.compress(data[:-1])),
        "too much data": idat(zlib.compress(data + b"\x00")),
        "bytes after the stream": idat(zlib.compress(data) + b"\x00"),
        "broken stream": idat(b"\x78\x9c\xff\xff" + data),
    }


@pytest.mark.parametrize("name", list(not_plain()))
def test_anything_else_is_left_to_pillow(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = not_plain()[name]
    assert read_plain_png(raw) is None

    def outcome() -> tuple[np.ndarray, np.ndarray | None] | str:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", KmimgWarning)  # the eXIf chunk's, either way
                picture = load_image("image.png", data=raw)
        except InputError as exc:
            return str(exc)
        return picture.rgb, picture.alpha

    with_reader = outcome()
    monkeypatch.setattr(decode, "read_plain_png", lambda raw: None)
    without = outcome()
    if isinstance(without, str):
        assert with_reader == without
    else:
        assert not isinstance(with_reader, str)
        np.testing.assert_array_equal(with_reader[0], without[0])


def test_harmless_chunks_keep_the_plain_path() -> None:
    raw = PLAIN
    for kind, body in (
        (b"gAMA", b"\x00\x00\xb1\x8f"),
        (b"sRGB", b"\x00"),
        (b"pHYs", b"\x00\x00\x0b\x13\x00\x00\x0b\x13\x01"),
        (b"tEXt", b"Software\x00kmimg"),
    ):
        raw = with_chunk(raw, kind, body)
    assert read_plain_png(raw) is not None
    assert_same_picture(raw)


def test_quantizing_a_plain_png_does_not_import_pillow(tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(corpus.png_bytes(corpus.gradient(20, 30)))
    script = (
        "import sys\n"
        "from kmimg.__main__ import main\n"
        f"sys.argv = ['kmimg', 'quantize', {str(source)!r}, '-k', '4', '-o', {str(tmp_path / 'out.png')!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "assert 'PIL' not in sys.modules, sorted(m for m in sys.modules if m.startswith('PIL'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.png").exists()


# --------------------------------------------------------------------- the early read (issue 26)


@pytest.mark.parametrize(
    ("argv", "read"),
    [
        (["quantize", "a.png", "-k", "16", "-o", "out.png"], "a.png"),
        (["quantize", "-o", "out.png", "-k", "16", "a.png"], "a.png"),
        (["quantize", "--palette", "p.png", "A.PNG"], "A.PNG"),
        (["quantize", "a.png", "b.png"], None),  # a batch: nothing early
        (["quantize", "a.jpg", "-o", "out.png"], None),
        (["quantize", "--output=out.png", "a.png"], "a.png"),
        (["segment", "a.png"], None),
        ([], None),
    ],
)
def test_the_console_script_reads_one_named_png_early(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], read: str | None
) -> None:
    from kmimg import __main__
    from kmimg.io import plain_png

    seen: list[str] = []
    monkeypatch.setattr(plain_png, "read_early", lambda path, max_pixels: seen.append(path))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    __main__.read_input_early(argv)
    assert seen == ([read] if read else [])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread asked for: nothing early
    __main__.read_input_early(argv)
    assert seen == ([read] if read else [])


@pytest.mark.parametrize(
    ("argv", "limit"),
    [
        (["quantize", "a.png"], None),
        (["quantize", "a.png", "--max-pixels", "1000"], 1000),
        (["quantize", "--max-pixels=5000", "a.png"], 5000),
        (["quantize", "a.png", "--max-pixels", "lots"], 0),  # Typer refuses it: nothing early
        (["quantize", "a.png", "--max-pixels", "100000", "--max-pixels", "100"], 100),  # the last
    ],
)
def test_the_early_read_keeps_to_max_pixels(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], limit: int | None
) -> None:
    from kmimg import __main__
    from kmimg.io import plain_png

    seen: list[int | None] = []
    monkeypatch.setattr(plain_png, "read_early", lambda path, max_pixels: seen.append(max_pixels))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    __main__.read_input_early(argv)
    assert seen == [limit]


def test_an_image_over_the_limit_is_not_decoded_early(write_png, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    from kmimg.io import plain_png

    path = write_png(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8))
    plain_png.read_early(str(path), max_pixels=40 * 30 - 1)
    early = plain_png._early.pop()
    early.thread.join()
    assert early.rows is None and early.raw is None
    plain_png.read_early(str(path), max_pixels=40 * 30)
    early = plain_png._early.pop()
    early.thread.join()
    assert early.rows is not None


def test_an_early_read_gives_the_rows_the_decoder_would(
    write_png, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:  # type: ignore[no-untyped-def]
    from kmimg.io import plain_png

    pixels = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    path = write_png(pixels)
    plain_png.read_early(str(path))
    plain_png._early[0].thread.join()

    def not_again(raw: bytes) -> None:
        raise AssertionError("decoded twice")

    monkeypatch.setattr(plain_png, "plain_rows", not_again)
    picture = load_image(str(path))
    np.testing.assert_array_equal(picture.rgb, pixels)
    assert picture.rgb.flags.writeable and picture.rgb.flags.c_contiguous
    assert not plain_png._early  # used once


def test_a_file_changed_after_its_early_read_is_decoded_from_its_new_bytes(
    write_png, rng: np.random.Generator
) -> None:  # type: ignore[no-untyped-def]
    from kmimg.io import plain_png

    path = write_png(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    plain_png.read_early(str(path))
    plain_png._early[0].thread.join()
    changed = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    write_png(changed)
    np.testing.assert_array_equal(load_image(str(path)).rgb, changed)
    assert not plain_png._early


@pytest.mark.parametrize("what", ["missing", "folder", "not a PNG", "palette PNG"])
def test_an_early_read_of_anything_else_changes_nothing(tmp_path: Path, what: str) -> None:
    from PIL import Image

    from kmimg.io import plain_png

    path = tmp_path / "x.png"
    if what == "folder":
        path.mkdir()
    elif what == "not a PNG":
        path.write_bytes(b"GIF89a" + bytes(100))
    elif what == "palette PNG":
        Image.new("P", (8, 8)).save(path)
    plain_png.read_early(str(path))
    for early in plain_png._early:
        early.thread.join()
        assert early.rows is None
    if what == "palette PNG":
        assert load_image(str(path)).rgb.shape == (8, 8, 3)  # Pillow's decoding, as before
    plain_png._early.clear()


def test_a_folder_of_plain_pngs_is_planned_and_run_without_pillow(tmp_path: Path) -> None:
    """The folder scan takes ``.png`` without Pillow's registry (which imports every plugin)."""
    folder = tmp_path / "icons"
    folder.mkdir()
    for number in range(3):
        (folder / f"icon-{number}.png").write_bytes(corpus.png_bytes(corpus.gradient(12 + number, 9)))
    script = (
        "import sys\n"
        "from kmimg.__main__ import main\n"
        f"sys.argv = ['kmimg', 'quantize', {str(folder)!r}, '-k', '4', '-j', '1', '--out-dir', "
        f"{str(tmp_path / 'out')!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "assert 'PIL' not in sys.modules, sorted(m for m in sys.modules if m.startswith('PIL'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == [f"icon-{n}-k4.png" for n in range(3)]

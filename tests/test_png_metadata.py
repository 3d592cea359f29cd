"""Metadata of quantized PNGs: the chunks that stay true after quantization are kept (pHYs, text
that is not EXIF/XMP/ICC data, sRGB for a declared colour space, gAMA/cHRM of an input without
one), --strip and strip=True keep none; JPEG and other inputs' DPI becomes pHYs."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin
from typer.testing import CliRunner

import kmimg
from kmimg.cli import app
from kmimg.io.png import PngMetadata, phys_of_dpi, png_metadata

runner = CliRunner()
#: Chunks every indexed PNG of an opaque image has.
CORE = [b"IHDR", b"PLTE", b"IDAT", b"IEND"]


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """Every chunk of a PNG as (type, body), CRCs checked."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    found, position = [], 8
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        body = png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(body, zlib.crc32(kind))
        found.append((kind, body))
        position += 12 + length
    return found


def kinds(png: bytes) -> list[bytes]:
    return [kind for kind, _ in chunks(png)]


def _pixels() -> np.ndarray:
    y, x = np.mgrid[0:40, 0:50]
    return np.stack([x * 5, y * 6, (x + y) * 2], -1).astype(np.uint8)


def _tagged_png(path: Path, *, extra: list[tuple[bytes, bytes]] = (), **save: object) -> Path:  # type: ignore[assignment]
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "a gradient")
    info.add_text("Comment", "squeezed " * 20, zip=True)
    info.add_itxt("Author", "Ædel Ünder", lang="de", tkey="Autor")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>tiff:Orientation 6</x:xmpmeta>")
    info.add_text("Raw profile type exif", "\nexif\n      6\n457869660000\n")
    info.add_text("Raw profile type iptc", "\niptc\n      4\n1c020000\n")
    for kind, body in extra:
        info.add(kind, body)
    Image.fromarray(_pixels()).save(path, pnginfo=info, dpi=(300, 300), **save)
    return path


def _quantize(source: Path, target: Path, *args: str) -> bytes:
    outcome = runner.invoke(app, ["quantize", str(source), "-k", "8", "-o", str(target), *args])
    assert outcome.exit_code == 0, outcome.output
    return target.read_bytes()


def test_dpi_and_plain_text_are_kept_exif_and_xmp_are_not(tmp_path: Path) -> None:
    png = _quantize(_tagged_png(tmp_path / "in.png"), tmp_path / "out.png")
    found = chunks(png)
    assert [kind for kind, _ in found] == [
        b"IHDR", b"pHYs", b"PLTE", b"tEXt", b"tEXt", b"zTXt", b"iTXt", b"IDAT", b"IEND",
    ]  # fmt: skip
    keywords = [body.split(b"\x00")[0] for kind, body in found if kind in (b"tEXt", b"zTXt", b"iTXt")]
    assert keywords == [b"Title", b"Raw profile type iptc", b"Comment", b"Author"]
    with Image.open(io.BytesIO(png)) as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert image.text["Author"] == "Ædel Ünder"
        assert image.text["Comment"] == "squeezed " * 20


def test_strip_keeps_no_optional_chunk(tmp_path: Path) -> None:
    source = _tagged_png(tmp_path / "in.png", extra=[(b"gAMA", struct.pack(">I", 45455))])
    assert kinds(_quantize(source, tmp_path / "out.png", "--strip")) == CORE


def test_an_icc_profile_becomes_an_srgb_chunk(tmp_path: Path) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = _tagged_png(
        tmp_path / "in.png", icc_profile=profile, extra=[(b"gAMA", struct.pack(">I", 100000))]
    )
    found = kinds(_quantize(source, tmp_path / "out.png"))
    assert found[:3] == [b"IHDR", b"sRGB", b"pHYs"]
    assert b"iCCP" not in found and b"gAMA" not in found  # they described the pixels before conversion


def test_gama_and_chrm_of_an_input_without_a_colour_space_are_kept(tmp_path: Path) -> None:
    gama = struct.pack(">I", 100000)  # linear light: kmimg keeps the values, so gAMA still holds
    chrm = struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)
    source = tmp_path / "in.png"
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", gama)
    info.add(b"cHRM", chrm)
    Image.fromarray(_pixels()).save(source, pnginfo=info)
    found = chunks(_quantize(source, tmp_path / "out.png"))
    assert [kind for kind, _ in found] == [b"IHDR", b"gAMA", b"cHRM", b"PLTE", b"IDAT", b"IEND"]
    assert dict(found)[b"gAMA"] == gama and dict(found)[b"cHRM"] == chrm


def test_an_srgb_chunk_is_kept_and_its_gama_dropped(tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    info = PngImagePlugin.PngInfo()
    info.add(b"sRGB", b"\x00")
    info.add(b"gAMA", struct.pack(">I", 45455))
    Image.fromarray(_pixels()).save(source, pnginfo=info)
    assert kinds(_quantize(source, tmp_path / "out.png")) == [b"IHDR", b"sRGB", *CORE[1:]]


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", ".jpg"), ("TIFF", ".tif"), ("BMP", ".bmp")])
def test_dpi_of_other_formats_becomes_phys(tmp_path: Path, fmt: str, suffix: str) -> None:
    source = tmp_path / f"in{suffix}"
    Image.fromarray(_pixels()).save(source, format=fmt, dpi=(150, 72))
    found = dict(chunks(_quantize(source, tmp_path / "out.png")))
    x, y, unit = struct.unpack(">IIB", found[b"pHYs"])
    assert unit == 1
    assert x == pytest.approx(150 / 0.0254, abs=1.5) and y == pytest.approx(72 / 0.0254, abs=1.5)


def test_an_untagged_jpeg_gets_no_optional_chunk(tmp_path: Path) -> None:
    source = tmp_path / "in.jpg"
    Image.fromarray(_pixels()).save(source, format="JPEG")
    assert kinds(_quantize(source, tmp_path / "out.png")) == CORE


def test_a_jpeg_with_an_icc_profile_gets_srgb(tmp_path: Path) -> None:
    source = tmp_path / "in.jpg"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(_pixels()).save(source, format="JPEG", icc_profile=profile)
    assert kinds(_quantize(source, tmp_path / "out.png")) == [b"IHDR", b"sRGB", *CORE[1:]]


def test_the_library_keeps_and_strips_the_same(tmp_path: Path) -> None:
    source = _tagged_png(tmp_path / "in.png")
    cli = _quantize(source, tmp_path / "out.png")
    assert kmimg.quantize(source, 8).to_png() == cli
    kmimg.quantize(source, 8, strip=True).save(tmp_path / "bare.png")
    assert kinds((tmp_path / "bare.png").read_bytes()) == CORE
    with Image.open(source) as image:  # a PIL image's dpi too
        assert b"pHYs" in kinds(kmimg.quantize(image, 8).to_png())


def test_quantize_files_and_jobs_give_the_same_bytes(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        _tagged_png(tmp_path / f"{name}.png")
    one = kmimg.quantize_files(tmp_path, 8, out_dir=tmp_path / "one", jobs=1, strip=True)
    two = kmimg.quantize_files(tmp_path, 8, out_dir=tmp_path / "two", jobs=2)
    assert all(r.ok for r in one + two)
    for name in ("a", "b", "c"):
        bare = (tmp_path / "one" / f"{name}-k8.png").read_bytes()
        kept = (tmp_path / "two" / f"{name}-k8.png").read_bytes()
        assert kinds(bare) == CORE and b"pHYs" in kinds(kept)
        assert [c for c in chunks(bare) if c[0] == b"IDAT"] == [c for c in chunks(kept) if c[0] == b"IDAT"]


def test_segment_outputs_carry_no_metadata(tmp_path: Path) -> None:
    source = _tagged_png(tmp_path / "in.png")
    outcome = runner.invoke(app, ["segment", str(source), "--out-dir", str(tmp_path / "seg")])
    assert outcome.exit_code == 0, outcome.output
    written = sorted((tmp_path / "seg").glob("*.png"))
    assert written
    for png in written:
        assert set(kinds(png.read_bytes())) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


def test_png_metadata_and_phys_of_dpi() -> None:
    assert png_metadata(b"\x89PNG\r\n\x1a\n") == PngMetadata()
    assert phys_of_dpi((0.0, 72.0)) is None
    assert phys_of_dpi((72.0, 72.0)) == struct.pack(">IIB", 2835, 2835, 1)


def test_malformed_text_chunks_are_not_copied(tmp_path: Path) -> None:
    """A text chunk that breaks the PNG rules (a NUL inside a tEXt text, an empty or overlong
    keyword) stays behind; the well-formed ones come."""
    bad = [
        (b"tEXt", b"Comment\x00one\x00two"),
        (b"tEXt", b"\x00no keyword"),
        (b"tEXt", b"K" * 80 + b"\x00too long a keyword"),
    ]
    source = _tagged_png(tmp_path / "in.png", extra=bad)
    kept = [
        body for kind, body in chunks(_quantize(source, tmp_path / "out.png")) if kind in (b"tEXt", b"zTXt")
    ]
    assert all(body not in kept for _, body in bad)
    assert b"Title\x00a gradient" in kept

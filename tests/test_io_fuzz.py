"""Hypothesis: any bytes at all give a clean :class:`InputError` or a valid picture, never a
crash, a raw library warning, or an output file left half-written."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import corpus
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.errors import InputError, KmimgWarning
from kmimg.io import load_image

#: Small enough that a mutated header cannot make a test allocate gigabytes.
FUZZ_MAX_PIXELS = 1_000_000


@functools.cache
def seeds() -> tuple[bytes, ...]:
    """Small valid files of every allowed format, for the mutation strategy to damage."""
    image = Image.fromarray(corpus.gradient(6, 5))
    return (
        corpus.pillow_bytes(image, "PNG"),
        corpus.png_bytes(corpus.gradient(5, 4), interlace=True),
        corpus.png_bytes(np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000, bit_depth=16),
        corpus.pillow_bytes(image, "JPEG", quality=80),
        corpus.pillow_bytes(image, "JPEG", progressive=True),
        corpus.pillow_bytes(image.convert("P"), "GIF"),
        corpus.pillow_bytes(image, "BMP"),
        corpus.pillow_bytes(image, "TIFF"),
        corpus.pillow_bytes(image, "WEBP"),
        corpus.pillow_bytes(Image.new("CMYK", (4, 3), (10, 20, 30, 40)), "JPEG"),
        corpus.tifffile_bytes(corpus.gradient(4, 5).astype(np.float32) / 255, photometric="rgb"),
        corpus.pillow_bytes(image, "PNG", icc_profile=corpus.swapped_icc_profile()),
    )


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


any_bytes = st.one_of(st.binary(max_size=512), damaged_files())


def check_picture_or_clean_error(data: bytes, allow_truncated: bool) -> None:
    with warnings.catch_warnings():
        # kmimg's own one-line warnings are expected; any other (raw library) warning stays an
        # error under pytest's filterwarnings = error.
        warnings.simplefilter("ignore", KmimgWarning)
        try:
            picture = load_image(
                "fuzz", data=data, max_pixels=FUZZ_MAX_PIXELS, allow_truncated=allow_truncated
            )
        except InputError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
    height, width = picture.height, picture.width
    assert 0 < height * width <= FUZZ_MAX_PIXELS
    assert picture.rgb.dtype == np.uint8 and picture.rgb.shape == (height, width, 3)
    if picture.alpha is not None:
        assert picture.alpha.dtype == np.uint8 and picture.alpha.shape == (height, width)
        assert (picture.rgb[picture.alpha == 0] == 0).all()


@settings(max_examples=400, deadline=None)
@given(data=any_bytes, allow_truncated=st.booleans())
def test_any_bytes_give_a_picture_or_a_clean_error(data: bytes, allow_truncated: bool) -> None:
    check_picture_or_clean_error(data, allow_truncated)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=damaged_files())
def test_cli_on_any_bytes_gives_exit_0_or_one_error_line(data: bytes, tmp_path: Path) -> None:
    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    source = folder / "input.png"
    source.write_bytes(data)
    target = folder / "out.png"
    result = CliRunner().invoke(
        app, ["quantize", str(source), "-o", str(target), "-k", "4", "--max-pixels", str(FUZZ_MAX_PIXELS)]
    )
    assert "Traceback" not in result.output
    names = sorted(p.name for p in folder.iterdir())
    if result.exit_code == 0:
        assert names == ["input.png", "out.png"]
        with Image.open(target) as image:
            image.load()
        assert all(line.startswith("kmimg: warning: ") for line in result.stderr.splitlines())
    else:
        assert result.exit_code == 1
        assert names == ["input.png"]
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"kmimg: error: {source}: ")


#: A PNG (found by the test above) whose damaged ICC profile makes LittleCMS refuse the
#: transform: Pillow 13 raises ``ImageCms.PyCMSError``, no longer an ``OSError``.
UNUSABLE_ICC_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000050000000608020000008499c31c000000d36943435043432050726f66"
    "696c650000789c6360607cc000044c020c0cb979254541ee4e0a1191510a0c482031b9b880012ff8768d8111445fd6c5"
    "af0e2be04c492d4e06d21f8038bebca4a08481813100c81629023a04c84e01b1d321ec0a103b09c2ee01ab09097206b2"
    "1700d902e910f606103b09c23e006227171481ccbc006243ed0201d692d4e21232dc8b1720c20e112608b1a4690c0cdb"
    "db191824ee20c4f29700013030587c636060ee4788a92c6260e06f6660d8763eb9b4a80c6a342393310303217e496a05"
    "d84f79f979a9200040863a5e1626c64c0000001b49444154"
)


def test_an_icc_profile_littlecms_cannot_use_is_ignored_with_a_warning() -> None:
    check_picture_or_clean_error(UNUSABLE_ICC_PNG, True)

"""PngSuite (Willem van Schaik's PNG conformance images, copied in tests/data/pngsuite).

Every valid file decodes to the pixels the PNG specification gives; every ``x*.png`` (a
deliberately corrupt file) is refused with a one-line reason.

Policy checked here: ancillary colour chunks (gAMA, cHRM, sRGB, iCCP) and background colours
(bKGD) are not applied; samples are taken as sRGB, as browsers do for untagged images.
"""

from __future__ import annotations

import json
from pathlib import Path

import corpus
import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.errors import InputError
from kmimg.io import load_image

SUITE = sorted(corpus.PNGSUITE.glob("*.png"))
VALID = [path for path in SUITE if not path.name.startswith("x")]
CORRUPT = [path for path in SUITE if path.name.startswith("x")]


def test_the_suite_is_complete() -> None:
    assert len(VALID) == 161
    assert len(CORRUPT) == 14
    assert (corpus.PNGSUITE / "LICENSE").exists()


def expected_rgba(path: Path) -> np.ndarray:
    """The PNG specification's pixels, by Pillow where it is right and by hand where it is not."""
    raw = path.read_bytes()
    bit_depth, color_type = raw[24], raw[25]
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)
        key = image.info.get("transparency")
        if image.mode == "I;16":
            # Pillow's own convert() clips 16-bit grey to 255 instead of scaling it.
            values = np.asarray(image).astype(np.float64)
            grey = np.rint(values * 255 / 65535).astype(np.uint8)
            alpha = np.where(values == key, 0, 255) if key is not None else np.full(grey.shape, 255)
            return np.dstack([grey, grey, grey, alpha]).astype(np.uint8)
        if color_type == 0 and bit_depth < 8 and key is not None:
            # Pillow expands the samples to 0-255 but compares them to the unexpanded tRNS key.
            grey = np.asarray(image.convert("L"))
            scaled_key = key * 255 // ((1 << bit_depth) - 1)
            alpha = np.where(grey == scaled_key, 0, 255)
            return np.dstack([grey, grey, grey, alpha]).astype(np.uint8)
        return np.asarray(image.convert("RGBA"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_files_decode_to_the_specified_pixels(path: Path) -> None:
    picture = load_image(path)
    expected = expected_rgba(path)
    alpha = picture.alpha if picture.alpha is not None else np.full(expected.shape[:2], 255, np.uint8)
    assert np.array_equal(alpha, expected[..., 3])
    visible = expected[..., 3] > 0
    assert np.array_equal(picture.rgb[visible], expected[..., :3][visible])
    assert (picture.rgb[~visible] == 0).all()  # colours hidden under alpha 0 are dropped


def test_transparency_keys_that_pillow_gets_wrong() -> None:
    # tbbn0g04: 4-bit grey, key 15 (white); tbwn0g16: 16-bit grey, key 65535.
    for name in ("tbbn0g04.png", "tbwn0g16.png"):
        picture = load_image(corpus.PNGSUITE / name)
        assert picture.alpha is not None
        transparent = picture.alpha == 0
        assert 0 < transparent.sum() < transparent.size


def test_16bit_grey_is_not_clipped() -> None:
    picture = load_image(corpus.PNGSUITE / "basn0g16.png")
    assert len(np.unique(picture.rgb)) > 200  # a full ramp, not a few levels stuck at 255


@pytest.mark.parametrize("path", CORRUPT, ids=lambda p: p.name)
def test_corrupt_files_are_refused_with_one_line(path: Path) -> None:
    with pytest.raises(InputError) as raised:
        load_image(path)
    assert str(raised.value)
    assert "\n" not in str(raised.value)


def test_cli_over_the_whole_suite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["quantize", str(corpus.PNGSUITE), "--out-dir", str(out), "-k", "4", "-j", "2", "--json", "-"]
    )
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert sorted(Path(f["input"]).name for f in document["failures"]) == [p.name for p in CORRUPT]
    assert len(document["results"]) == len(VALID)
    errors = [line for line in result.stderr.splitlines() if line.startswith("kmimg: error: ")]
    assert len(errors) == len(CORRUPT)
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.stem + "-k4.png" for p in VALID)

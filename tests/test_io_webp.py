"""The WebP writer (kmimg.io.webp): lossless, exact pixels, every frame kept, the container's
fields (frame rectangles at even offsets, durations, loop count)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, features

from kmimg.errors import InputError, UsageError
from kmimg.io.webp import MAX_SIDE, WEBP_EFFORT, check_webp_support, encode_animated_webp, encode_webp

pytestmark = pytest.mark.skipif(not features.check("webp"), reason="Pillow without WebP support")


def frames_of(data: bytes) -> tuple[np.ndarray, list[int], object]:
    with Image.open(io.BytesIO(data)) as image:
        frames, durations = [], []
        for number in range(image.n_frames):
            image.seek(number)
            image.load()
            frames.append(np.asarray(image.convert("RGBA")))
            durations.append(int(image.info["duration"]))
        return np.stack(frames), durations, image.info.get("loop")


def anmf_chunks(data: bytes) -> list[tuple[int, int, int, int, int, int]]:
    """Each ANMF's x, y, width, height, duration and flags."""
    found, position = [], 12
    while position + 8 <= len(data):
        kind, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        if kind == b"ANMF":
            body = data[position + 8 : position + 24]
            fields = [int.from_bytes(body[i : i + 3], "little") for i in range(0, 15, 3)]
            found.append((2 * fields[0], 2 * fields[1], fields[2] + 1, fields[3] + 1, fields[4], body[15]))
        position += 8 + size + (size & 1)
    return found


PALETTE = np.array(
    [[9, 8, 7, 0], [250, 10, 10, 255], [10, 10, 250, 100], [255, 255, 255, 255]], dtype=np.uint8
)


@pytest.mark.parametrize("optimize", sorted(WEBP_EFFORT))
def test_a_still_decodes_to_the_palettes_rgba_exactly(optimize: int) -> None:
    indices = np.random.default_rng(optimize).integers(0, 4, (19, 23)).astype(np.uint8)
    data = encode_webp(indices, PALETTE, optimize=optimize)
    with Image.open(io.BytesIO(data)) as image:
        assert np.array_equal(np.asarray(image.convert("RGBA")), PALETTE[indices])


def test_an_opaque_palette_gives_a_webp_without_alpha() -> None:
    data = encode_webp(np.zeros((4, 4), dtype=np.uint8), PALETTE[[1, 3]])
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGB"


def test_every_frame_is_kept_identical_ones_too() -> None:
    rng = np.random.default_rng(0)
    background = rng.integers(1, 4, (30, 40)).astype(np.uint8)
    frames = np.stack([background] * 6)
    frames[1, 3:9, 5:11] = 1
    frames[2] = frames[1]  # identical to the frame before
    frames[3] = frames[1]
    frames[4:] = frames[1]
    frames[4, 7, 9] = 0  # one pixel turns transparent, at odd coordinates
    frames[5, 7, 9] = 0
    frames[5, 29, 39] = 2
    durations = [10, 20, 30, 40, 50, 60]
    data = encode_animated_webp(frames, PALETTE, durations, 0)
    decoded, read_durations, loop = frames_of(data)
    assert np.array_equal(decoded, PALETTE[frames])
    assert read_durations == durations and loop == 0
    chunks = anmf_chunks(data)
    assert len(chunks) == 6 and chunks[0][:4] == (0, 0, 40, 30)
    assert all(x % 2 == 0 and y % 2 == 0 for x, y, *_ in chunks)
    assert chunks[4][:4] == (8, 6, 2, 2)  # x 9, y 7 grown to even offsets
    assert [chunk[4] for chunk in chunks] == durations


def test_opaque_changes_may_blend_over_the_canvas() -> None:
    rng = np.random.default_rng(1)
    background = rng.integers(1, 4, (60, 80)).astype(np.uint8)
    background[background == 2] = 3  # opaque entries only
    frames = np.stack([background] * 4)
    for number in range(1, 4):  # a sprite outline moving over a noisy background
        frames[number, 10:50, 10 + 5 * number] = 1
        frames[number, 10:50, 40 + 5 * number] = 1
    data = encode_animated_webp(frames, PALETTE, [100] * 4, None)
    decoded, _, loop = frames_of(data)
    assert np.array_equal(decoded, PALETTE[frames])
    assert loop == 1  # no loop setting: played once
    assert any(flags & 0x02 == 0 for *_, flags in anmf_chunks(data)[1:])  # some frame blends


def test_long_durations_and_loops_are_clipped_to_the_fields() -> None:
    frames = np.zeros((2, 4, 4), dtype=np.uint8)
    data = encode_animated_webp(frames, PALETTE, [20_000_000, 5], 70_000)
    assert [chunk[4] for chunk in anmf_chunks(data)] == [0xFFFFFF, 5]
    assert frames_of(data)[2] == 0xFFFF


def test_a_side_over_webps_limit_is_an_input_error() -> None:
    with pytest.raises(InputError, match="at most 16383 pixels a side"):
        encode_webp(np.zeros((1, MAX_SIDE + 1), dtype=np.uint8), PALETTE)


def test_no_webp_support_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "check", lambda name: False)
    with pytest.raises(UsageError, match="built without WebP support"):
        check_webp_support()
    with pytest.raises(UsageError):
        encode_webp(np.zeros((2, 2), dtype=np.uint8), PALETTE)


def test_an_unknown_effort_level_is_refused() -> None:
    with pytest.raises(ValueError, match="optimize must be 0 to 3"):
        encode_webp(np.zeros((2, 2), dtype=np.uint8), PALETTE, optimize=4)

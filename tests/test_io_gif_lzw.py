"""kmimg's GIF LZW coder (kmimg/_gif.c): what it writes decodes to the indices it was given, in
Pillow and in gifsicle (an independent decoder), with the table cleared when full or kept
(deferred clear); the lossy coder changes only what it may, by at most its price a pixel, and
its indices coded again give the same data."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kmimg import _gif
from kmimg.io.gif import LOSSY_WINDOW, LZW_WINDOWS, encode_indexed_gif, gif_frame_lossy

WINDOWS = (0, 1, 256, 4096)


def still(data: bytes, height: int, width: int, bits: int) -> bytes:
    """A GIF89a around one image's LZW data, on a grey ramp of 2^bits entries."""
    table = np.repeat(np.linspace(0, 255, 1 << bits).astype(np.uint8)[:, None], 3, axis=1)
    flags = 0x80 | ((bits - 1) << 4) | (bits - 1)
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, flags, 0, 0) + table.tobytes()
    return head + struct.pack("<BHHHHB", 0x2C, 0, 0, width, height, 0) + data + b";"


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image)


def patterns(bits: int, shape: tuple[int, int]) -> list[np.ndarray]:
    rng = np.random.default_rng(bits * 1000 + shape[0])
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return [
        rng.integers(0, 1 << bits, shape, dtype=np.uint8),  # fills the table: clears, deferred ones
        np.zeros(shape, dtype=np.uint8),
        ((y // 3 + x // 5) % (1 << bits)).astype(np.uint8),
        np.minimum(rng.geometric(0.3, shape) - 1, (1 << bits) - 1).astype(np.uint8),
    ]


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (3, 5), (61, 67), (300, 517)])
def test_lzw_decodes_to_its_indices(bits: int, shape: tuple[int, int]) -> None:
    for pixels in patterns(bits, shape):
        for window in WINDOWS:
            data = _gif.lzw(pixels, pixels.size, bits, window)
            assert data[0] == bits and data[-1] == 0
            assert np.array_equal(decoded(still(data, *shape, bits)), pixels), (window, pixels[:2, :8])


@pytest.mark.skipif(shutil.which("gifsicle") is None, reason="gifsicle is not installed")
def test_gifsicle_decodes_what_kmimg_codes(tmp_path: Path) -> None:
    """Another decoder (gifsicle's, which re-codes every image) reads the same indices, the
    deferred clear included."""
    for bits in (2, 5, 8):
        for number, pixels in enumerate(patterns(bits, (300, 517))):
            for window in WINDOWS:
                source, copy = tmp_path / "in.gif", tmp_path / "out.gif"
                source.write_bytes(still(_gif.lzw(pixels, pixels.size, bits, window), 300, 517, bits))
                subprocess.run(["gifsicle", "--no-warnings", str(source), "-o", str(copy)], check=True)
                table = np.linspace(0, 255, 1 << bits).astype(np.uint8)
                with Image.open(copy) as image:
                    grey = np.asarray(image.convert("RGB"))[..., 0]
                assert np.array_equal(grey, table[pixels]), (bits, number, window)


def test_lzw_checks_its_arguments() -> None:
    pixels = np.array([[0, 1, 4]], dtype=np.uint8)
    with pytest.raises(ValueError, match="code size"):
        _gif.lzw(pixels, 3, 2, 0)
    with pytest.raises(ValueError):
        _gif.lzw(pixels, 3, 9, 0)
    with pytest.raises(ValueError):
        _gif.lzw(pixels, 4, 3, 0)  # more pixels than the buffer holds
    with pytest.raises(ValueError):
        _gif.lzw(pixels, 3, 3, -1)


def test_still_gif_is_no_larger_than_clearing_when_full() -> None:
    rng = np.random.default_rng(5)
    pixels = np.repeat(rng.integers(0, 64, (200, 60), dtype=np.uint8), 4, axis=1)
    palette = np.column_stack([rng.integers(0, 256, (64, 3)), np.full(64, 255)]).astype(np.uint8)
    data = encode_indexed_gif(pixels, palette)
    assert len(data) <= 13 + 64 * 3 + 10 + len(_gif.lzw(pixels, pixels.size, 6, 0)) + 1
    assert np.array_equal(decoded(data), pixels)
    assert 0 in LZW_WINDOWS and LOSSY_WINDOW in LZW_WINDOWS


def lossy_case(seed: int) -> tuple[np.ndarray, ...]:
    """A noisy gradient on 32 greys: the indices, true colours, canvas colours, flags, palette."""
    rng = np.random.default_rng(seed)
    height, width = 40, 90
    palette = np.repeat(np.linspace(0, 255, 32).astype(np.uint8)[:, None], 3, axis=1)
    truth = np.clip(np.mgrid[0:height, 0:width][1] * 2.5 + rng.normal(0, 12, (height, width)), 0, 255)
    rgb = np.repeat(truth.astype(np.uint8)[..., None], 3, axis=2)
    indices = np.abs(truth[..., None] - palette[:, 0].astype(np.float64)).argmin(axis=2).astype(np.uint8)
    canvas = np.roll(rgb, 3, axis=1)
    flags = (rng.random((height, width)) < 0.1).astype(np.uint8) + 2 * (rng.random((height, width)) < 0.5)
    indices[(flags & 2) > 0] = np.where(
        rng.random(int(((flags & 2) > 0).sum())) < 0.3, 32, indices[(flags & 2) > 0]
    )
    return indices, rgb, canvas, flags.astype(np.uint8), np.column_stack([palette, np.full(32, 255)])


def squared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    diff = a.astype(np.int64) - b
    return np.einsum("...i,...i->...", diff, diff)


@pytest.mark.parametrize("price", [0.0, 50.0, 400.0, 5000.0])
def test_lossy_changes_only_what_it_may(price: float) -> None:
    indices, rgb, canvas, flags, palette = lossy_case(1)
    keep = 32
    size, coded, added = gif_frame_lossy(indices, 6, rgb, canvas, flags, palette, keep, price)
    colours = np.concatenate([palette[:, :3], np.zeros((1, 3), np.uint8)])
    shown_before = np.where((indices == keep)[..., None], canvas, colours[indices])
    shown_after = np.where((coded == keep)[..., None], canvas, colours[coded])
    extra = squared(rgb, shown_after) - squared(rgb, shown_before)
    changed = coded != indices
    assert not changed[(flags & 1) > 0].any()  # locked pixels are coded as given
    assert not (coded[changed & ((flags & 2) == 0)] == keep).any()  # "keep" only where allowed
    assert (extra[changed] <= price).all()
    assert added == pytest.approx(float(extra.sum()))
    if price == 0.0:
        assert added <= 0.0 or not changed.any()
    data = _gif.lzw(coded, coded.size, 6, LOSSY_WINDOW)  # the same data again, losslessly
    assert len(data) == size
    assert np.array_equal(decoded(still(data, *coded.shape, 6)), coded)
    again = gif_frame_lossy(indices, 6, rgb, canvas, flags, palette, keep, price)  # deterministic
    assert again[0] == size and np.array_equal(again[1], coded) and again[2] == added


def test_lossy_pays_for_itself_in_bytes() -> None:
    indices, rgb, canvas, flags, palette = lossy_case(2)
    exact = len(_gif.lzw(indices, indices.size, 6, LOSSY_WINDOW))
    sizes = [
        gif_frame_lossy(indices, 6, rgb, canvas, flags, palette, 32, price)[0]
        for price in (0.0, 300.0, 3000.0)
    ]
    assert sizes[0] <= exact and sizes[2] < sizes[1] < exact


def test_lossy_with_every_pixel_locked_is_the_exact_coder() -> None:
    """Locked pixels are coded as given: the lossy coder's data are then the exact coder's."""
    indices, rgb, canvas, flags, palette = lossy_case(3)
    locked = (flags | 1).astype(np.uint8)
    for price in (0.0, 1000.0, 1e9):
        size, coded, added = gif_frame_lossy(indices, 6, rgb, canvas, locked, palette, 32, price)
        assert np.array_equal(coded, indices) and added == 0.0
        assert size == len(_gif.lzw(indices, indices.size, 6, LOSSY_WINDOW))


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_lossy_data_are_what_the_exact_coder_reads_again(seed: int) -> None:
    """On a table that fills (clears, deferred ones), the lossy coder's indices coded again
    exactly give data of the size it measured, and a higher price buys fewer bytes. (Each lossy
    string is at least as long as the exact coder's from the same point, but the tables then
    differ: at a low price the data may be a little larger; the writer keeps the coding only when
    it costs less.)"""
    rng = np.random.default_rng(seed)
    height, width = 120, 300  # 36,000 pixels of a noisy ramp: the 4,096-code table fills
    truth = np.clip(np.mgrid[0:height, 0:width][1] * 0.85 + rng.normal(0, 20, (height, width)), 0, 255)
    rgb = np.repeat(truth.astype(np.uint8)[..., None], 3, axis=2)
    palette = np.column_stack(
        [np.repeat(np.linspace(0, 255, 63).astype(np.uint8)[:, None], 3, axis=1), np.full(63, 255)]
    ).astype(np.uint8)  # and "keep", 63: a table of 64
    indices = np.abs(truth[..., None] - palette[:, 0].astype(np.float64)).argmin(axis=2).astype(np.uint8)
    indices[::7, ::5] = 63
    flags = np.full((height, width), 2, np.uint8)
    exact = len(_gif.lzw(indices, indices.size, 6, LOSSY_WINDOW))
    sizes = []
    for price in (0.0, 100.0, 1000.0, 10000.0):
        size, coded, _ = gif_frame_lossy(indices, 6, rgb, np.roll(rgb, 1, axis=0), flags, palette, 63, price)
        assert len(_gif.lzw(coded, coded.size, 6, LOSSY_WINDOW)) == size
        sizes.append(size)
    assert sizes[-1] < sizes[1] < exact


@pytest.mark.parametrize("window", [0, LOSSY_WINDOW])
def test_lossy_coder_ends_strings_longer_than_its_search(window: int) -> None:
    """A run of locked pixels long enough for the table to hold strings of over 512 pixels (the
    search's node limit; 1 + 2 + ... + 513 pixels) is still coded as the exact coder codes it:
    every pixel once, and the data are the exact coder's reading of the indices."""
    rng = np.random.default_rng(7)
    flat, tail = 150_000, 2_000  # 152,000 pixels: an image of 400 x 380
    indices = np.concatenate([np.full(flat, 3, np.uint8), rng.integers(0, 16, tail, dtype=np.uint8)])
    count = indices.size
    palette = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    flags = np.zeros(count, np.uint8)
    flags[:flat] = 1
    canvas = np.zeros((count, 3), np.uint8)
    data, coded, _ = _gif.lzw_lossy(
        indices.tobytes(),
        count,
        8,
        window,
        palette[indices].tobytes(),
        canvas.tobytes(),
        flags.tobytes(),
        palette.tobytes(),
        256,
        255,
        50.0,
    )
    coded = np.frombuffer(coded, np.uint8)
    assert np.array_equal(coded[:flat], indices[:flat])
    assert data == _gif.lzw(coded.tobytes(), count, 8, window)
    assert np.array_equal(decoded(still(data, 400, 380, 8)).ravel(), coded)


@pytest.mark.skipif(shutil.which("gifsicle") is None, reason="gifsicle is not installed")
def test_gifsicle_decodes_the_lossy_coders_data(tmp_path: Path) -> None:
    """The lossy coder's data decode, in gifsicle too, to the indices it says it coded."""
    indices, rgb, canvas, flags, palette = lossy_case(7)
    for price in (50.0, 5000.0):
        _, coded, _ = gif_frame_lossy(indices, 6, rgb, canvas, flags, palette, 32, price)
        data = _gif.lzw(coded, coded.size, 6, LOSSY_WINDOW)
        source, copy = tmp_path / "in.gif", tmp_path / "out.gif"
        source.write_bytes(still(data, *coded.shape, 6))
        subprocess.run(["gifsicle", "--no-warnings", str(source), "-o", str(copy)], check=True)
        table = np.linspace(0, 255, 64).astype(np.uint8)
        with Image.open(copy) as image:
            grey = np.asarray(image.convert("RGB"))[..., 0]
        assert np.array_equal(grey, table[coded]), price


# Byte identity across rewrites of the coders (benchmarks/NOTES.md, session 16): both coders on
# many generated inputs, their outputs hashed per code size and compared with the digests of the
# coder as it was before its speed-up (commit 99346ee; the cases of lossy_inputs_keep_inside were
# added after it, their digests computed with that commit's build and the new one alike). The
# inputs come from PCG64's raw stream (stable across numpy versions), shaped with plain
# arithmetic only.


def raw(seed: int, n: int) -> np.ndarray:
    """``n`` bytes of PCG64's raw output for ``seed``, as int64 values 0-255."""
    words = np.random.PCG64(seed).random_raw((n + 7) // 8).astype("<u8")
    return np.frombuffer(words.tobytes(), dtype=np.uint8)[:n].astype(np.int64)


def lzw_inputs(bits: int) -> list[np.ndarray]:
    """Indices below 2^bits: tiny, table-filling, runs, skewed, tiled with noise, one value."""
    top = 1 << bits
    out = []
    for number, count in enumerate((1, 2, 3, 17, 300, 5_000, 60_000)):
        seed = bits * 100 + number
        noise = raw(seed, count)
        out.append(noise % top)
        if count >= 300:
            lengths = 1 + raw(seed + 50, count) % 9  # runs of 1-9 pixels
            out.append(np.repeat(raw(seed + 60, count) % top, lengths)[:count])
            out.append(np.minimum(raw(seed + 70, count), raw(seed + 80, count)) % top // 2)
            tiled = (np.arange(count) // 3 + np.arange(count) // 97) % top
            out.append(np.where(noise < 20, noise % top, tiled))
            out.append(np.full(count, top - 1))
    return [a.astype(np.uint8) for a in out]


def lossy_inputs(bits: int) -> list[tuple]:
    """The lossy coder's arguments (besides the window): noisy colours near a palette of
    ``entries`` (2^bits or fewer), "keep" inside the palette, just after it or beyond 2^bits,
    flags of every kind, prices from 0 to infinity."""
    top = 1 << bits
    cases = []
    for number, count in enumerate((1, 2, 40, 900, 6_000, 40_000)):
        seed = 10_000 + bits * 100 + number
        entries = top if number % 2 else max(1, top - 1 - number % 3)
        palette = raw(seed, 3 * entries).reshape(entries, 3).astype(np.uint8)
        keep = (entries, top - 1, top + 3)[number % 3]
        lengths = 1 + raw(seed + 1, count) % 6
        own = np.repeat(raw(seed + 2, count) % top, lengths)[:count]
        if count > 1:
            own[raw(seed + 3, count) < 40] = min(keep, top - 1)
        base = palette[np.minimum(own, entries - 1)].astype(np.int64)
        jitter = raw(seed + 4, 3 * count).reshape(count, 3) % 41 - 20
        rgb = np.clip(base + jitter, 0, 255).astype(np.uint8)
        canvas = np.roll(rgb, 1 + number, axis=0)
        canvas[raw(seed + 5, count) < 64] = 0
        flags = (raw(seed + 6, count) % 4).astype(np.uint8)
        for price in (0.0, 12.5, 300.0, 5_000.0, 1e9, float("inf")):
            cases.append((own.astype(np.uint8), rgb, canvas, flags, palette, entries, keep, price))
    return cases


def lossy_inputs_keep_inside(bits: int) -> list[tuple]:
    """More cases for the lossy coder with "keep" an entry inside a full palette (a transparent
    animation's usual case: the transparent entry is one of the table's), on larger inputs than
    :func:`lossy_inputs` gives it, with runs of "keep" pixels."""
    top = 1 << bits
    cases = []
    for number, count in enumerate((300, 5_000, 40_000)):
        seed = 20_000 + bits * 100 + number
        palette = raw(seed, 3 * top).reshape(top, 3).astype(np.uint8)
        keep = (top // 2, 0, top - 1)[number]
        lengths = 1 + raw(seed + 1, count) % 12
        own = np.repeat(raw(seed + 2, count) % top, lengths)[:count]
        own[np.repeat(raw(seed + 3, count) < 60, 4)[:count]] = keep
        jitter = raw(seed + 4, 3 * count).reshape(count, 3) % 31 - 15
        rgb = np.clip(palette[own].astype(np.int64) + jitter, 0, 255).astype(np.uint8)
        canvas = np.roll(rgb, 2 + number, axis=0)
        flags = (raw(seed + 6, count) % 4).astype(np.uint8)
        for price in (0.0, 40.0, 2_000.0, float("inf")):
            cases.append((own.astype(np.uint8), rgb, canvas, flags, palette, top, keep, price))
    return cases


def lzw_digest(bits: int) -> str:
    digest = hashlib.sha256()
    for pixels in lzw_inputs(bits):
        for window in (0, 1, 7, 256, 1024, 4096):
            digest.update(_gif.lzw(pixels, pixels.size, bits, window))
    return digest.hexdigest()[:16]


def lossy_digest(bits: int) -> str:
    digest = hashlib.sha256()
    for own, rgb, canvas, flags, palette, entries, keep, price in lossy_inputs(
        bits
    ) + lossy_inputs_keep_inside(bits):
        for window in (0, 256):
            data, coded, added = _gif.lzw_lossy(
                own, own.size, bits, window, rgb, canvas, flags, palette, entries, keep, price
            )
            digest.update(data + coded + struct.pack("<d", added))
    return digest.hexdigest()[:16]


LZW_DIGESTS = {
    2: "6e04ccc56ad1fca7",
    3: "b6dcf8546dc8ac4f",
    4: "c0df569fb75ed5db",
    5: "a76054b5f36f029e",
    6: "8a40d68bd7ba0951",
    7: "c8d4c62b0ae71f72",
    8: "aa9e11d958af2630",
}

LOSSY_DIGESTS = {
    2: "f3e4851abdaefb51",
    3: "4dabafdd32cc1bda",
    4: "aaba25dd85fad715",
    5: "633116c761b91c42",
    6: "0109129db2c18bf1",
    7: "89b6212058ab4fd3",
    8: "b077744d3fe39b67",
}


@pytest.mark.parametrize("bits", range(2, 9))
def test_lzw_bytes_are_the_reference_coders(bits: int) -> None:
    assert lzw_digest(bits) == LZW_DIGESTS[bits]


@pytest.mark.parametrize("bits", range(2, 9))
def test_lossy_bytes_are_the_reference_coders(bits: int) -> None:
    assert lossy_digest(bits) == LOSSY_DIGESTS[bits]


def test_lzw_from_threads_is_the_same() -> None:
    """The exact coder keeps its table between calls (one, taken while holding the GIL): calls
    from several threads at once, each coding with the kept table or one of its own, give the
    bytes of calls one after another, the table cleared after every call."""
    cases = [(pixels, bits) for bits in (3, 8) for pixels in lzw_inputs(bits)[-5:]]
    expected = [_gif.lzw(pixels, pixels.size, bits, 256) for pixels, bits in cases]

    def code(case: tuple[np.ndarray, int]) -> bytes:
        return _gif.lzw(case[0], case[0].size, case[1], 256)

    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(code, cases)) == expected

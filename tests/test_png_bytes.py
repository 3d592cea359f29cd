"""The indexed PNG writer's --optimize levels: the same pixels at every level, fewer bytes at the
higher ones, the same bytes whatever the threads, a palette reordered only when allowed (and
then the decoded RGBA unchanged), the fixed row filters of kmimg._png."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

import kmimg
from kmimg import _png
from kmimg.cli import app
from kmimg.io.png import LIBDEFLATE_LIMIT, OPTIMIZE_LEVELS, encode_indexed, luminance_order


def _rgba(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"))


def _chunk_kinds(png: bytes) -> list[bytes]:
    kinds, position = [], 8
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        kinds.append(kind)
        position += 12 + length
    return kinds


def _chunk_bodies(png: bytes, kind: bytes) -> list[bytes]:
    bodies, position = [], 8
    while position < len(png):
        length, found = struct.unpack(">I4s", png[position : position + 8])
        if found == kind:
            bodies.append(png[position + 8 : position + 8 + length])
        position += 12 + length
    return bodies


def _photo_like(rng: np.random.Generator, k: int, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a smooth field with noise (neighbours get near entries of a luminance ramp
    written in a shuffled order), and an opaque palette of ``k`` entries."""
    y, x = np.mgrid[0:size, 0:size]
    field = (np.sin(x / 9.0) + np.cos(y / 13.0) + 2.0) / 4.0 * (k - 1)
    ramp = np.clip(np.rint(field + rng.normal(0, 0.6, field.shape)), 0, k - 1).astype(np.intp)
    shuffle = rng.permutation(k)
    grey = np.linspace(0, 255, k).astype(np.uint8)
    palette = np.column_stack([grey, grey, grey, np.full(k, 255)]).astype(np.uint8)[shuffle]
    rank = np.empty(k, dtype=np.intp)
    rank[shuffle] = np.arange(k)
    return rank[ramp].astype(np.uint8), palette


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    entries=st.integers(1, 256),
    level=st.sampled_from(sorted(OPTIMIZE_LEVELS)),
    reorder=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_every_level_gives_the_same_pixels(
    height: int, width: int, entries: int, level: int, reorder: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (entries, 4), dtype=np.uint8)
    palette[:, 3] = np.where(rng.random(entries) < 0.7, 255, palette[:, 3])
    indices = rng.integers(0, entries, (height, width)).astype(np.uint8)
    encoded = encode_indexed(indices, palette, optimize=level, reorder=reorder)
    want = palette[indices]
    got = _rgba(encoded.data)
    assert np.array_equal(got, want)
    assert sorted(encoded.order.tolist()) == list(range(entries))
    if not reorder or level == 0:
        assert np.array_equal(encoded.order, np.arange(entries))


def test_higher_levels_write_fewer_bytes_on_photo_like_indices(rng: np.random.Generator) -> None:
    indices, palette = _photo_like(rng, 64, size=300)  # 90 KB: level 1 is libdeflate 10 in halves
    sizes = [len(encode_indexed(indices, palette, optimize=level, reorder=True).data) for level in range(4)]
    assert sizes[1] < sizes[0]
    # levels 1 and 2 filter this field alike; level 2's one stream at libdeflate 12 is within a
    # percent of level 1's two halves at 10 either way on filtered rows
    assert sizes[2] <= 1.01 * sizes[1]
    assert sizes[3] <= sizes[2]
    # a luminance ramp shuffled: ordered again, the Sub/Paeth filters pay, which level 3 finds
    assert sizes[3] < 0.97 * len(encode_indexed(indices, palette, optimize=3, reorder=False).data)


def _row_filters(png: bytes) -> set[int]:
    """The filter type of every row of a PNG (IHDR's width and depth, one channel)."""
    import zlib

    width, height, depth = struct.unpack(">IIB", _chunk_bodies(png, b"IHDR")[0][:9])
    data = zlib.decompress(b"".join(_chunk_bodies(png, b"IDAT")))
    row_bytes = -(-width * depth // 8) + 1
    return set(data[::row_bytes][:height])


@pytest.mark.parametrize(("entries", "size"), [(64, 300), (16, 400)])  # 8 and 4 bits a pixel
def test_the_default_level_filters_the_rows_when_a_sample_of_them_says_so(
    rng: np.random.Generator, entries: int, size: int
) -> None:
    indices, palette = _photo_like(rng, entries, size=size)  # a smooth grey field: filters pay
    chosen = encode_indexed(indices, palette, reorder=True)
    plain = encode_indexed(indices, palette, reorder=False)
    assert np.array_equal(_rgba(chosen.data), palette[indices])
    assert np.array_equal(chosen.order, luminance_order(palette))
    assert _row_filters(chosen.data) - {0} and _row_filters(plain.data) == {0}
    assert len(chosen.data) < 0.95 * len(plain.data)
    assert encode_indexed(indices, palette, optimize=2, reorder=True).order.tolist() == chosen.order.tolist()


def test_the_default_level_keeps_rows_unfiltered_where_filters_do_not_pay(rng: np.random.Generator) -> None:
    indices, _ = _photo_like(rng, 64, size=300)
    palette = rng.integers(0, 256, (64, 4), dtype=np.uint8)  # colours unrelated to the field's order
    palette[:, 3] = 255
    encoded = encode_indexed(indices, palette, reorder=True)
    assert np.array_equal(encoded.order, np.arange(64))
    assert _row_filters(encoded.data) == {0}


def test_small_data_and_level_0_keep_rows_unfiltered(rng: np.random.Generator) -> None:
    small, palette = _photo_like(rng, 64, size=96)  # 9 KB of data: an icon's size class
    assert _row_filters(encode_indexed(small, palette, reorder=True).data) == {0}
    big, palette = _photo_like(rng, 64, size=300)
    assert np.array_equal(encode_indexed(big, palette, optimize=0, reorder=True).order, np.arange(64))


def test_level_3_keeps_translucent_entries_first(rng: np.random.Generator) -> None:
    indices, palette = _photo_like(rng, 16)
    palette[[3, 9], 3] = [0, 128]
    encoded = encode_indexed(indices, palette, optimize=3, reorder=True)
    assert set(encoded.order[:2].tolist()) == {3, 9}
    assert np.array_equal(_rgba(encoded.data), palette[indices])
    body = encoded.data[encoded.data.index(b"tRNS") + 4 :][:2]
    assert sorted(body) == [0, 128]  # tRNS lists the two entries only


def test_luminance_order() -> None:
    palette = np.array([[255, 255, 255, 255], [0, 0, 0, 255], [90, 90, 90, 0], [0, 255, 0, 255]], np.uint8)
    assert luminance_order(palette).tolist() == [2, 1, 3, 0]


@pytest.mark.parametrize("level", sorted(OPTIMIZE_LEVELS))
def test_the_same_bytes_whatever_the_threads(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, level: int
) -> None:
    indices, palette = _photo_like(rng, 200, size=400)  # several deflate pieces at level 0
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    serial = encode_indexed(indices, palette, optimize=level, reorder=True).data
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert encode_indexed(indices, palette, optimize=level, reorder=True).data == serial


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_big_data_at_the_default_level_is_deflated_in_parallel_pieces(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    """Above LIBDEFLATE_LIMIT the default level deflates pieces of LARGE_DATA_PIECE at
    LARGE_DATA_LEVEL at once (speed on big photos): one valid zlib stream of the same bytes for
    any number of threads, about the bytes of level 0 (zlib in parallel pieces)."""
    import zlib

    import deflate

    from kmimg.io.png import LARGE_DATA_LEVEL, _filtered

    monkeypatch.setattr("kmimg.io.png.LIBDEFLATE_LIMIT", 1 << 14)
    monkeypatch.setattr("kmimg.io.png.LARGE_DATA_PIECE", 1 << 14)
    indices, palette = _photo_like(rng, 200, size=300)  # 90 KB: 6 pieces
    data = _filtered(indices, 0)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    serial = encode_indexed(indices, palette).data
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    png = encode_indexed(indices, palette).data
    assert png == serial
    assert np.array_equal(_rgba(png), palette[indices])
    idat = b"".join(_chunk_bodies(png, b"IDAT"))
    assert zlib.decompress(idat) == data.tobytes()
    assert idat[:2] == bytes(deflate.zlib_compress(b"", LARGE_DATA_LEVEL))[:2]
    level_0 = b"".join(_chunk_bodies(encode_indexed(indices, palette, optimize=0).data, b"IDAT"))
    assert len(idat) <= len(level_0) * 1.15  # pieces of 16 KiB start cold; 1 MiB ones lose ~0.1 %
    assert LIBDEFLATE_LIMIT >= 1 << 20


def _drifting_rows(rng: np.random.Generator, height: int = 300, width: int = 400) -> np.ndarray:
    """Indices of a compressible image: a first row of runs, each row after it the one above
    with 1 % of its pixels changed (the Up filter leaves runs of zeros, which a filter per row by
    byte pairs finds)."""
    rows = [np.repeat(rng.integers(0, 64, width), rng.integers(20, 80, width))[:width]]
    for _ in range(height - 1):
        row = rows[-1].copy()
        changed = rng.random(width) < 0.01
        row[changed] = rng.integers(0, 64, int(changed.sum()))
        rows.append(row)
    return np.array(rows, dtype=np.uint8)


def test_the_default_level_chooses_filters_per_row_by_byte_pairs_when_the_sample_says_so(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """:data:`BIGRAMS` needs no palette order: chosen with ``reorder`` off, the order unchanged;
    tried on compressible data only (on noise, whose 8-row sample bands flatter it, never)."""
    indices = _drifting_rows(np.random.default_rng(0))
    palette = rng.integers(0, 256, (64, 4), dtype=np.uint8)
    palette[:, 3] = 255
    for level in (1, 2):
        chosen = encode_indexed(indices, palette, optimize=level, reorder=False)
        assert np.array_equal(chosen.order, np.arange(64))
        assert np.array_equal(_rgba(chosen.data), palette[indices])
        assert 2 in _row_filters(chosen.data)
    monkeypatch.setattr("kmimg.io.png.BIGRAMS_GAIN", 0.0)
    plain = encode_indexed(indices, palette, reorder=False)
    assert _row_filters(plain.data) == {0}
    assert len(chosen.data) < len(plain.data)
    monkeypatch.undo()
    noise = rng.integers(0, 64, (300, 400)).astype(np.uint8)
    assert _row_filters(encode_indexed(noise, palette, reorder=False).data) == {0}


def test_compressible_data_is_deflated_and_its_filter_checked_at_the_compressible_level(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the default, compressible rows under 1 MiB too are deflated at
    :data:`COMPRESSIBLE_LEVEL` (level 10 took 1.15-1.5x a screenshot's whole ``-O 0`` run), and
    the sample's pick is checked again at that level; at ``-O 2`` both at level 12."""
    import deflate

    from kmimg.io.png import _LIBDEFLATE_LEVELS, COMPRESSIBLE_LEVEL, SAMPLE_LEVEL

    indices = _drifting_rows(np.random.default_rng(0))
    palette = rng.integers(0, 256, (64, 4), dtype=np.uint8)
    palette[:, 3] = 255
    real = deflate.deflate_compress
    for optimize, level in ((1, COMPRESSIBLE_LEVEL), (2, _LIBDEFLATE_LEVELS[2])):
        levels: list[int] = []

        def spy(data: memoryview, asked: int, levels: list[int] = levels) -> bytes:
            levels.append(asked)
            return real(data, asked)

        monkeypatch.setattr(deflate, "deflate_compress", spy)
        chosen = encode_indexed(indices, palette, optimize=optimize, reorder=False)
        monkeypatch.undo()
        assert 2 in _row_filters(chosen.data)
        assert set(levels) == {SAMPLE_LEVEL, level}
        assert levels.count(level) >= 2  # the pick's sample and the unfiltered one
    assert len(indices.tobytes()) < 1 << 20
    assert _LIBDEFLATE_LEVELS[1] > COMPRESSIBLE_LEVEL


def test_filter_rows_by_byte_pairs_picks_the_type_with_the_fewest(rng: np.random.Generator) -> None:
    """Kind -2: each row's type has the fewest distinct neighbouring byte pairs (ties: lowest)."""
    rows = rng.integers(0, 4, (9, 13), dtype=np.uint8)
    rows[3] = rows[2]  # Up: all zero, one pair, as a constant row has under None
    rows[5] = 7
    out = np.empty((9, 14), dtype=np.uint8)
    _png.filter_rows(rows.data, 9, 13, 1, out.data, 0, 9, -2)
    fixed = np.empty((5, 9, 14), dtype=np.uint8)
    for kind in range(5):
        _png.filter_rows(rows.data, 9, 13, 1, fixed[kind].data, 0, 9, kind)
    pairs = [
        [len(set(zip(row[1:-1].tolist(), row[2:].tolist(), strict=True))) for row in fixed[kind]]
        for kind in range(5)
    ]
    want = np.argmin(np.array(pairs), axis=0)
    assert out[:, 0].tolist() == want.tolist()
    assert out[3, 0] == 2 and out[5, 0] == 0
    back = np.empty_like(rows)
    assert _png.unfilter_rows(out.data, 9, 13, 1, back.data) == 0
    assert np.array_equal(back, rows)
    with pytest.raises(ValueError):
        _png.filter_rows(rows.data, 9, 13, 1, out.data, 0, 9, -3)


def test_big_compressible_data_is_deflated_at_the_compressible_level(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over LIBDEFLATE_LIMIT, data whose sample deflates under COMPRESSIBLE_RATIO (flat areas,
    repeated rows) takes COMPRESSIBLE_LEVEL; photo-like data LARGE_DATA_LEVEL."""
    from kmimg.io.png import COMPRESSIBLE_LEVEL, LARGE_DATA_LEVEL, LARGE_DATA_PIECE, _libdeflate_pieces

    monkeypatch.setattr("kmimg.io.png.LIBDEFLATE_LIMIT", 1 << 14)
    flat = np.zeros((300, 400), dtype=np.uint8)
    flat[40:, :60] = 1
    flat[100:140, 100:300] = 2 + (np.arange(200) // 50).astype(np.uint8)
    photo, palette = _photo_like(rng, 64, size=300)
    for indices, level in ((flat, COMPRESSIBLE_LEVEL), (photo, LARGE_DATA_LEVEL)):
        png = encode_indexed(indices, palette, reorder=False).data
        idat = b"".join(_chunk_bodies(png, b"IDAT"))
        rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8)
        assert idat == _libdeflate_pieces(rows, level, LARGE_DATA_PIECE)
    assert COMPRESSIBLE_LEVEL > LARGE_DATA_LEVEL


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 48, 1000])
def test_libdeflate_pieces_join_into_one_stream_at_every_length(length: int) -> None:
    import zlib

    from kmimg.io.png import _libdeflate_pieces

    data = (np.arange(length) % 7).astype(np.uint8)
    assert zlib.decompress(_libdeflate_pieces(data, 7, 16)) == data.tobytes()


@pytest.mark.parametrize("threads", ["1", "2", "4"])
def test_the_default_level_deflates_halves_into_one_stream_of_the_same_bytes(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, threads: str
) -> None:
    """From LIBDEFLATE_HALVES_FROM the default level deflates two halves at once: one valid
    zlib stream (its Adler-32 too), a PNG pngcheck passes, the same pixels, the same bytes for
    any number of threads, and about the bytes of one libdeflate stream."""
    import shutil
    import subprocess
    import zlib

    import deflate

    from kmimg.io.png import LIBDEFLATE_HALVES_FROM, _filtered

    indices, palette = _photo_like(rng, 200, size=400)
    data = _filtered(indices, 0)
    assert LIBDEFLATE_HALVES_FROM <= len(data) <= LIBDEFLATE_LIMIT
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    serial = encode_indexed(indices, palette).data
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    png = encode_indexed(indices, palette).data
    assert png == serial
    assert np.array_equal(_rgba(png), palette[indices])
    idat = b"".join(_chunk_bodies(png, b"IDAT"))
    assert zlib.decompress(idat) == data.tobytes()
    assert idat[:2] == bytes(deflate.zlib_compress(b"", 10))[:2]
    assert len(idat) <= len(deflate.zlib_compress(data.data, 10)) * 1.03  # photos: -0.7 to +0.9 %
    if shutil.which("pngcheck"):
        (tmp_path / "out.png").write_bytes(png)
        subprocess.run(["pngcheck", "-q", str(tmp_path / "out.png")], check=True)


def test_smaller_data_at_the_default_level_is_one_libdeflate_stream_at_level_9(
    rng: np.random.Generator,
) -> None:
    import deflate

    from kmimg.io.png import LIBDEFLATE_HALVES_FROM, SMALL_DATA_LEVEL, _filtered

    indices, palette = _photo_like(rng, 200, size=200)
    data = _filtered(indices, 0)
    assert len(data) < LIBDEFLATE_HALVES_FROM
    idat = b"".join(_chunk_bodies(encode_indexed(indices, palette).data, b"IDAT"))
    assert SMALL_DATA_LEVEL == 9 and idat == bytes(deflate.zlib_compress(data.data, 9))


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=3000),
    cuts=st.lists(st.integers(0, 3000), max_size=3),
    repeat=st.integers(1, 40),
    level=st.sampled_from([0, 1, 6, 9, 10, 12]),
)
def test_unfinish_deflate_lets_raw_streams_join_into_one(
    data: bytes, cuts: list[int], repeat: int, level: int
) -> None:
    """Whole raw deflate streams (libdeflate's; zlib's level 0 writes stored blocks), each but
    the last unfinished, concatenate into one stream of the whole data that ends where it ends."""
    import zlib

    import deflate

    data = data * repeat
    bounds = [0, *sorted(min(cut * repeat, len(data)) for cut in cuts), len(data)]
    pieces = [data[start:stop] for start, stop in itertools.pairwise(bounds)]
    streams = []
    for piece in pieces:
        if level == 0:
            deflater = zlib.compressobj(0, zlib.DEFLATED, -15)
            streams.append(deflater.compress(piece) + deflater.flush())
        else:
            streams.append(bytes(deflate.deflate_compress(piece, level)))
    joined = b"".join(_png.unfinish_deflate(stream) for stream in streams[:-1]) + streams[-1]
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(joined) == data
    assert inflater.eof and not inflater.unused_data
    unfinished = _png.unfinish_deflate(streams[0])
    assert len(streams[0]) + 4 <= len(unfinished) <= len(streams[0]) + 5  # a sync flush's block


@pytest.mark.parametrize(
    "stream",
    [b"", b"\x00", b"\xff\xff\xff", b"\x03\x00\x00", b"\x03\x00garbage", b"\x02"],
    ids=["empty", "stored-cut", "bad-type", "extra-bytes", "trailing", "cut"],
)
def test_unfinish_deflate_refuses_what_is_not_one_whole_stream(stream: bytes) -> None:
    with pytest.raises(ValueError, match="not one whole raw deflate stream"):
        _png.unfinish_deflate(stream)


def test_refuses_a_level_out_of_range() -> None:
    with pytest.raises(ValueError, match="optimize must be 0 to 3"):
        encode_indexed(np.zeros((2, 2), np.uint8), np.zeros((1, 4), np.uint8), optimize=4)


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
def test_filter_rows_with_a_fixed_type_undoes_exactly(rng: np.random.Generator, kind: int) -> None:
    rows = rng.integers(0, 256, (7, 11), dtype=np.uint8)
    out = np.empty((7, 12), dtype=np.uint8)
    _png.filter_rows(rows.data, 7, 11, 1, out.data, 0, 7, kind)
    assert (out[:, 0] == kind).all()
    back = np.empty_like(rows)
    assert _png.unfilter_rows(out.data, 7, 11, 1, back.data) == 0
    assert np.array_equal(back, rows)
    with pytest.raises(ValueError):
        _png.filter_rows(rows.data, 7, 11, 1, out.data, 0, 7, 5)


def test_library_save_and_cli_agree_at_level_3(tmp_path: Path) -> None:
    """The command line and QuantizeResult.to_png write the same bytes at --optimize 3 (the
    same palette reordering), the same pixels as the result's."""
    y, x = np.mgrid[0:64, 0:80]
    rgb = np.stack([x * 3, y * 4, (x + y) * 2], -1).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    result = kmimg.quantize(tmp_path / "in.png", 16, optimize=3)
    argv = ["quantize", str(tmp_path / "in.png"), "-k", "16", "-O", "3", "-o", str(tmp_path / "o.png")]
    outcome = CliRunner().invoke(app, argv)
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "o.png").read_bytes() == result.to_png()
    assert np.array_equal(_rgba(result.to_png())[..., :3], result.to_rgb())
    assert _chunk_kinds(result.to_png()) == [b"IHDR", b"PLTE", b"IDAT", b"IEND"]


def test_the_default_level_is_smaller_than_level_0_and_optimize_is_checked(tmp_path: Path) -> None:
    y, x = np.mgrid[0:270, 0:360]  # 97 KB of indices: level 10 (small data takes level 9)
    rgb = np.clip(
        np.stack([x * 2 // 3, y * 2 // 3, (x + y) // 3], -1)
        + np.random.default_rng(3).normal(0, 5, (270, 360, 3)),
        0,
        255,
    )
    result = kmimg.quantize(rgb.astype(np.uint8), 64)
    fast = kmimg.quantize(rgb.astype(np.uint8), 64, optimize=0)
    assert len(result.to_png()) < len(fast.to_png())
    assert np.array_equal(_rgba(result.to_png()), _rgba(fast.to_png()))
    with pytest.raises(ValueError, match="optimize must be between 0 and 3"):
        kmimg.quantize(rgb.astype(np.uint8), 8, optimize=7)
    outcome = CliRunner().invoke(app, ["quantize", "x.png", "-O", "4"])
    assert outcome.exit_code == 2


def test_a_given_palette_keeps_its_order_at_level_3(tmp_path: Path) -> None:
    """--palette outputs keep the file's order at every level: index i is the same colour in
    every output (only a fitted palette may be reordered)."""
    colours = ["#ffffff", "#000000", "#808080", "#ff0000", "#00ff00", "#0000ff", "#404040", "#c0c0c0"]
    (tmp_path / "p.hex").write_text("\n".join(colours) + "\n")
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 4, y * 5, (x + y) * 2], -1).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    argv = ["quantize", str(tmp_path / "in.png"), "--palette", str(tmp_path / "p.hex"), "-O", "3"]
    outcome = CliRunner().invoke(app, [*argv, "-o", str(tmp_path / "o.png")])
    assert outcome.exit_code == 0, outcome.output
    with Image.open(tmp_path / "o.png") as image:
        plte = image.getpalette()
    assert plte is not None
    assert ["#{:02x}{:02x}{:02x}".format(*plte[i : i + 3]) for i in range(0, 24, 3)] == colours

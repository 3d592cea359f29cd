"""``--posterize BITS`` (pngquant's option): every channel of every fitted entry a value that
``8 - BITS`` bits widened to 8 give (low bits a copy of the top ones), the nearest one; kept
colours and the transparent entry exact; the command line, the API and their refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

import kmimg
from kmimg.cli import app
from kmimg.core.quantize import analyze, quantize, quantize_onto
from kmimg.options import QuantizeOptions
from kmimg.posterize import posterize_levels

runner = CliRunner()


def _shown(bits: int) -> set[int]:
    """Every value a display of ``8 - bits`` bits a channel shows, widened to 8 bits."""
    return {(top << bits) | (top >> (8 - 2 * bits)) for top in range(1 << (8 - bits))}


def _photo(rng: np.random.Generator, size: int = 96) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([200 * x + 30, 120 + 100 * np.sin(6 * y), 255 * x * y], axis=-1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _mse(rgb: np.ndarray, palette: np.ndarray, indices: np.ndarray) -> float:
    return float(np.mean((rgb.astype(float) - palette[indices][..., :3].astype(float)) ** 2))


@pytest.mark.parametrize("bits", range(5))
def test_levels_are_the_nearest_shown_values(bits: int) -> None:
    levels = posterize_levels(bits)
    shown = np.array(sorted(_shown(bits)))
    assert set(levels.tolist()) == set(shown.tolist())
    for value in range(256):
        distance = np.abs(shown - value)
        assert abs(int(levels[value]) - value) == distance.min()
        assert levels[value] == shown[np.argmin(distance)]  # ties: the lower
    assert levels[0] == 0 and levels[255] == 255
    assert np.array_equal(levels[levels], levels)


def test_bits_zero_is_every_value_and_the_default_result(rng: np.random.Generator) -> None:
    assert np.array_equal(posterize_levels(0), np.arange(256))
    rgb = _photo(rng)
    plain = quantize(rgb, None, QuantizeOptions(k=16), measure=False)
    zero = quantize(rgb, None, QuantizeOptions(k=16, posterize=0), measure=False)
    assert np.array_equal(plain.palette, zero.palette) and np.array_equal(plain.indices, zero.indices)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.sampled_from([2, 5, 16, 64]), bits=st.integers(1, 4))
def test_every_entry_is_posterized_and_every_pixel_its_nearest(seed: int, k: int, bits: int) -> None:
    """Property: every channel of every entry is a shown value; at most k entries; each pixel on
    its nearest entry (the plain RGB distance)."""
    rgb = _photo(np.random.default_rng(seed), size=40)
    result = quantize(rgb, None, QuantizeOptions(k=k, posterize=bits), measure=False)
    assert len(result.palette) <= k
    assert set(np.unique(result.palette[:, :3]).tolist()) <= _shown(bits)
    colors = rgb.reshape(-1, 3).astype(np.int64)
    distances = ((colors[:, None, :] - result.palette[None, :, :3].astype(np.int64)) ** 2).sum(axis=2)
    chosen = distances[np.arange(len(colors)), result.indices.ravel()]
    assert np.array_equal(chosen, distances.min(axis=1))


def test_a_posterized_fit_beats_truncating_the_same_fit(rng: np.random.Generator) -> None:
    """pngquant's rule truncates each channel; the nearest value, the colours mapped again and
    the room of merged entries refilled give less error (here: at every k and bits)."""
    rgb = _photo(rng)
    analysis = analyze(rgb)
    for k in (8, 32, 128):
        fitted = quantize(rgb, None, QuantizeOptions(k=k), measure=False).palette
        for bits in (2, 4):
            mask = 0xFF & ~((1 << bits) - 1)
            truncated = (fitted & mask) | (fitted >> (8 - bits))
            truncated[:, 3] = 255
            onto = quantize_onto(analysis, np.unique(truncated, axis=0), QuantizeOptions(k=k), measure=False)
            ours = quantize(rgb, None, QuantizeOptions(k=k, posterize=bits), measure=False)
            assert _mse(rgb, ours.palette, ours.indices) < _mse(rgb, onto.palette, onto.indices)


def test_an_image_of_few_posterized_colours_keeps_them_all() -> None:
    """A grey ramp of 256 levels at 4 bits posterizes to 16 greys: K = 16 holds all of them, the
    least error there is at that precision (truncating the fit's 16 greys would merge some)."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :], 8, axis=0)
    rgb = np.dstack([ramp] * 3)
    result = quantize(rgb, None, QuantizeOptions(k=16, posterize=4), measure=False)
    assert sorted(result.palette[:, 0].tolist()) == sorted(_shown(4))
    levels = posterize_levels(4)
    assert np.array_equal(result.palette[result.indices][..., 0], levels[ramp])


def test_kept_colours_and_the_transparent_entry_stay_exact(rng: np.random.Generator) -> None:
    rgb = _photo(rng, size=48)
    alpha = np.full(rgb.shape[:2], 255, dtype=np.uint8)
    alpha[:8] = 0
    alpha[8:16] = np.linspace(20, 240, 48, dtype=np.uint8)[None, :]  # translucent rows
    options = QuantizeOptions(k=12, posterize=4, keep=((231, 1, 18),), transparent_index=0)
    result = quantize(rgb, alpha, options, measure=False)
    palette = [tuple(entry) for entry in result.palette.tolist()]
    assert palette[0][3] == 0
    assert (231, 1, 18, 255) in palette
    others = [entry for entry in palette if entry != (231, 1, 18, 255) and entry[3] != 0]
    assert set(np.unique(np.array(others)).tolist()) <= _shown(4)
    assert np.all(result.indices[:8] == 0)


def test_the_command_line_and_the_api_posterize(tmp_path: Path, rng: np.random.Generator) -> None:
    source = tmp_path / "photo.png"
    Image.fromarray(_photo(rng)).save(source)
    out = tmp_path / "p4.png"
    done = runner.invoke(app, ["quantize", str(source), "-k", "32", "--posterize", "4", "-o", str(out)])
    assert done.exit_code == 0, done.output
    image = Image.open(out)
    assert image.mode == "P"
    assert set(image.getpalette()[: 3 * (int(np.asarray(image).max()) + 1)]) <= _shown(4)
    api = kmimg.quantize(str(source), 32, posterize=4)
    assert api.to_png() == out.read_bytes()
    summary = tmp_path / "summary.json"
    words = ["quantize", str(source), "-k", "32", "--posterize", "4", "-o", str(out), "--json", str(summary)]
    assert runner.invoke(app, words).exit_code == 0
    assert json.loads(summary.read_text())["results"][0]["posterize"] == 4
    with pytest.raises(ValueError, match="posterize"):
        kmimg.quantize(str(source), 32, posterize=5)
    with pytest.raises(ValueError, match="posterize"):
        kmimg.quantize(str(source), posterize=2, palette=[(0, 0, 0), (255, 255, 255)])


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--posterize", "5"], "--posterize"), (["--posterize", "2", "--palette", "PAL"], "--posterize")],
)
def test_the_command_line_refuses_what_cannot_be_posterized(
    tmp_path: Path, rng: np.random.Generator, extra: list[str], message: str
) -> None:
    source = tmp_path / "photo.png"
    Image.fromarray(_photo(rng, size=16)).save(source)
    palette = tmp_path / "two.hex"
    palette.write_text("#000000\n#ffffff\n")
    words = [str(palette) if word == "PAL" else word for word in extra]
    done = runner.invoke(app, ["quantize", str(source), "-o", str(tmp_path / "o.png"), *words])
    assert done.exit_code == 2
    assert message in done.output
    assert not (tmp_path / "o.png").exists()


def test_animated_gif_frames_are_posterized_too(tmp_path: Path) -> None:
    """Frames of few colours would be shown exactly on a table of their own (review, session 17):
    with --posterize every frame's colours are posterized, by default and with --one-palette."""
    first = np.zeros((16, 16, 3), dtype=np.uint8)
    first[:] = (10, 200, 33)
    first[8:] = (250, 7, 120)
    second = first.copy()
    second[:, :4] = (99, 99, 180)
    source = tmp_path / "two.gif"
    Image.fromarray(first).save(source, save_all=True, append_images=[Image.fromarray(second)], duration=100)
    for extra in ([], ["--one-palette"]):
        out = tmp_path / "out.gif"
        done = runner.invoke(
            app, ["quantize", str(source), "-k", "16", "--posterize", "4", "-o", str(out), *extra]
        )
        assert done.exit_code == 0, done.output
        with Image.open(out) as gif:
            assert gif.n_frames == 2
            for number in range(2):
                gif.seek(number)
                assert set(np.unique(np.asarray(gif.convert("RGB"))).tolist()) <= _shown(4)


def test_quality_mode_searches_no_further_than_the_posterized_colours() -> None:
    """A noisy grey ramp posterizes to 16 greys at 4 bits: quality mode stops there, and the
    palette size it reports is the one it used (review: it climbed to the unposterized count)."""
    from kmimg.core.quality import quantize_to_goal
    from kmimg.options import QualityGoal

    rng = np.random.default_rng(3)
    ramp = np.clip(np.arange(64)[None, :] * 4 + rng.normal(0, 3, (64, 64)), 0, 255).astype(np.uint8)
    analysis = analyze(np.dstack([ramp] * 3))
    found = quantize_to_goal(
        analysis, QuantizeOptions(k=256, posterize=4), QualityGoal(minimum=0, maximum=100)
    )
    assert found.k <= 16
    assert len(found.quantized.palette) <= found.k


def test_translucent_images_use_the_room_posterizing_leaves() -> None:
    """Refilled entries are chosen in the alpha-aware space the colours are mapped in, so that
    they are used (review: scored in plain RGBA, up to 15 % of K went unused)."""
    y, x = np.mgrid[0:96, 0:96]
    rgb = np.dstack([x * 2 + 40, y * 2 + 20, (x + y) + 30]).astype(np.uint8)
    radius = np.hypot(x - 47.5, y - 47.5) / 48
    alpha = (np.clip((1 - radius) / 0.35, 0, 1) * 255).astype(np.uint8)
    for k in (64, 128):
        result = quantize(rgb, alpha, QuantizeOptions(k=k, posterize=4), measure=False)
        assert len(result.palette) >= 0.97 * k


def test_the_palette_command_posterizes_its_shared_fit(tmp_path: Path, rng: np.random.Generator) -> None:
    """``kmimg palette --posterize`` (and ``kmimg.palette``/``palette_files``): every colour of
    the palette file posterized, the kept one exact."""
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(_photo(rng, 48)).save(first)
    Image.fromarray(_photo(rng, 48)[::-1]).save(second)
    out, summary = tmp_path / "shared.hex", tmp_path / "shared.json"
    words = ["palette", str(first), str(second), "-k", "12", "--posterize", "3", "--keep", "#e60012"]
    done = runner.invoke(app, [*words, "-o", str(out), "--json", str(summary)])
    assert done.exit_code == 0, done.output
    assert json.loads(summary.read_text())["posterize"] == 3
    rows = [bytes.fromhex(line.strip().lstrip("#")) for line in out.read_text().split() if line.strip()]
    assert (0xE6, 0x00, 0x12) in [tuple(row) for row in rows]
    others = {value for row in rows if tuple(row) != (0xE6, 0x00, 0x12) for value in row}
    assert others <= _shown(3)
    api = kmimg.palette([str(first), str(second)], 12, posterize=3, keep="#e60012")
    assert sorted(map(tuple, api.palette[:, :3].tolist())) == sorted(tuple(row) for row in rows)
    run = kmimg.palette_files([str(first), str(second)], 12, posterize=3, keep="#e60012", jobs=1)
    assert run.palette is not None and np.array_equal(run.palette.palette, api.palette)

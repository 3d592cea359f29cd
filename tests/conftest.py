"""Shared fixtures: paths to the bundled samples and small synthetic images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"


@pytest.fixture
def samples() -> Path:
    """The folder of bundled sample images (china.jpg, flower.jpg, coins.png, ...)."""
    return SAMPLES


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def noisy_rgb(rng: np.random.Generator) -> np.ndarray:
    """A 40x30 RGB image with many distinct colours (a gradient plus noise)."""
    y, x = np.mgrid[0:30, 0:40]
    base = np.stack([x * 6, y * 8, (x + y) * 3], axis=-1).astype(np.float64)
    noisy = base + rng.normal(0, 12, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.fixture
def write_png(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Save an array as a PNG in tmp_path and return its path."""

    def write(array: np.ndarray, name: str = "image.png") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)
        return path

    return write

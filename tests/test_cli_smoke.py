"""First CLI checks: the app starts and quantizes a sample image."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app

runner = CliRunner()


def test_help_lists_quantize() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "quantize" in result.output


def test_quantize_sample_writes_indexed_png(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "flower.png"
    result = runner.invoke(app, ["quantize", str(samples / "flower.jpg"), "-k", "8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.mode == "P"
        assert len(image.getcolors()) <= 8

"""Contact sheets: an image and its quantized versions side by side in a captioned grid.

The figure of the seed tutorial ("Image Compression by Color Quantization": the original flower
next to k = 32, 16, 8), drawn with Pillow and its default font. Pure: tiles in, an RGB array out;
the caller encodes it (:func:`kmimg.io.encode_png`) and writes it.

Thumbnails are scaled to fit a square of ``thumb`` pixels with Lanczos filtering (smaller images
are enlarged by a whole factor without filtering, so their pixels stay visible); transparent
pixels are shown over a grey checkerboard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.options import SHEET_MIN_THUMB, SHEET_THUMB
from kmimg.render.montage import caption_font, fit_tile

if TYPE_CHECKING:
    from PIL import Image

    from kmimg.core.report import CompressReport

#: Longest side of a thumbnail in a contact sheet, in pixels (``--thumb``).
DEFAULT_THUMB = SHEET_THUMB
_PAD = 8
_FONT_SIZE = 13
_LINE = 17
_BACKGROUND = (255, 255, 255)
_TEXT = (34, 34, 34)
_HIGHLIGHT = (0, 128, 64)
_CHECKER = (204, 204, 204)


@frozen
class Tile:
    """One cell of a sheet: an image (optional alpha), caption lines, and whether to mark it."""

    rgb: NDArray[np.uint8]
    alpha: NDArray[np.uint8] | None
    caption: tuple[str, ...]
    highlight: bool = False


def contact_sheet(
    tiles: Sequence[Tile | None],
    *,
    thumb: int = DEFAULT_THUMB,
    title: str = "",
    columns: int | None = None,
) -> NDArray[np.uint8]:
    """Draw ``tiles`` in a grid (``columns`` defaults to ``ceil(sqrt(n))``) as an RGB array; a
    ``None`` tile is an empty cell."""
    from PIL import Image, ImageDraw

    if not any(tile is not None for tile in tiles):
        raise ValueError("a contact sheet needs at least one tile")
    if thumb < SHEET_MIN_THUMB:
        raise ValueError(f"thumb must be at least {SHEET_MIN_THUMB} pixels")
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    cells = [(index, tile) for index, tile in enumerate(tiles) if tile is not None]
    thumbs = [_thumbnail(tile, thumb) for _, tile in cells]
    lines = max(len(tile.caption) for _, tile in cells)
    cell_w = max(thumb, max(image.width for image in thumbs)) + 2 * _PAD
    cell_h = max(image.height for image in thumbs) + 2 * _PAD + lines * _LINE
    header = _LINE + _PAD if title else 0
    sheet = Image.new("RGB", (columns * cell_w + _PAD, rows * cell_h + header + _PAD), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = caption_font(_FONT_SIZE)
    if title:
        draw.text((_PAD * 2, _PAD), title, fill=_TEXT, font=font)
    for (index, tile), image in zip(cells, thumbs, strict=True):
        left = _PAD + (index % columns) * cell_w + (cell_w - image.width) // 2
        top = header + _PAD + (index // columns) * cell_h + _PAD
        sheet.paste(image, (left, top))
        if tile.highlight:
            box = (left - 4, top - 4, left + image.width + 3, top + image.height + 3)
            draw.rectangle(box, outline=_HIGHLIGHT, width=3)
        for number, text in enumerate(tile.caption):
            colour = _HIGHLIGHT if tile.highlight and number == 0 else _TEXT
            draw.text((left, top + image.height + 4 + number * _LINE), text, fill=colour, font=font)
    return np.asarray(sheet, dtype=np.uint8)


def report_sheet(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    report: CompressReport,
    *,
    name: str,
    input_format: str,
    thumb: int = DEFAULT_THUMB,
) -> NDArray[np.uint8]:
    """The contact sheet of a report: the original, then each k captioned with size and PSNR.

    Each quantized tile is decoded from the report's PNG bytes, so the sheet shows exactly the
    files that were measured. The recommended k is framed. A report with dithered PNGs gets a
    second row: each k dithered, under the same k undithered.
    """
    from kmimg.core.report import human_bytes

    tiles: list[Tile | None] = [
        Tile(rgb, alpha, ("original", f"{human_bytes(report.input_bytes)} {input_format}".strip())),
    ]
    for step in report.steps:
        head = f"k={step.k}" + (" (recommended)" if step.k == report.recommended_k else "")
        recommended = step.k == report.recommended_k
        tiles.append(_k_tile(report.pngs[step.k], head, step.png_bytes, step.psnr, highlight=recommended))
    columns = None
    if report.dithered_pngs:
        columns = len(tiles)
        tiles.append(None)
        for step in report.steps:
            assert step.dithered is not None
            head = f"k={step.k} dithered {report.dither:g}"
            tiles.append(
                _k_tile(report.dithered_pngs[step.k], head, step.dithered.png_bytes, step.dithered.psnr)
            )
    wanted = ", ".join(target.describe(ascii_only=True) for target in report.targets)
    verdict = f"k={report.recommended_k}" if report.recommended_k is not None else "no k meets it"
    title = f"{name}  {report.width}x{report.height}  target {wanted}: {verdict}"
    return contact_sheet(tiles, thumb=thumb, title=title, columns=columns)


def _k_tile(png: bytes, head: str, size: int, psnr: float, *, highlight: bool = False) -> Tile:
    from kmimg.core.report import human_bytes
    from kmimg.io import load_image

    decoded = load_image(head, data=png)
    shown = "lossless" if math.isinf(psnr) else f"PSNR {psnr:.2f} dB"
    return Tile(decoded.rgb, decoded.alpha, (head, f"{human_bytes(size)}, {shown}"), highlight=highlight)


def _thumbnail(tile: Tile, size: int) -> Image.Image:
    return fit_tile(_flatten(tile.rgb, tile.alpha), size)


def _flatten(rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None) -> NDArray[np.uint8]:
    """Composite over a checkerboard so that transparency is visible."""
    if alpha is None:
        return np.ascontiguousarray(rgb)
    height, width = alpha.shape
    y, x = np.mgrid[0:height, 0:width]
    checker = np.where(((y // 8 + x // 8) % 2 == 0)[..., None], _CHECKER, _BACKGROUND).astype(np.float64)
    weight = alpha[..., None].astype(np.float64) / 255.0
    mixed = rgb.astype(np.float64) * weight + checker * (1.0 - weight)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)

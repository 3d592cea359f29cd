"""Montages of clusters: each cluster's centre drawn as an image, next to a few of its members.

The seed tutorial shows the ten k-means centres of the digits as 8x8 pictures ("Kmeans Center
0" ... "Kmeans Center 9"); :func:`cluster_montage` draws the same figure, and, when members are
given, one row per cluster: the framed centre, then its members nearest to the centre first.
An empty cluster (k-means can leave one without members) has no centre worth drawing: its tile
is an empty grey frame, next to its caption ("0 images").
Pure: arrays in, an RGB array out; the caller encodes it (:func:`kmimg.io.encode_png`).

Tiles are fitted into a square of ``thumb`` pixels: smaller images are enlarged by a whole factor
without filtering (an 8x8 digit stays a grid of crisp pixels), larger ones reduced with Lanczos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.options import MONTAGE_MIN_THUMB, MONTAGE_THUMB

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

    from kmimg.core.classify import Clustering, Evaluation
    from kmimg.options import FeatureOptions

#: Side of the square each tile is fitted into (``--thumb``).
DEFAULT_THUMB = MONTAGE_THUMB
#: Centres per line when the montage shows centres only (the seed's figure has 5).
GRID_COLUMNS = 5
_PAD = 6
_GAP = 3
_FONT_SIZE = 12
_LINE = 15
_BACKGROUND = (255, 255, 255)
_TEXT = (34, 34, 34)
_FRAME = (200, 40, 40)
#: Outline of the empty tile drawn instead of an empty cluster's centre.
EMPTY_FRAME = (190, 190, 190)


@frozen
class ClusterRow:
    """One cluster in a montage: its centre as an RGB image (``None`` for an empty cluster,
    drawn as an empty frame), member images, caption lines."""

    center: NDArray[np.uint8] | None
    members: Sequence[NDArray[np.uint8]] = field(default_factory=tuple)
    caption: tuple[str, ...] = ()


def cluster_montage(
    rows: Sequence[ClusterRow],
    *,
    thumb: int = DEFAULT_THUMB,
    title: str = "",
) -> NDArray[np.uint8]:
    """Draw the clusters as an RGB array ``(h, w, 3)``.

    Without members: the centres in a grid of up to :data:`GRID_COLUMNS` per line, captions
    under them. With members: one line per cluster, caption above, framed centre first. A row
    whose ``center`` is ``None`` gets an empty grey frame where the centre would be.
    """
    if not rows:
        raise ValueError("a montage needs at least one cluster")
    if thumb < MONTAGE_MIN_THUMB:
        raise ValueError(f"thumb must be at least {MONTAGE_MIN_THUMB} pixels")
    pen = _Pen()
    header = _LINE + _PAD if title else 0
    with_members = any(len(row.members) > 0 for row in rows)
    draw_rows = _member_rows if with_members else _centre_grid
    sheet, draw = draw_rows(rows, pen, thumb=thumb, header=header, title_width=pen.width(title))
    if title:
        draw.text((_PAD, _PAD), title, fill=_TEXT, font=pen.font)
    return np.asarray(sheet, dtype=np.uint8)


class _Pen:
    """The caption font and text widths measured with it."""

    def __init__(self) -> None:
        from PIL import Image, ImageDraw

        self.font = caption_font()
        self._probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def width(self, text: str) -> int:
        return math.ceil(self._probe.textlength(text, font=self.font))

    def widest(self, rows: Sequence[ClusterRow]) -> int:
        return max((self.width(line) for row in rows for line in row.caption), default=0)


def _member_rows(
    rows: Sequence[ClusterRow], pen: _Pen, *, thumb: int, header: int, title_width: int
) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """One line per cluster: caption lines, then the framed centre and its members."""
    from PIL import Image, ImageDraw

    cell = thumb + 2 * _GAP
    most = max(len(row.members) for row in rows)
    lines = max(len(row.caption) for row in rows)
    row_h = lines * _LINE + cell + _PAD
    width = max((1 + most) * cell + _PAD, pen.widest(rows)) + 2 * _PAD
    width = max(width, title_width + 2 * _PAD)
    sheet = Image.new("RGB", (width, header + len(rows) * row_h + _PAD), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for number, row in enumerate(rows):
        top = header + _PAD + number * row_h
        for line, text in enumerate(row.caption):
            draw.text((_PAD, top + line * _LINE), text, fill=_TEXT, font=pen.font)
        top += lines * _LINE
        _paste_center(sheet, draw, row.center, (_PAD, top), thumb, framed=True)
        for slot, image in enumerate(row.members):
            _paste(sheet, draw, image, (2 * _PAD + (slot + 1) * cell, top), thumb, framed=False)
    return sheet, draw


def _centre_grid(
    rows: Sequence[ClusterRow], pen: _Pen, *, thumb: int, header: int, title_width: int
) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """Centres only, in a grid of up to :data:`GRID_COLUMNS` per line, captions centred below."""
    from PIL import Image, ImageDraw

    cell = thumb + 2 * _GAP
    columns = min(GRID_COLUMNS, len(rows))
    lines = max(len(row.caption) for row in rows)
    cell_w = max(cell, pen.widest(rows)) + _PAD
    cell_h = cell + lines * _LINE + _PAD
    grid_rows = math.ceil(len(rows) / columns)
    width = max(columns * cell_w + _PAD, title_width + 2 * _PAD)
    sheet = Image.new("RGB", (width, header + grid_rows * cell_h + _PAD), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for number, row in enumerate(rows):
        left = _PAD + (number % columns) * cell_w
        top = header + _PAD + (number // columns) * cell_h
        corner = (left + (cell_w - _PAD - cell) // 2, top)
        _paste_center(sheet, draw, row.center, corner, thumb, framed=False)
        for line, text in enumerate(row.caption):
            x = left + (cell_w - _PAD - pen.width(text)) // 2
            draw.text((x, top + cell + line * _LINE), text, fill=_TEXT, font=pen.font)
    return sheet, draw


def classify_montage(
    grouping: Clustering,
    tiles: Sequence[Sequence[NDArray[np.uint8]]],
    options: FeatureOptions,
    evaluation: Evaluation | None,
    *,
    captions_in_one_line: bool,
    thumb: int = DEFAULT_THUMB,
) -> NDArray[np.uint8]:
    """The ``kmimg classify --montage`` picture: each cluster's centre drawn as an image (see
    :func:`kmimg.core.classify.feature_image`), captioned with its size (and majority label), next
    to ``tiles[cluster]``, its members nearest the centre first."""
    from kmimg.core.classify import feature_image

    rows = []
    for cluster in range(grouping.k):
        size = int(grouping.sizes[cluster])
        caption = [f"cluster {cluster}", f"{size} image{'s' if size != 1 else ''}"]
        if evaluation is not None and cluster in evaluation.mapping:
            caption.append(f"label {evaluation.mapping[cluster]}")
        rows.append(
            ClusterRow(
                # An empty cluster's centre is wherever k-means left it, not a picture of
                # anything: the montage shows an empty frame captioned "0 images" instead.
                center=feature_image(grouping.centers[cluster], options) if size else None,
                members=tuple(tiles[cluster]),
                caption=(", ".join(caption),) if captions_in_one_line else tuple(caption),
            )
        )
    title = f"k={grouping.k} clusters of {len(grouping.labels)} images, {options.describe()}"
    if evaluation is not None:
        title += f", accuracy {evaluation.accuracy:.3f}"
    return cluster_montage(rows, thumb=thumb, title=title)


def _paste_center(
    sheet: Image.Image,
    draw: ImageDraw.ImageDraw,
    center: NDArray[np.uint8] | None,
    corner: tuple[int, int],
    thumb: int,
    *,
    framed: bool,
) -> None:
    if center is not None:
        _paste(sheet, draw, center, corner, thumb, framed=framed)
        return
    left, top = corner[0] + _GAP, corner[1] + _GAP
    draw.rectangle((left, top, left + thumb - 1, top + thumb - 1), outline=EMPTY_FRAME, width=1)


def _paste(
    sheet: Image.Image,
    draw: ImageDraw.ImageDraw,
    pixels: NDArray[np.uint8],
    corner: tuple[int, int],
    thumb: int,
    *,
    framed: bool,
) -> None:
    tile = fit_tile(pixels, thumb)
    left = corner[0] + _GAP + (thumb - tile.width) // 2
    top = corner[1] + _GAP + (thumb - tile.height) // 2
    sheet.paste(tile, (left, top))
    if framed:
        box = (left - 2, top - 2, left + tile.width + 1, top + tile.height + 1)
        draw.rectangle(box, outline=_FRAME, width=2)


def flatten_alpha(rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None) -> NDArray[np.uint8]:
    """Composite over black, as the pixel features see the image."""
    if alpha is None:
        return rgb
    mixed = rgb.astype(np.float64) * (alpha[..., None].astype(np.float64) / 255.0)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def fit_tile(pixels: NDArray[np.uint8], size: int) -> Image.Image:
    """An RGB (or grey) array as a Pillow image fitted into a ``size`` square."""
    from PIL import Image

    array = np.ascontiguousarray(pixels, dtype=np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    image = Image.fromarray(array[..., :3])
    longest = max(image.width, image.height)
    if longest <= size:
        factor = max(1, size // longest)
        return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    scale = size / longest
    shape = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(shape, Image.Resampling.LANCZOS)


def caption_font(size: int = _FONT_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (its bitmap font where FreeType is missing)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError, TypeError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()

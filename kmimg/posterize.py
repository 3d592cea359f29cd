"""Posterized palettes (``--posterize BITS``, pngquant's option of the same name): every channel of
every entry a value that a display of ``8 - BITS`` bits a channel shows exactly (RGB565 is
``--posterize 3`` for red and blue, whose 5 bits it gives exactly, 2 for green; RGBA4444
``--posterize 4``).

Such a value has its top ``8 - BITS`` bits free and its low ``BITS`` bits a copy of its own top
ones, as a display widening ``8 - BITS`` bits to 8 makes them (libimagequant's rule; 0 and 255
stay). pngquant truncates each channel to such a value; kmimg moves each fitted entry to the
*nearest* one (:func:`posterize_levels`), gives the room of entries posterized alike to the
posterized colours that take the most error away (:func:`_refilled`), and lets the image's
colours choose among the posterized entries again. Kept colours (``--keep``) and the transparent
entry stay as they are. Against ``pngquant --nofs --posterize`` at K = 16, 64 and 256 and 2 and
4 bits (``benchmarks/posterize.py``): +0.00 to +2.34 dB on the 8 hold-out photos, +0.00 to
+0.45 on four grey ones, +0.05 to +4.47 (premultiplied) on the 33 judged translucent images.
Moving each entry
to the posterized mean of its colours afterwards, a few times, gained at most 0.06 dB before the
refill was added, and was left out.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

from kmimg.colorfit import ColorTable, FittedPalette, nearest_colors, palette_features, rows_in
from kmimg.colorspace import pack_colors
from kmimg.types import ColorSpace

#: Rounds of :func:`_refilled`: each gives half the room left (the last all of it), so that
#: colours added together are chosen against the palette of the round before.
REFILL_ROUNDS = 4


@functools.lru_cache(maxsize=8)
def posterize_levels(bits: int) -> NDArray[np.uint8]:
    """For each 8-bit value, the nearest value of ``8 - bits`` bits widened to 8 (its top bits
    repeated below them), ties to the lower one; ``bits`` 0 is every value itself. Read-only."""
    kept = 8 - bits
    tops = np.arange(1 << kept, dtype=np.int64)
    shown = (tops << bits) | (tops >> max(kept - bits, 0))
    distance = np.abs(np.arange(256, dtype=np.int64)[:, None] - shown[None, :])
    table: NDArray[np.uint8] = shown[np.argmin(distance, axis=1)].astype(np.uint8)  # ties: the lower
    table.flags.writeable = False
    return table


def posterize_fitted(
    fitted: FittedPalette, table: ColorTable, bits: int, *, space: ColorSpace, fixed: NDArray[np.uint8]
) -> FittedPalette:
    """``fitted`` (a fit of ``table``) with every entry posterized to ``bits`` (see the module
    docstring), the entries equal to a row of ``fixed`` (kept colours, the transparent entry; the
    table's width) left as they are and always in the palette; the table's colours mapped again
    by the plain distance of ``space`` (alpha-aware for RGBA rows). The result has at most as many
    entries as ``fitted``, no duplicate, ordered by descending pixel count.

    When the table's colours posterize to no more colours than ``fitted`` has entries, those are
    the palette (the best there is at that precision, as an image of at most k colours keeps
    them all); otherwise entries posterized alike leave room, which :func:`_refilled` gives to
    the posterized colours that take the most error away."""
    colors = np.asarray(fitted.colors, dtype=np.uint8)
    stays = rows_in(colors, fixed)
    levels = posterize_levels(bits)
    kept = colors[stays]
    shown = _distinct_rows(levels[table.colors])
    shown = shown[~rows_in(shown, kept)]
    if len(kept) + len(shown) <= len(colors):
        palette = np.vstack([kept, shown])
    else:
        snapped = _distinct_rows(levels[colors[~stays]])
        snapped = snapped[~rows_in(snapped, kept)]
        palette = _refilled(np.vstack([kept, snapped]), table, levels, space, room=len(colors))
    labels = nearest_colors(table.colors, palette, space=space)
    return _distinct(palette, labels, table.counts, np.arange(len(palette)) < len(kept))


def posterized_colors(table: ColorTable, bits: int) -> int:
    """How many distinct colours the table's colours posterize to: more entries cannot do better."""
    return len(np.unique(pack_colors(posterize_levels(bits)[table.colors])))


def _distinct_rows(colors: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The distinct rows of ``colors`` in their first order."""
    _, first = np.unique(pack_colors(colors), return_index=True)
    return colors[np.sort(first)]


def _refilled(
    palette: NDArray[np.uint8], table: ColorTable, levels: NDArray[np.uint8], space: ColorSpace, *, room: int
) -> NDArray[np.uint8]:
    """``palette`` (distinct posterized entries) grown towards ``room`` entries, in a few rounds,
    by the posterized colours of the table that would take the most squared error away from
    the colours they serve (an estimate: the error of each colour to its entry now, less its
    error to its own posterized value, summed by posterized value), the error measured in the
    space the colours are mapped in (``space``; alpha-aware for RGBA rows)."""
    snapped = levels[table.colors]
    keys, first, which = np.unique(pack_colors(snapped), return_index=True, return_inverse=True)
    features = palette_features(table.colors, space)
    own = ((features - palette_features(snapped, space)) ** 2).sum(axis=1)
    weights = table.counts.astype(np.float64)
    for round_number in range(REFILL_ROUNDS):
        missing = room - len(palette)
        if missing <= 0:
            break
        labels = nearest_colors(table.colors, palette, space=space)
        now = ((features - palette_features(palette, space)[labels]) ** 2).sum(axis=1)
        gain = np.bincount(which.reshape(-1), weights=weights * np.maximum(now - own, 0), minlength=len(keys))
        gain[np.isin(keys, pack_colors(palette))] = 0.0
        take = missing if round_number == REFILL_ROUNDS - 1 else -(-missing // 2)
        best = np.argsort(-gain, kind="stable")[:take]
        best = best[gain[best] > 0]
        if not len(best):
            break
        palette = np.vstack([palette, snapped[first[best]]])
    return palette


def _distinct(
    palette: NDArray[np.uint8], labels: NDArray[np.intp], counts: NDArray[np.int64], stays: NDArray[np.bool_]
) -> FittedPalette:
    """The fitted palette of ``palette`` (which may repeat a colour: two entries posterized
    alike) and each table colour's entry ``labels``: one entry per colour, the entries that stay
    kept used or not, the others dropped when unused, ordered by descending pixel count (ties:
    the first entry first)."""
    keys = pack_colors(palette)
    _, first, merged = np.unique(keys, return_index=True, return_inverse=True)
    labels = merged.reshape(-1)[labels]
    pixels = np.bincount(labels, weights=counts, minlength=len(first)).astype(np.int64)
    keep = np.zeros(len(first), dtype=np.bool_)
    keep[merged.reshape(-1)[stays]] = True
    used = np.flatnonzero((pixels > 0) | keep)
    order = used[np.lexsort((first[used], -pixels[used]))]
    remap = np.full(len(first), -1, dtype=np.intp)
    remap[order] = np.arange(len(order))
    return FittedPalette(colors=palette[first[order]], labels=remap[labels], counts=pixels[order])

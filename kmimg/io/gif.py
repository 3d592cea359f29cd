"""GIF output: a still GIF89a of the palette and the indices kmimg fitted (at most 256 entries;
the fully transparent entry becomes the GIF's transparent index), and animated GIFs
(:func:`encode_animated_gif`: one global palette, every frame, each stored as its changed
rectangle). kmimg writes the blocks and codes the LZW data (:mod:`kmimg._gif`), at the smallest
code size that holds the indices."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.errors import InputError
from kmimg.io.frames import EMPTY, KEEP_RUNS, Rect, bounding_rect, canvas_of, changed_rect, draw, frame_pixels


def encode_indexed_gif(indices: NDArray[np.uint8], palette: NDArray[np.uint8]) -> bytes:
    """A GIF89a of ``indices`` ``(h, w)`` on ``palette`` ``(m, 4)`` RGBA (``m <= 256``): the same
    pixels as :func:`~kmimg.io.png.encode_indexed_png`'s PNG. GIF has one fully transparent
    index and no translucency: a palette with an entry whose alpha is neither 0 nor 255 is an
    :class:`~kmimg.errors.InputError` (``--alpha-threshold`` makes alpha binary first).

    The LZW code size is the smallest that holds the palette (Pillow's writer always codes 8
    bits per index: 6-10 % larger files at 8-64 colours), and a full LZW table is cleared when
    that pays (:data:`LZW_WINDOWS`)."""
    clear = check_gif_palette(palette)
    bits = _bits(len(palette))
    frame = _GifFrame(
        Rect.full(indices.shape), _lzw(np.ascontiguousarray(indices, dtype=np.uint8), bits), clear, 0
    )
    return _gif_file(palette, indices.shape, bits, clear, None, [frame], [0])


def check_gif_palette(palette: NDArray[np.uint8]) -> int | None:
    """The GIF transparent index of ``palette`` (its entry of alpha 0), or ``None``; a palette a
    GIF cannot hold is an error (see :func:`encode_indexed_gif`)."""
    if not 1 <= len(palette) <= 256:
        raise ValueError("a GIF palette holds 1 to 256 entries")
    alpha = palette[:, 3]
    if bool(((alpha > 0) & (alpha < 255)).any()):
        raise InputError(
            "GIF has no translucent colours, only one transparent one: "
            "add --alpha-threshold 128, or write a .png"
        )
    clear = np.flatnonzero(alpha == 0)
    if len(clear) > 1:
        raise InputError("GIF has only one transparent palette entry")
    return int(clear[0]) if len(clear) else None


def encode_animated_gif(
    indices: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    durations: Sequence[int],
    loop: int | None,
) -> bytes:
    """An animated GIF89a of the frames ``indices`` ``(n, h, w)`` on one global ``palette``
    ``(m, 4)`` RGBA, each frame shown for its duration (milliseconds, stored in hundredths of a
    second), looping ``loop`` times (``0``: forever; ``None``: no loop extension, played once).

    Every frame is written, identical ones too. Frames after the first store the rectangle of
    the pixels that changed, with the unchanged ones inside it either kept as they are or
    drawn as the transparent index, whichever LZW-compresses smaller (:mod:`kmimg.io.frames`); a
    frame whose pixels must turn transparent is prepared by its predecessor's disposal to
    background. Decoded (by a browser, or Pillow), each frame shows exactly ``indices[i]``.
    """
    clear = check_gif_palette(palette)
    if indices.ndim != 3 or len(indices) != len(durations) or not len(indices):
        raise ValueError("indices (n, h, w) and n durations are needed")
    used = [indices[0].ravel(), *(indices[n][indices[n] != indices[n - 1]] for n in range(1, len(indices)))]
    order = _use_order(len(palette), used, [n > 0 for n in range(len(indices))], clear)
    if order is not None:  # the entries most frames use first (the same pictures)
        moved = np.arange(256, dtype=np.uint8)
        moved[order] = np.arange(len(palette), dtype=np.uint8)
        indices, palette = moved[indices], np.ascontiguousarray(palette[order])
        clear = check_gif_palette(palette)
    entries = len(palette)
    spare = clear if clear is not None or entries == 256 else entries  # an unused slot, else none
    coded: dict[tuple[object, ...], _GifFrame] = {}  # the two files code most frames alike
    files = (
        _animated(indices, palette, durations, loop, clear, spare, restoring, coded)
        for restoring in (False, True)
    )
    return min(files, key=len)


def encode_gif_frame_palettes(
    indices: NDArray[np.uint8],
    drawn: NDArray[np.bool_],
    palettes: Sequence[NDArray[np.uint8]],
    own: Sequence[bool],
    shared: NDArray[np.uint8],
    cleared: Sequence[tuple[int, int, int, int] | None],
    durations: Sequence[int],
    loop: int | None,
    restored: Sequence[bool] = (),
) -> bytes:
    """An animated GIF89a whose frames may carry colour tables of their own (``--frame-palettes``,
    :class:`~kmimg.core.animation.FramePalettes`): frame ``i`` draws the pixels ``drawn[i]`` with
    ``indices[i]`` into ``palettes[i]`` ``(m, 4)`` RGBA, a local colour table where ``own[i]``,
    else the global one, ``shared``. A frame stores the rectangle of the pixels it draws (the
    first frame: the whole screen), the others in it as the "keep" index (the palette's
    transparent entry, else one past its colours), so the canvas shows through. ``cleared[i]``
    (top, bottom, left, right): the rectangle the frame before disposes of to background after it
    is shown, when pixels turn transparent; ``restored[i]`` (``True``): frame ``i`` is drawn on the
    canvas the frame before was drawn on, which that frame's disposal "restore to previous" (3)
    brings back (never with a clear). Durations and loop as :func:`encode_animated_gif`'s.

    When every colour of the frames' tables fits one table (with the transparent entry), the
    frames are also written on that table as the global one, without local tables (as
    ImageMagick writes few colours). Each is also written with frames drawn on the canvas the
    frame before was drawn on, where the rule of :func:`encode_animated_gif`'s writer prefers it
    (:func:`_restoring`: the frame before then disposes of its rectangle "to previous"). The
    smallest file is returned; all show the same frames."""
    files = _table_files(indices, drawn, palettes, own, shared, cleared, durations, loop, True, restored)
    merged = _merged_tables(indices, drawn, palettes, own)
    if merged is not None:
        files += _table_files(
            merged[0], drawn, [merged[1]] * len(palettes), [False] * len(palettes), merged[1], cleared,
            durations, loop, True, restored,
        )  # fmt: skip
    return min(files, key=len)


def _merged_tables(
    indices: NDArray[np.uint8],
    drawn: NDArray[np.bool_],
    palettes: Sequence[NDArray[np.uint8]],
    own: Sequence[bool],
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]] | None:
    """The frames' indices into one table of every opaque colour of their tables and a
    transparent entry (when any table has one, or a frame keeps pixels), and that table; ``None``
    when no frame has a table of its own or the colours do not fit 256 entries."""
    if not any(own):
        return None
    stacked = np.concatenate([np.asarray(palette, dtype=np.uint8) for palette in palettes])
    opaque = np.unique(stacked[stacked[:, 3] > 0].view(np.uint32).ravel()).view(np.uint8).reshape(-1, 4)
    clear = bool((stacked[:, 3] == 0).any()) or not bool(drawn.all())
    if len(opaque) + clear > 256 or not len(opaque):
        return None
    table = np.concatenate([opaque, np.zeros((1, 4), np.uint8)]) if clear else opaque
    keys = opaque.view(np.uint32).ravel()
    merged = np.zeros_like(indices)
    for number, palette in enumerate(palettes):
        rows = np.ascontiguousarray(palette).view(np.uint32).ravel()
        lookup = np.where(palette[:, 3] > 0, np.searchsorted(keys, rows), len(opaque)).astype(np.uint8)
        merged[number][drawn[number]] = lookup[indices[number][drawn[number]]]
    return merged, table


def _frame_tables(
    indices: NDArray[np.uint8],
    drawn: NDArray[np.bool_],
    palettes: Sequence[NDArray[np.uint8]],
    own: Sequence[bool],
    shared: NDArray[np.uint8],
    cleared: Sequence[tuple[int, int, int, int] | None],
    durations: Sequence[int],
    loop: int | None,
    restored: Sequence[bool] = (),
) -> bytes:
    """:func:`encode_gif_frame_palettes`'s file with the tables as given, every frame drawn on the
    canvas the frame before left but those ``restored`` (no restoring of the writer's own)."""
    return _table_files(indices, drawn, palettes, own, shared, cleared, durations, loop, False, restored)[0]


def _table_files(
    indices: NDArray[np.uint8],
    drawn: NDArray[np.bool_],
    palettes: Sequence[NDArray[np.uint8]],
    own: Sequence[bool],
    shared: NDArray[np.uint8],
    cleared: Sequence[tuple[int, int, int, int] | None],
    durations: Sequence[int],
    loop: int | None,
    restoring: bool,
    restored: Sequence[bool] = (),
) -> list[bytes]:
    """:func:`encode_gif_frame_palettes`'s file with the tables as given (the global one a single
    transparent entry when every frame has a table of its own: nothing draws with it), the frames
    ``restored`` drawn on the canvas the frame before was drawn on (that frame disposing "to
    previous") and, when ``restoring`` and a frame takes it, the same frames with more drawn on a
    restored canvas (:func:`_restoring`)."""
    check_gif_palette(shared)
    if all(own):
        shared = np.zeros((1, 4), dtype=np.uint8)
    if indices.ndim != 3 or not len(indices) or not len(indices) == len(durations) == len(palettes):
        raise ValueError("indices (n, h, w), n palettes and n durations are needed")
    restored = list(restored) or [False] * len(indices)
    if len(restored) != len(indices) or any(
        on and (number < 1 or cleared[number] is not None) for number, on in enumerate(restored)
    ):
        raise ValueError("a frame after the first may be drawn on a restored canvas, never with a clear")
    first = _first_rect(indices[0], palettes[0], check_gif_palette(shared))
    indices, palettes, shared = _by_use(indices, drawn, palettes, own, shared)
    clears = [check_gif_palette(palette) for palette in palettes]
    shape = indices.shape[1:]
    frames: list[_GifFrame] = []
    for number, palette in enumerate(palettes):
        box = cleared[number]
        if box is not None and number:
            top, bottom, left, right = box
            wider = Rect(left, top, right - left, bottom - top)
            frames[-1] = _table_frame(
                indices[number - 1], drawn[number - 1], wider, palettes[number - 1], clears[number - 1],
                2, own[number - 1],
            )  # fmt: skip
        rect = (bounding_rect(drawn[number]) or Rect(0, 0, 1, 1)) if number else first
        if restored[number]:
            frames[-1] = replace(frames[-1], disposal=3)
        frames.append(
            _table_frame(indices[number], drawn[number], rect, palette, clears[number], 1, own[number])
        )
    shared_clear = check_gif_palette(shared)
    bits = _bits(max(len(shared), (shared_clear if shared_clear is not None else len(shared)) + 1))
    files = [_gif_file(shared, shape, bits, shared_clear, loop, frames, durations)]
    more = _restoring(frames, indices, drawn, palettes, clears, cleared, restored) if restoring else None
    if more is not None:
        files.append(_gif_file(shared, shape, bits, shared_clear, loop, more, durations))
    return files


def _restoring(
    plain: list[_GifFrame],
    indices: NDArray[np.uint8],
    drawn: NDArray[np.bool_],
    palettes: Sequence[NDArray[np.uint8]],
    clears: Sequence[int | None],
    cleared: Sequence[tuple[int, int, int, int] | None],
    drawn_restored: Sequence[bool],
) -> list[_GifFrame] | None:
    """The frames ``plain`` (each drawn on the canvas the frame before left) with a frame after
    the second drawn on the canvas its predecessor was drawn on (:func:`_table_on_restored`), the
    predecessor then disposing "to previous" (3), where :func:`_no_larger` prefers it, as the
    one-palette writer does (:func:`_animated`; its data measured as coded with a clear when the
    LZW table is full, no smaller than the data written); ``None`` when no frame is. The
    canvases are the frames' colours (:func:`_colour_keys`): the frames show the same pictures. A
    frame that its successor disposes of to background (a clear) and one whose predecessor does
    are not drawn on a restored canvas: a clear's rectangle is the one the core redraws from. The
    frames the core drew on a restored canvas (``drawn_restored``) are drawn on it here too, and neither
    they nor their predecessors are changed."""
    frames = list(plain)
    canvas = np.zeros(indices.shape[1:], dtype=np.uint32)  # 0: transparent
    under = canvas  # the canvas the frame before was drawn on, in this file
    taken = False
    for number, palette in enumerate(palettes):
        if drawn_restored[number]:  # the frame before disposes "to previous" (plain[number - 1])
            canvas = under
        box = cleared[number]
        if box is not None and number:
            top, bottom, left, right = box
            canvas = canvas.copy()
            canvas[top:bottom, left:right] = 0
        keys = _colour_keys(palette)
        shows = drawn[number] & (keys[indices[number]] != 0)
        target = canvas.copy()
        target[shows] = keys[indices[number]][shows]
        drawn_on = canvas
        if number > 1 and frames[number - 1].disposal == 1 and plain[number].disposal == 1:
            restored = _table_on_restored(
                indices[number], shows, target, under, palette, clears[number], plain[number]
            )
            if restored is not None and _no_larger(restored[0], plain[number]):
                frames[number - 1] = replace(frames[number - 1], disposal=3)
                coded, pixels = restored  # coded with the other windows only when taken
                windows = tuple(window for window in LZW_WINDOWS if window)
                data = min(coded.data, _lzw(pixels, coded.table_bits, windows), key=len)
                frames[number] = replace(coded, data=data)
                drawn_on, taken = under, True
        under, canvas = drawn_on, target
    return frames if taken else None


def _colour_keys(palette: NDArray[np.uint8]) -> NDArray[np.uint32]:
    """Each entry's RGBA as one number, 0 for a transparent one (opaque ones are never 0)."""
    keys = np.ascontiguousarray(palette, dtype=np.uint8).view(np.uint32).ravel().copy()
    keys[palette[:, 3] == 0] = 0
    return keys


def _entries_showing(palette: NDArray[np.uint8], colours: NDArray[np.uint32]) -> NDArray[np.int16]:
    """For each colour key of ``colours``, the first opaque entry of ``palette`` that shows it
    exactly, or -1."""
    keys = _colour_keys(palette)
    opaque = np.flatnonzero(keys != 0)
    if not len(opaque):
        return np.full(colours.shape, -1, dtype=np.int16)
    order = opaque[np.argsort(keys[opaque], kind="stable")]
    ordered = keys[order]
    at = np.minimum(np.searchsorted(ordered, colours), len(ordered) - 1)
    return np.where(ordered[at] == colours, order[at], -1).astype(np.int16)


def _table_on_restored(
    frame: NDArray[np.uint8],
    shows: NDArray[np.bool_],
    target: NDArray[np.uint32],
    under: NDArray[np.uint32],
    palette: NDArray[np.uint8],
    clear: int | None,
    plain: _GifFrame,
) -> tuple[_GifFrame, NDArray[np.uint8]] | None:
    """A frame on ``palette`` drawn on ``under`` (the canvas its predecessor was drawn on, which
    that one's disposal "restore to previous" brings back) so that the canvas shows ``target``:
    the rectangle of the pixels where they differ, each drawn with the frame's own index where
    the frame draws it (``shows``) and else with the entry that shows the colour exactly. Inside
    the rectangle the other pixels are "keep", or drawn too where the frame draws them, or drawn
    wherever an entry shows them: the smallest of these, as :func:`_gif_frame` chooses, coded
    with a clear as soon as the LZW table is full (the caller codes it with every one of
    :data:`LZW_WINDOWS` if it takes it: no larger), and its pixels. ``None`` when a pixel would
    have to turn transparent or the palette has no entry for a colour the frame would have to
    draw (a pixel its predecessor drew in a colour this table lacks)."""
    if bool(((target == 0) & (under != 0)).any()):
        return None
    needed = target != under
    rect = bounding_rect(needed) or Rect(0, 0, 1, 1)
    values = np.where(rect.crop(shows), rect.crop(frame), _entries_showing(palette, rect.crop(target)))
    must = rect.crop(needed)
    if bool((must & (values < 0)).any()):
        return None
    keep = clear if clear is not None else len(palette)
    ways: list[NDArray[np.bool_]] = []
    for mask in (must, must | rect.crop(shows), values >= 0):
        if (keep <= 255 or bool(mask.all())) and not any(np.array_equal(mask, way) for way in ways):
            ways.append(mask)
    if not ways:
        return None
    candidates = []
    for mask in ways:
        pixels = np.ascontiguousarray(np.where(mask, values, keep).astype(np.uint8))
        transparency = clear if bool(mask.all()) else keep
        table_bits = _bits(max(len(palette), keep + 1 if transparency is not None else 0))
        coded = _GifFrame(rect, _lzw(pixels, table_bits, (0,)), transparency, 1, plain.table, table_bits)
        candidates.append((coded, pixels))
    return min(candidates, key=lambda candidate: _stored(candidate[0]))


def _by_use(
    indices: NDArray[np.uint8],
    drawn: NDArray[np.bool_],
    palettes: Sequence[NDArray[np.uint8]],
    own: Sequence[bool],
    shared: NDArray[np.uint8],
) -> tuple[NDArray[np.uint8], list[NDArray[np.uint8]], NDArray[np.uint8]]:
    """The global table ``shared`` in :func:`_use_order`'s order, the indices and tables of the
    frames drawn on it remapped to it (every other frame as it was): the same pictures."""
    on_shared = [number for number, local in enumerate(own) if not local]
    clear = check_gif_palette(shared)
    used, keeps = [], []
    for number in on_shared:
        rect = bounding_rect(drawn[number])
        used.append(indices[number][drawn[number]])
        keeps.append(number > 0 and rect is not None and not bool(rect.crop(drawn[number]).all()))
    order = _use_order(len(shared), used, keeps, clear)
    if order is None:
        return indices, list(palettes), shared
    moved = np.arange(256, dtype=np.uint8)
    moved[order] = np.arange(len(shared), dtype=np.uint8)
    table = np.ascontiguousarray(shared[order])
    remapped, tables = indices.copy(), list(palettes)
    for number in on_shared:
        remapped[number] = moved[indices[number]]
        tables[number] = table
    return remapped, tables, table


def _use_order(
    entries: int, used: Sequence[NDArray[np.uint8]], keeps: Sequence[bool], clear: int | None
) -> NDArray[np.intp] | None:
    """A global table's entries in order of how many frames use each (``used``: the indices each
    frame draws; its transparent entry ``clear`` also where a frame ``keeps`` a pixel of its
    rectangle), then of their pixels, or ``None`` to keep the table as it is. A frame's LZW codes
    start one bit wider than its largest index needs (:func:`_coded`), so with the entries most
    frames use first, a frame of few common colours codes with fewer bits. Taken only when it
    lowers the frames' pixels x code size bits summed (an estimate of the data: a frame of rare
    colours may need more bits after it)."""
    if entries < 3 or not len(used):
        return None
    frames = np.zeros(entries, dtype=np.int64)
    pixels = np.zeros(entries, dtype=np.int64)
    for values, keep in zip(used, keeps, strict=True):
        counts = np.bincount(values, minlength=entries)[:entries]
        frames += counts > 0
        pixels += counts
        if keep and clear is not None:
            frames[clear] += 1
    order = np.lexsort((-pixels, -frames))
    rank = np.zeros(256, dtype=np.int64)
    rank[order] = np.arange(entries)

    def estimate(lookup: NDArray[np.int64] | None) -> int:
        total = 0
        for values, keep in zip(used, keeps, strict=True):
            largest = int(values.max()) if len(values) else 0
            if lookup is not None:
                largest = int(lookup[values].max()) if len(values) else 0
            if keep and clear is not None:
                largest = max(largest, clear if lookup is None else int(lookup[clear]))
            total += len(values) * _bits(largest + 1)
        return total

    return order if estimate(rank) < estimate(None) else None


def _first_rect(frame: NDArray[np.uint8], palette: NDArray[np.uint8], background: int | None) -> Rect:
    """The rectangle the first frame stores: the whole screen, or the box of its visible pixels
    when the rest is transparent and so is the screen's background (``background``: the global
    table's transparent entry, the background index), as a viewer starts from."""
    visible = palette[:, 3][frame] > 0
    if background is None or bool(visible.all()):
        return Rect.full(frame.shape)
    return bounding_rect(visible) or Rect(0, 0, 1, 1)


def _table_frame(
    frame: NDArray[np.uint8],
    drawn: NDArray[np.bool_],
    rect: Rect,
    palette: NDArray[np.uint8],
    clear: int | None,
    disposal: int,
    local: bool,
) -> _GifFrame:
    """A frame on ``palette``: ``rect`` of ``frame``, the pixels outside ``drawn`` as "keep"."""
    keep = clear if clear is not None else len(palette)
    pixels = np.array(rect.crop(frame), dtype=np.uint8)
    hidden = ~rect.crop(drawn)
    transparency = clear
    if bool(hidden.any()):
        if keep > 255:
            raise ValueError("a frame that keeps pixels has at most 255 colours")
        pixels[hidden] = keep
        transparency = keep
    table_bits = _bits(max(len(palette), keep + 1 if transparency is not None else 0))
    table = np.ascontiguousarray(palette[:, :3]) if local else None
    data = _lzw(np.ascontiguousarray(pixels), table_bits)
    return _GifFrame(rect, data, transparency, disposal, table, table_bits)


def gif_frame_bytes(pixels: NDArray[np.uint8], table_bits: int) -> int:
    """The bytes of a GIF frame's image data: ``pixels`` ``(h, w)`` LZW-coded for a colour
    table of ``table_bits``, with :data:`LOSSY_WINDOW` only (an estimate for choosing: the writer
    keeps the smallest of :data:`LZW_WINDOWS`, no larger)."""
    return len(_lzw(pixels, table_bits, (LOSSY_WINDOW,)))


def _bits(entries: int) -> int:
    """Bits per index of ``entries`` colours (at least 2: LZW's minimum code size)."""
    return max(2, (entries - 1).bit_length())


@frozen
class _GifFrame:
    rect: Rect
    data: bytes
    transparency: int | None
    disposal: int
    #: A local colour table (RGB rows) and the bits of its size, or ``None``: the global one.
    table: NDArray[np.uint8] | None = None
    table_bits: int = 0


def _animated(
    indices: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    durations: Sequence[int],
    loop: int | None,
    clear: int | None,
    spare: int | None,
    restoring: bool,
    coded_frames: dict[tuple[object, ...], _GifFrame] | None = None,
) -> bytes:
    """The file of :func:`encode_animated_gif`; ``restoring``: a frame may be drawn on the canvas
    the frame before was drawn on (:func:`_on_restored`) where that rectangle is no larger or its
    data smaller, as ImageMagick's ``-layers optimize`` prefers (a scroll that repeats or a
    sprite that blinks is drawn against the frame it repeats). ``coded_frames``: the frames coded
    so far, by :func:`_coded_frame`'s key, shared with the file written the other way."""
    coded_frames = {} if coded_frames is None else coded_frames
    bits = _bits(max(len(palette), (spare or 0) + 1))
    canvas = np.full(indices.shape[1:], EMPTY, dtype=np.int16)
    under = canvas  # the canvas the previous frame was drawn on
    frames: list[_GifFrame] = []
    previous: tuple[NDArray[np.bool_], Rect] | None = None
    for number, frame in enumerate(indices):
        target = canvas_of(frame, clear)
        if previous is None:
            rect, changed = Rect.full(frame.shape), np.ones(frame.shape, dtype=bool)
        else:
            vanishing = bounding_rect((target == EMPTY) & (canvas != EMPTY))
            if vanishing is not None:  # the previous frame disposes of its (larger) rectangle
                wider = previous[1].union(vanishing)
                ways = (clear, spare, bits, 2)
                frames[-1] = _coded_frame(coded_frames, indices, number - 1, previous[0], wider, ways)
                canvas = canvas.copy()
                wider.crop(canvas)[...] = EMPTY
            rect, changed = changed_rect(target, canvas)
        ways = (clear, None if previous is None else spare, bits, 1)
        coded = _coded_frame(coded_frames, indices, number, changed, rect, ways)
        restored = (
            _on_restored(frame, target, under, frames, clear, spare, bits)
            if restoring and number > 1
            else None
        )
        if restored is not None and _no_larger(restored[0], coded):
            frames[-1] = replace(frames[-1], disposal=3)  # the canvas goes back to ``under``
            coded, (rect, changed), canvas = restored[0], restored[1], under
        frames.append(coded)
        under, canvas = canvas, canvas.copy()
        draw(canvas, target, changed)
        previous = (changed, rect)
    return _gif_file(palette, indices.shape[1:], bits, clear, loop, frames, durations)


def _coded_frame(
    coded: dict[tuple[object, ...], _GifFrame],
    indices: NDArray[np.uint8],
    number: int,
    changed: NDArray[np.bool_],
    rect: Rect,
    ways: tuple[int | None, int | None, int, int],
) -> _GifFrame:
    """:func:`_gif_frame` of frame ``number`` (``ways``: its ``clear``, ``spare``, ``bits`` and
    ``disposal``), taken from ``coded`` where it was coded with the same rectangle and the same
    changed pixels in it, and kept there."""
    key = (
        number,
        rect.left,
        rect.top,
        rect.width,
        rect.height,
        np.packbits(rect.crop(changed)).tobytes(),
        ways,
    )
    if key not in coded:
        coded[key] = _gif_frame(indices[number], changed, rect, *ways)
    return coded[key]


def _no_larger(restored: _GifFrame, coded: _GifFrame) -> bool:
    """Whether a frame drawn on the restored canvas is preferred: its rectangle no larger (the
    canvas it restores can serve the frames after it too), or its data (with its local colour
    table) smaller."""
    area = restored.rect.width * restored.rect.height <= coded.rect.width * coded.rect.height
    return area or _stored(restored) < _stored(coded)


def _stored(frame: _GifFrame) -> int:
    """A frame's image data and local colour table in bytes."""
    return len(frame.data) + (3 << frame.table_bits if frame.table is not None else 0)


def _on_restored(
    frame: NDArray[np.uint8],
    target: NDArray[np.int16],
    under: NDArray[np.int16],
    frames: list[_GifFrame],
    clear: int | None,
    spare: int | None,
    bits: int,
) -> tuple[_GifFrame, tuple[Rect, NDArray[np.bool_]]] | None:
    """The frame drawn on ``under``, the canvas the previous frame was drawn on, which that frame's
    disposal "restore to previous" (3) brings back (as ImageMagick's ``-layers optimize`` codes a
    frame against an earlier one: a scroll that repeats, a blink), its rectangle and changed
    pixels; ``None`` when the previous frame already disposes of its rectangle to background or
    a pixel would have to turn transparent."""
    if frames[-1].disposal != 1 or bool(((target == EMPTY) & (under != EMPTY)).any()):
        return None
    rect, changed = changed_rect(target, under)
    return _gif_frame(frame, changed, rect, clear, spare, bits, 1), (rect, changed)


def _gif_frame(
    frame: NDArray[np.uint8],
    changed: NDArray[np.bool_],
    rect: Rect,
    clear: int | None,
    spare: int | None,
    bits: int,
    disposal: int,
) -> _GifFrame:
    """The smallest of the frame's rectangle as it is and with ``spare`` on its unchanged pixels
    (in runs of each length of :data:`~kmimg.io.frames.KEEP_RUNS`), chosen by their data with
    a clear as soon as the LZW table is full (as Pillow's encoder codes), then coded with every
    one of :data:`LZW_WINDOWS`: never larger than that."""
    ways = [(frame_pixels(frame, changed, rect, None), clear)]
    if spare is not None:
        ways += [(frame_pixels(frame, changed, rect, spare, run), spare) for run in KEEP_RUNS]
    sizes = [len(_lzw(pixels, bits, (0,))) for pixels, _ in ways]
    pixels, transparency = ways[sizes.index(min(sizes))]
    return _GifFrame(rect, _lzw(pixels, bits), transparency, disposal)


#: The deferred clear's windows (indices) a frame is coded with, besides a clear as soon as the
#: LZW table is full (0); the smallest data is kept (:func:`kmimg._gif.lzw`).
LZW_WINDOWS = (0, 256, 1024)

#: The window of the lossy coder (:func:`gif_frame_lossy`): coded again with :data:`LZW_WINDOWS`,
#: its indices give data no larger than it measured.
LOSSY_WINDOW = 256


def _lzw(pixels: NDArray[np.uint8], table_bits: int, windows: tuple[int, ...] = LZW_WINDOWS) -> bytes:
    """GIF image data of ``pixels``: the LZW minimum code size, the data sub-blocks and the
    terminator, by kmimg's coder (:mod:`kmimg._gif`), the smallest of ``windows``. The
    code size is the smallest that holds the frame's largest index (any frame's may be below the
    colour table's: GIF sets it per image)."""
    from kmimg import _gif

    flat, bits = _coded(pixels, table_bits)
    return min((_gif.lzw(flat, flat.size, bits, window) for window in windows), key=len)


def _coded(pixels: NDArray[np.uint8], table_bits: int) -> tuple[NDArray[np.uint8], int]:
    """``pixels`` as the coder reads them, and the code size: the smallest that holds the
    frame's largest index, at most the colour table's."""
    flat = np.ascontiguousarray(pixels, dtype=np.uint8)
    return flat, min(table_bits, _bits(int(flat.max()) + 1))


def gif_frame_lossy(
    pixels: NDArray[np.uint8],
    table_bits: int,
    rgb: NDArray[np.uint8],
    canvas: NDArray[np.uint8],
    flags: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    keep: int,
    price: float,
) -> tuple[int, NDArray[np.uint8], float]:
    """A frame's rectangle (``pixels`` ``(h, w)`` indices, the colour table of ``table_bits``)
    LZW-coded with an index changed wherever another one extends the current string for at most
    ``price`` x a code's bits of squared error (:func:`kmimg._gif.lzw_lossy`: ``rgb`` and
    ``canvas`` ``(h, w, 3)``, the pixels' true colours and what the canvas shows under "keep",
    ``keep``; ``flags`` ``(h, w)``: 1 locks a pixel, 2 lets it show the canvas): the data's
    bytes, the indices coded and the squared error added."""
    from kmimg import _gif

    flat, bits = _coded(pixels, table_bits)
    colours = np.ascontiguousarray(palette[:, :3], dtype=np.uint8)
    data, coded, added = _gif.lzw_lossy(
        flat, flat.size, bits, LOSSY_WINDOW, np.ascontiguousarray(rgb), np.ascontiguousarray(canvas),
        np.ascontiguousarray(flags), colours, len(colours), keep, price,
    )  # fmt: skip
    return len(data), np.frombuffer(coded, dtype=np.uint8).reshape(flat.shape), added


def _gif_file(
    palette: NDArray[np.uint8],
    shape: tuple[int, ...],
    bits: int,
    clear: int | None,
    loop: int | None,
    frames: list[_GifFrame],
    durations: Sequence[int],
) -> bytes:
    height, width = int(shape[0]), int(shape[1])
    table = np.zeros((1 << bits, 3), dtype=np.uint8)
    table[: len(palette)] = palette[:, :3]
    flags = 0x80 | ((bits - 1) << 4) | (bits - 1)
    parts = [b"GIF89a", struct.pack("<HHBBB", width, height, flags, clear or 0, 0), table.tobytes()]
    if loop is not None:
        parts.append(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", min(loop, 0xFFFF)) + b"\0")
    for frame, duration in zip(frames, durations, strict=True):
        delay = min(max(0, round(duration / 10)), 0xFFFF)
        packed = (frame.disposal << 2) | (1 if frame.transparency is not None else 0)
        if len(frames) > 1 or frame.transparency is not None:  # a still needs no control block
            parts.append(struct.pack("<BBBBHBB", 0x21, 0xF9, 4, packed, delay, frame.transparency or 0, 0))
        rect, local = frame.rect, b""
        flags = 0
        if frame.table is not None:
            flags = 0x80 | (frame.table_bits - 1)
            padded = np.zeros((1 << frame.table_bits, 3), dtype=np.uint8)
            padded[: len(frame.table)] = frame.table
            local = padded.tobytes()
        parts.append(struct.pack("<BHHHHB", 0x2C, rect.left, rect.top, rect.width, rect.height, flags))
        parts.append(local + frame.data)
    parts.append(b";")
    return b"".join(parts)

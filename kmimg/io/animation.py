"""Animations read whole: every frame of an animated GIF, PNG (APNG) or WebP decoded to the full
canvas as a viewer shows it (Pillow composites each frame over the canvas the previous one left:
GIF disposal, APNG dispose and blend operations, partial frames, transparency; libwebp does the
same for WebP), with each frame's duration and the loop count.

The pixel limit (``--max-pixels``) applies to frames x width x height, from the header and the
frame count, before any frame is decoded.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from kmimg._records import frozen
from kmimg.errors import InputError, LimitError
from kmimg.io.formats import PILLOW_ERRORS

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from PIL import Image

#: Formats whose animations kmimg reads whole (other animated formats give their first frame).
WHOLE_FORMATS = ("GIF", "PNG", "WEBP")


@frozen
class Animation:
    """Frames of an animation as a viewer shows them: ``rgb`` ``(n, h, w, 3)`` and ``alpha``
    ``(n, h, w)`` (``None`` when every pixel of every frame is opaque; colours under alpha 0 are
    black), each frame's duration in milliseconds, and the loop count as the file gives it
    (``0``: forever; ``None``: the file has no loop setting and plays once)."""

    rgb: NDArray[np.uint8]
    alpha: NDArray[np.uint8] | None
    durations: tuple[int, ...]
    loop: int | None
    source: str
    format: str
    byte_size: int

    @property
    def frame_count(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[2])


def frame_count(raw: bytes) -> int:
    """The number of frames of a GIF, PNG or WebP file (1 for a still or another format, and
    for a file Pillow cannot open: the still decoder then says what is wrong)."""
    from kmimg.io.decode import sniff_format

    kind = sniff_format(raw)
    if kind not in WHOLE_FORMATS or not _may_animate(raw, kind):
        return 1
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(raw), formats=WHOLE_FORMATS)
    except (*PILLOW_ERRORS, Image.DecompressionBombError):
        return 1  # the still decoder says what is wrong
    with image:
        try:
            return int(getattr(image, "n_frames", 1))
        except PILLOW_ERRORS:
            from kmimg.notes import warn

            warn(f"damaged {image.format} data after the first frame: only the first frame was used")
            return 1


def _may_animate(raw: bytes, kind: str | None) -> bool:
    """Whether a PNG holds an ``acTL`` chunk before its image data, or a WebP sets VP8X's
    animation flag (a still, the common case, is told without Pillow)."""
    if kind == "PNG":
        data = raw.find(b"IDAT")
        return b"acTL" in raw[: data if data >= 0 else len(raw)]
    if kind == "WEBP":
        return raw[12:16] == b"VP8X" and len(raw) > 20 and bool(raw[20] & 0x02)
    return True


def animation_of(raw: bytes, *, source: str, max_pixels: int) -> Animation | None:
    """:func:`load_animation` of an animated GIF, PNG or WebP, or ``None`` for a still image or
    another format; an animation whose frames cannot all be read is ``None`` too, with a
    warning saying what is damaged (its first frame is then decoded as a still image)."""
    if frame_count(raw) <= 1:
        return None
    try:
        return load_animation(raw, source=source, max_pixels=max_pixels)
    except LimitError:
        raise
    except InputError as exc:
        from kmimg.notes import warn

        warn(str(exc))  # the still decoder's warning says that only the first frame was used
        return None


def load_animation(raw: bytes, *, source: str, max_pixels: int) -> Animation:
    """Every frame of the animation in ``raw`` (a GIF, APNG or animated WebP), composited.

    Raises :class:`~kmimg.errors.LimitError` when frames x width x height exceeds
    ``max_pixels``, :class:`~kmimg.errors.InputError` for damaged data.
    """
    from PIL import Image

    from kmimg.io.decode import _pillow_settings

    try:
        with _pillow_settings(lenient=False), Image.open(io.BytesIO(raw), formats=WHOLE_FORMATS) as image:
            kind = str(image.format)
            count = int(getattr(image, "n_frames", 1))
            _check_total(image.size, count, max_pixels)
            loop = _loop_of(image)
            # a frame's own extent (a GIF frame may claim any) meets the limit as Pillow opens it:
            # it refuses above twice MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = -(-max_pixels // 2)
            frames, durations = _frames(image, count)
    except (InputError, LimitError):
        raise
    except Image.DecompressionBombError:  # a hostile frame: animation_of falls back to the first
        raise InputError(f"a frame of the animation claims more than {max_pixels:,} pixels") from None
    except MemoryError:
        raise LimitError("not enough memory to decode this animation") from None
    except PILLOW_ERRORS as exc:
        text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise InputError(f"damaged animation data: {text}") from None
    rgb, alpha = _planes(frames)
    return Animation(rgb, alpha, tuple(durations), loop, source, kind, len(raw))


def _check_total(size: tuple[int, int], count: int, max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise InputError("image has zero width or height")
    total = width * height * count
    if total > max_pixels:
        raise LimitError(
            f"animation of {count} frames of {width}x{height} holds {total:,} pixels, over the limit "
            f"of {max_pixels:,} (--max-pixels)"
        )


def _loop_of(image: Image.Image) -> int | None:
    loop = image.info.get("loop")
    return int(loop) if isinstance(loop, int) else None


def _frames(image: Image.Image, count: int) -> tuple[NDArray[np.uint8], list[int]]:
    """Every frame as RGBA ``(n, h, w, 4)``, composited by Pillow, and each one's duration (an
    APNG's default image left out when it is not a frame of the animation)."""
    import numpy as np

    # an APNG's default image outside the animation is what viewers without APNG support show
    hidden = 1 if image.format == "PNG" and image.info.get("default_image") else 0
    width, height = image.size
    frames = np.zeros((count - hidden, height, width, 4), dtype=np.uint8)
    durations: list[int] = []
    for index in range(hidden, count):
        image.seek(index)
        before = _canvas_before(image)
        image.load()
        if before is not None:
            image._prev_im = before  # type: ignore[attr-defined]
        # the canvas is the first frame's size: Pillow grows a GIF's image for a frame that
        # reaches past the logical screen, which viewers clip
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)[:height, :width]
        frames[index - hidden, : rgba.shape[0], : rgba.shape[1]] = rgba
        durations.append(round(float(image.info.get("duration", 0) or 0)))
    return frames, durations


def _canvas_before(image: Image.Image) -> Any:
    """A copy of the canvas Pillow's APNG reader keeps for a frame disposed "to previous"
    (``None`` for other formats). Pillow 13 blends a frame "over" into that same canvas object,
    so a later "previous" disposal would restore the frame it should remove; putting the copy
    back after the frame is loaded keeps the canvas as it was before the frame."""
    previous = getattr(image, "_prev_im", None) if image.format == "PNG" else None
    return None if previous is None else previous.copy()


def _planes(frames: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    import numpy as np

    rgb = np.ascontiguousarray(frames[..., :3])
    alpha = np.ascontiguousarray(frames[..., 3])
    if bool((alpha == 255).all()):
        return rgb, None
    rgb[alpha == 0] = 0
    return rgb, alpha

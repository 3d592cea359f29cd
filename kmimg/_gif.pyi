"""Types of the C extension kmimg._gif (kmimg/_gif.c); arrays are passed as buffers."""

from typing import Any

def lzw(pixels: Any, count: int, bits: int, window: int, /) -> bytes: ...
def lzw_lossy(
    pixels: Any,
    count: int,
    bits: int,
    window: int,
    rgb: Any,
    canvas: Any,
    flags: Any,
    palette: Any,
    entries: int,
    keep: int,
    price: float,
    /,
) -> tuple[bytes, bytes, float]: ...

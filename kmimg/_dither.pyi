"""Types of the C extension kmimg._dither (kmimg/_dither.c); arrays are passed as buffers."""

from typing import Any

def diffuse(
    pixels: Any,
    keep: Any | None,
    width: int,
    height: int,
    channels: int,
    palette: Any,
    ids: Any,
    m: int,
    matrix: Any,
    alpha_weight: float,
    strength: float,
    min_err2: float,
    max_err2: float,
    lo: tuple[float, float, float, float],
    hi: tuple[float, float, float, float],
    out: Any,
    /,
) -> None: ...

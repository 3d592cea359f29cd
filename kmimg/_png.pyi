"""Types of the C extension kmimg._png (kmimg/_png.c); arrays are passed as buffers."""

from typing import Any

def filter_rows(
    source: Any, height: int, row_bytes: int, bpp: int, out: Any, start: int, stop: int, type: int = -1, /
) -> None: ...
def unfilter_rows(data: Any, height: int, row_bytes: int, bpp: int, out: Any, /) -> int: ...

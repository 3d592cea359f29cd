"""kmimg: k-means image processing -- colour quantization, segmentation, compression reports
and unsupervised grouping of images.

The library is pure (arrays in, dataclasses out); :mod:`kmimg.io` reads and writes files and
:mod:`kmimg.cli` is the command-line tool. Public names are imported lazily so that the CLI
starts without loading numpy or scikit-learn.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from kmimg.errors import InputError, KmimgError, LimitError, OutputError, UsageError
from kmimg.types import ColorSpace

try:
    __version__ = version("kmimg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

_LAZY = {
    "QuantizeOptions": "kmimg.quantize",
    "Quantized": "kmimg.quantize",
    "analyze": "kmimg.quantize",
    "quantize": "kmimg.quantize",
    "quantize_analysis": "kmimg.quantize",
    "load_image": "kmimg.io",
    "Picture": "kmimg.io",
}

__all__ = [
    "ColorSpace",
    "InputError",
    "KmimgError",
    "LimitError",
    "OutputError",
    "Picture",
    "QuantizeOptions",
    "Quantized",
    "UsageError",
    "__version__",
    "analyze",
    "load_image",
    "quantize",
    "quantize_analysis",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kmimg' has no attribute {name!r}")

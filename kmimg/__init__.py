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
    "segment": "kmimg.segment",
    "SegmentOptions": "kmimg.segment",
    "Segmentation": "kmimg.segment",
    "compress_report": "kmimg.report",
    "CompressReport": "kmimg.report",
    "Target": "kmimg.report",
    "image_features": "kmimg.classify",
    "FeatureOptions": "kmimg.classify",
    "cluster_features": "kmimg.classify",
    "evaluate": "kmimg.classify",
}

__all__ = [
    "ColorSpace",
    "CompressReport",
    "FeatureOptions",
    "InputError",
    "KmimgError",
    "LimitError",
    "OutputError",
    "Picture",
    "QuantizeOptions",
    "Quantized",
    "SegmentOptions",
    "Segmentation",
    "Target",
    "UsageError",
    "__version__",
    "analyze",
    "cluster_features",
    "compress_report",
    "evaluate",
    "image_features",
    "load_image",
    "quantize",
    "quantize_analysis",
    "segment",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kmimg' has no attribute {name!r}")

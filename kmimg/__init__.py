"""kmimg: k-means image processing -- colour quantization, segmentation, compression reports
and unsupervised grouping of images.

The library is pure (arrays in, dataclasses out); :mod:`kmimg.io` reads and writes files and
:mod:`kmimg.cli` is the command-line tool. Public names are imported lazily so that the CLI
starts without loading numpy or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

from kmimg._version import __version__
from kmimg.errors import InputError, KmimgError, LimitError, OutputError, PaletteError, UsageError
from kmimg.types import ColorSpace

# Public name -> (module, attribute). The functions named like their modules are exported as
# ``quantize_image`` and ``segment_image``: importing ``kmimg.core.quantize`` sets the package
# attribute ``quantize`` to the module, so a lazy function of that name could not stay put.
_LAZY = {
    "QuantizeOptions": ("kmimg.options", "QuantizeOptions"),
    "Quantized": ("kmimg.core.quantize", "Quantized"),
    "Quality": ("kmimg.core.quantize", "Quality"),
    "analyze": ("kmimg.core.quantize", "analyze"),
    "quantize_image": ("kmimg.core.quantize", "quantize"),
    "quantize_analysis": ("kmimg.core.quantize", "quantize_analysis"),
    "quantize_onto": ("kmimg.core.quantize", "quantize_onto"),
    "Palette": ("kmimg.palettes.files", "Palette"),
    "parse_palette": ("kmimg.palettes.files", "parse_palette"),
    "format_palette": ("kmimg.palettes.files", "format_palette"),
    "load_image": ("kmimg.io", "load_image"),
    "Picture": ("kmimg.io", "Picture"),
    "segment_image": ("kmimg.core.segment", "segment"),
    "SegmentOptions": ("kmimg.options", "SegmentOptions"),
    "Segmentation": ("kmimg.core.segment", "Segmentation"),
    "compress_report": ("kmimg.core.report", "compress_report"),
    "CompressReport": ("kmimg.core.report", "CompressReport"),
    "Target": ("kmimg.core.report", "Target"),
    "image_features": ("kmimg.core.classify", "image_features"),
    "FeatureOptions": ("kmimg.options", "FeatureOptions"),
    "cluster_features": ("kmimg.core.classify", "cluster_features"),
    "evaluate": ("kmimg.core.classify", "evaluate"),
}

__all__ = [
    "ColorSpace",
    "CompressReport",
    "FeatureOptions",
    "InputError",
    "KmimgError",
    "LimitError",
    "OutputError",
    "Palette",
    "PaletteError",
    "Picture",
    "Quality",
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
    "format_palette",
    "image_features",
    "load_image",
    "parse_palette",
    "quantize_analysis",
    "quantize_image",
    "quantize_onto",
    "segment_image",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'kmimg' has no attribute {name!r}")

"""kmimg: k-means image processing -- colour quantization, segmentation, compression reports
and unsupervised grouping of images.

One image, Pillow-native (:mod:`kmimg.api`): :func:`quantize`, :func:`segment` and
:func:`palette` take a path, bytes, a binary file, a ``PIL.Image`` or a numpy array and return a
result with its arrays, figures, ``to_pil()`` and ``save()`` (the command line's bytes).

Many files (:mod:`kmimg.jobs.files`): :func:`quantize_files`, :func:`segment_files`,
:func:`compress_report_files` and :func:`classify_files` run the command line's batches, on
worker processes or a Dask cluster, and return one result per input.

The cores underneath are pure (arrays in, dataclasses out): :func:`quantize_image`,
:func:`segment_image`, :func:`compress_report`, :func:`image_features` and the rest of
``__all__``. :mod:`kmimg.io` reads and writes files; :mod:`kmimg.cli` is the command-line tool.
Public names are imported lazily so that the CLI starts without loading numpy or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kmimg._version import __version__
from kmimg.errors import (
    InputError,
    KmimgError,
    LimitError,
    OutputError,
    PaletteError,
    QualityTooLowError,
    UsageError,
)
from kmimg.types import ColorSpace

if TYPE_CHECKING:
    from kmimg.api import (
        ImageSource,
        PaletteResult,
        QuantizeResult,
        SegmentResult,
        palette,
        quantize,
        segment,
    )
    from kmimg.core.classify import cluster_features, evaluate, image_features
    from kmimg.core.quantize import Quality, Quantized, analyze, quantize_analysis, quantize_onto
    from kmimg.core.quantize import quantize as quantize_image
    from kmimg.core.report import CompressReport, Target, compress_report
    from kmimg.core.segment import Segmentation
    from kmimg.core.segment import segment as segment_image
    from kmimg.io.decode import Picture, load_image
    from kmimg.jobs.files import (
        FileResult,
        Membership,
        PaletteRun,
        classify_files,
        compress_report_files,
        palette_files,
        quantize_files,
        segment_files,
    )
    from kmimg.options import FeatureOptions, QuantizeOptions, SegmentOptions
    from kmimg.palettes.files import Palette, format_palette, parse_palette

# Public name -> (module, attribute). No module of the package is named like a public function
# (kmimg.quantize, kmimg.segment, kmimg.palette): importing a submodule sets the package attribute
# of its name, which would shadow the function.
_LAZY = {
    "quantize": ("kmimg.api", "quantize"),
    "segment": ("kmimg.api", "segment"),
    "palette": ("kmimg.api", "palette"),
    "QuantizeResult": ("kmimg.api", "QuantizeResult"),
    "SegmentResult": ("kmimg.api", "SegmentResult"),
    "PaletteResult": ("kmimg.api", "PaletteResult"),
    "ImageSource": ("kmimg.api", "ImageSource"),
    "quantize_files": ("kmimg.jobs.files", "quantize_files"),
    "segment_files": ("kmimg.jobs.files", "segment_files"),
    "compress_report_files": ("kmimg.jobs.files", "compress_report_files"),
    "classify_files": ("kmimg.jobs.files", "classify_files"),
    "palette_files": ("kmimg.jobs.files", "palette_files"),
    "PaletteRun": ("kmimg.jobs.files", "PaletteRun"),
    "FileResult": ("kmimg.jobs.files", "FileResult"),
    "Membership": ("kmimg.jobs.files", "Membership"),
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
    "load_image": ("kmimg.io.decode", "load_image"),
    "Picture": ("kmimg.io.decode", "Picture"),
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
    "FileResult",
    "ImageSource",
    "InputError",
    "KmimgError",
    "LimitError",
    "Membership",
    "OutputError",
    "Palette",
    "PaletteError",
    "PaletteResult",
    "PaletteRun",
    "Picture",
    "Quality",
    "QualityTooLowError",
    "QuantizeOptions",
    "QuantizeResult",
    "Quantized",
    "SegmentOptions",
    "SegmentResult",
    "Segmentation",
    "Target",
    "UsageError",
    "__version__",
    "analyze",
    "classify_files",
    "cluster_features",
    "compress_report",
    "compress_report_files",
    "evaluate",
    "format_palette",
    "image_features",
    "load_image",
    "palette",
    "palette_files",
    "parse_palette",
    "quantize",
    "quantize_analysis",
    "quantize_files",
    "quantize_image",
    "quantize_onto",
    "segment",
    "segment_files",
    "segment_image",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'kmimg' has no attribute {name!r}")

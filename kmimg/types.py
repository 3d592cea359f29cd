"""Small enums shared by the core and the CLI; kept free of heavy imports so that the CLI can
declare its options without loading numpy."""

from __future__ import annotations

from enum import Enum


class ColorSpace(str, Enum):
    """Where colour distances are measured for the fit and the mapping."""

    RGB = "rgb"
    LAB = "lab"


class FeatureKind(str, Enum):
    """What ``kmimg classify`` compares: downsized pixels or a colour histogram."""

    PIXELS = "pixels"
    HISTOGRAM = "histogram"


#: Default upper bound on width x height of an input (``--max-pixels``), checked from the header.
DEFAULT_MAX_PIXELS = 250_000_000

#: Default number of pixels drawn from the colour histogram for the k-means fit (``--sample``).
DEFAULT_SAMPLE = 250_000

#: Dithering level of a bare ``--dither`` (0-1, as pngquant's ``--floyd``; 0 = no dithering).
DEFAULT_DITHER_LEVEL = 1.0

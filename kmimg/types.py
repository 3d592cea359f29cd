"""Small enums shared by the core and the CLI; kept free of heavy imports so that the CLI can
declare its options without loading numpy."""

from __future__ import annotations

from enum import Enum


class ColorSpace(str, Enum):
    """Where colour distances are measured for the fit and the mapping."""

    RGB = "rgb"
    LAB = "lab"


class Nearest(str, Enum):
    """How pixels are matched to a given palette (``--palette``, ``--shared-palette``): by the
    plain squared distance of the colour space (best PSNR), or in RGB with the squared luma
    difference weighted more, as kmimg's own fit from k = 32 (better SSIM)."""

    PLAIN = "plain"
    LUMA = "luma"


class FeatureKind(str, Enum):
    """What ``kmimg classify`` compares: downsized pixels or a colour histogram."""

    PIXELS = "pixels"
    HISTOGRAM = "histogram"


class PaletteWeight(str, Enum):
    """How images count in a palette fitted across several: every pixel the same, or every
    image the same (a small icon then weighs as much as a large background)."""

    PIXELS = "pixels"
    IMAGES = "images"


class Emit(str, Enum):
    """The outputs of ``kmimg segment --emit``, each with its file name ending."""

    SEG = "seg"
    LABELS = "labels"
    MASKS = "masks"
    CUTOUT = "cutout"
    CONTOURS = "contours"


EMIT_ORDER = tuple(Emit)


def psnr_text(psnr: float | None) -> str:
    """PSNR for people, in dB to two decimals: ``lossless`` for an identical result (infinite
    PSNR; ``null`` in JSON)."""
    return "lossless" if psnr is None or psnr == float("inf") else f"{psnr:.2f}"

"""Image quality and size measures: PSNR, SSIM, CIEDE2000 colour difference, bits per pixel.

- PSNR: ``10 log10(255^2 / MSE)`` over the R, G, B samples of the compared pixels.
- SSIM: Wang et al. 2004 on the luma plane (BT.601 ``Y' = .299 R + .587 G + .114 B``) with a
  7x7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance and the border of 3 pixels left
  out of the mean -- the same figure as ``skimage.metrics.structural_similarity`` on that plane,
  computed in float32 so that a 12-megapixel image costs a fraction of a second.
- Delta E: mean CIEDE2000 (Sharma, Wu, Dalal 2005) between original and output colours under D65.

Colour measures take *weighted colour pairs*: a quantized image without dithering is a function
of the input colour, so the mean over distinct colours weighted by their pixel counts is exactly
the mean over pixels, at a fraction of the cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from kmimg._threads import ordered_map
from kmimg.colorspace import pack_colors, rgb_to_lab

_SSIM_WINDOW = 7
_STRIP_ROWS = 128
_PAIR_BLOCK = 1 << 16
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def weighted_mse(
    original: NDArray[np.uint8], output: NDArray[np.uint8], weights: NDArray[np.generic]
) -> float:
    """Mean squared error per sample over colour pairs weighted by ``weights``.

    The samples are the channels both sides have: R, G, B for ``(n, 3)`` against anything, and
    R, G, B, A when both are ``(n, 4)`` (translucent images: an alpha error is an error too).
    """
    total = float(np.sum(weights))
    if not total:
        return 0.0
    channels = min(original.shape[1], output.shape[1])
    weighted = 0.0
    for start in range(0, len(original), _PAIR_BLOCK):
        stop = start + _PAIR_BLOCK
        diff = original[start:stop, :channels].astype(np.float64) - output[start:stop, :channels].astype(
            np.float64
        )
        block_weights = np.asarray(weights[start:stop], dtype=np.float64)
        weighted += float(np.einsum("ij,ij,i->", diff, diff, block_weights))  # not BLAS
    return weighted / float(channels * total)


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for 8-bit data; ``inf`` when ``mse`` is 0."""
    return math.inf if mse <= 0 else 10.0 * math.log10(255.0**2 / mse)


def psnr(original: NDArray[np.uint8], output: NDArray[np.uint8]) -> float:
    """PSNR in dB between two 8-bit RGB images of the same shape."""
    a = original.reshape(-1, original.shape[-1])
    b = output.reshape(-1, output.shape[-1])
    return psnr_from_mse(weighted_mse(a, b, np.ones(len(a))))


def mean_delta_e2000(
    original: NDArray[np.uint8], output: NDArray[np.uint8], weights: NDArray[np.generic]
) -> float:
    """Mean CIEDE2000 between RGB colour pairs ``(n, 3)``, weighted by ``weights``.

    Computed in blocks of :data:`_PAIR_BLOCK` pairs: CIEDE2000 makes a few dozen temporaries per
    pair, which for the million distinct colours of a large photo would cost a gigabyte.
    """
    from skimage.color import deltaE_ciede2000

    w = np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    if not total:
        return 0.0

    def block_sum(start: int) -> float:
        stop = start + _PAIR_BLOCK
        delta = deltaE_ciede2000(  # type: ignore[no-untyped-call]
            rgb_to_lab(original[start:stop, :3]), rgb_to_lab(output[start:stop, :3])
        )
        return float(np.einsum("i,i->", delta, w[start:stop]))  # not BLAS: thread-count independent

    return math.fsum(ordered_map(block_sum, range(0, len(original), _PAIR_BLOCK))) / total


def delta_e2000_images(original: NDArray[np.uint8], output: NDArray[np.uint8]) -> float:
    """Mean CIEDE2000 over the pixels of two RGB images (via their distinct colour pairs)."""
    a = original.reshape(-1, 3)
    b = output.reshape(-1, 3)
    keys = (pack_colors(a).astype(np.uint64) << np.uint64(24)) | pack_colors(b).astype(np.uint64)
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    return mean_delta_e2000(a[first], b[first], counts)


def mean_delta_e2000_indexed(
    colors: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    entry: NDArray[np.intp],
    weights: NDArray[np.generic],
) -> float:
    """:func:`mean_delta_e2000` of ``colors`` against ``palette[entry]``: the palette's few
    colours are converted to CIELAB once instead of once per pair."""
    from skimage.color import deltaE_ciede2000

    w = np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    if not total:
        return 0.0
    palette_lab = rgb_to_lab(palette[:, :3])

    def block_sum(start: int) -> float:
        stop = start + _PAIR_BLOCK
        delta = deltaE_ciede2000(  # type: ignore[no-untyped-call]
            rgb_to_lab(colors[start:stop, :3]), palette_lab[entry[start:stop]]
        )
        return float(np.einsum("i,i->", delta, w[start:stop]))  # not BLAS: thread-count independent

    return math.fsum(ordered_map(block_sum, range(0, len(colors), _PAIR_BLOCK))) / total


def luma(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """BT.601 luma of an RGB image, float32 in [0, 255].

    Computed channel by channel with the same float32 operations whatever the array's shape,
    so the luma of a palette entry is bit-identical to the luma of a pixel of that colour.
    """
    channels = np.asarray(rgb)[..., :3]
    y = channels[..., 0].astype(np.float32)
    y *= _LUMA[0]
    y += channels[..., 1].astype(np.float32) * _LUMA[1]
    y += channels[..., 2].astype(np.float32) * _LUMA[2]
    return y


def ssim(original: NDArray[np.uint8], output: NDArray[np.uint8]) -> float:
    """Mean SSIM of the luma planes of two RGB images (1.0 means identical)."""
    if original.shape != output.shape:
        raise ValueError("images must have the same shape")
    return ssim_planes(luma(original), luma(output))


def ssim_indexed(
    original: NDArray[np.uint8], indices: NDArray[np.uint8], palette: NDArray[np.uint8]
) -> float:
    """:func:`ssim` of ``original`` and the palette image ``palette[indices]``, without
    building the output image: its luma is the palette's luma looked up per pixel."""
    if original.shape[:2] != indices.shape:
        raise ValueError("images must have the same shape")
    return _ssim_by_strips(
        lambda top, bottom: luma(original[top:bottom]),
        lambda top, bottom: luma(palette)[indices[top:bottom]],
        original.shape[:2],
    )


def ssim_planes(x: NDArray[np.float32], y: NDArray[np.float32]) -> float:
    """Mean SSIM of two 2-D planes in [0, 255]; images smaller than 7x7 use their own size."""
    return _ssim_by_strips(lambda top, bottom: x[top:bottom], lambda top, bottom: y[top:bottom], x.shape)


def _ssim_by_strips(
    rows_x: Callable[[int, int], NDArray[np.float32]],
    rows_y: Callable[[int, int], NDArray[np.float32]],
    shape: tuple[int, ...],
) -> float:
    """SSIM over horizontal strips of ``_STRIP_ROWS`` rows plus a 3-row halo each side.

    Only rows whose 7-row window lies inside the image enter the mean, and each such row is
    computed from a strip holding its whole window, so the figure is that of the whole plane;
    working strip by strip keeps the temporaries small (memory, cache) on large images.
    """
    height, width = int(shape[0]), int(shape[1])
    window = min(_SSIM_WINDOW, height, width)
    if window % 2 == 0:
        window -= 1
    if window < 1 or height * width == 0:
        return 1.0
    pad = (window - 1) // 2
    if height - 2 * pad <= 0 or width - 2 * pad <= 0:
        whole = _ssim_map(rows_x(0, height), rows_y(0, height), window)
        return float(whole.mean(dtype=np.float64))

    def strip_sum(first: int) -> float:
        last = min(first + _STRIP_ROWS, height - pad)
        ratio = _ssim_map(rows_x(first - pad, last + pad), rows_y(first - pad, last + pad), window)
        return float(ratio[pad : pad + last - first, pad : width - pad].sum(dtype=np.float64))

    sums = ordered_map(strip_sum, range(pad, height - pad, _STRIP_ROWS))
    return math.fsum(sums) / ((height - 2 * pad) * (width - 2 * pad))


def _ssim_map(x: NDArray[np.float32], y: NDArray[np.float32], window: int) -> NDArray[np.float32]:
    from scipy.ndimage import uniform_filter

    npts = window * window
    cov_norm = np.float32(npts / (npts - 1) if npts > 1 else 1.0)
    c1 = np.float32((0.01 * 255.0) ** 2)
    c2 = np.float32((0.03 * 255.0) ** 2)

    def mean(plane: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.asarray(uniform_filter(plane, size=window), dtype=np.float32)

    ux, uy = mean(x), mean(y)
    vx = mean(x * x)
    vy = mean(y * y)
    vxy = mean(x * y)
    uxx, uyy, uxy = ux * ux, uy * uy, ux * uy
    vx -= uxx
    vx *= cov_norm
    vy -= uyy
    vy *= cov_norm
    vxy -= uxy
    vxy *= cov_norm
    # numerator = (2 ux uy + c1)(2 vxy + c2), denominator = (ux^2 + uy^2 + c1)(vx + vy + c2)
    uxy *= 2
    uxy += c1
    vxy *= 2
    vxy += c2
    uxy *= vxy
    uxx += uyy
    uxx += c1
    vx += vy
    vx += c2
    uxx *= vx
    uxy /= uxx
    return uxy


def bits_per_pixel(byte_count: int, pixels: int) -> float:
    """Encoded bits per image pixel."""
    return 8.0 * byte_count / pixels if pixels else 0.0

"""Where one kmimg quantization spends its time, phase by phase, in a fresh process.

``python benchmarks/phases.py IMAGE [K]`` prints one JSON object: seconds for the imports, then
for each phase of ``kmimg quantize`` done by hand with the library (decode, colour histogram,
k-means fit, mapping + quality figures, PNG encode), and the peak RSS in MB.
"""

from __future__ import annotations

import json
import resource
import sys
import time

start = time.perf_counter()
seconds: dict[str, float] = {}


def lap(name: str) -> None:
    global start
    now = time.perf_counter()
    seconds[name] = round(now - start, 4)
    start = now


def peak_rss_kb() -> int:
    """This process's own peak RSS: ``VmHWM`` (``ru_maxrss`` would include the peak of a large
    parent process, which Linux carries across fork and exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(path: str, k: int) -> None:
    from kmimg import cluster, metrics, quantize
    from kmimg.io import encode_indexed_png, load_image

    lap("import numpy + kmimg engine")
    picture = load_image(path)
    lap("decode (load_image)")
    analysis = quantize.analyze(picture.rgb, picture.alpha)
    lap("colour histogram (analyze)")
    fitted = cluster.fit_palette(analysis.table, k=k, seed=0)
    lap("k-means fit (fit_palette)")
    palette, _counts, order = quantize._png_palette(fitted, analysis)
    entry = order[fitted.labels]
    indices = quantize._indices(analysis, entry, palette, dither=False)
    lap("map pixels to palette")
    quantize._color_errors(analysis, palette, entry, indices, False)
    lap("PSNR + mean ΔE2000")
    metrics.ssim_indexed(analysis.rgb, indices, palette)
    lap("SSIM")
    encode_indexed_png(indices, palette)
    lap("PNG encode")
    seconds["peak RSS MB"] = round(peak_rss_kb() / 1024, 1)
    print(json.dumps(seconds))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 16)

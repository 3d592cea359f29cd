"""Where one kmimg quantization spends its time, phase by phase, in a fresh process.

``python benchmarks/phases.py IMAGE [K] [--cpu]`` prints one JSON object: seconds for the imports, then
for each phase of ``kmimg quantize`` done by hand with the library -- decode, histogram, fit,
map, metrics (PSNR + mean ΔE2000 + SSIM, which the CLI computes for its JSON record), encode --
with the metrics also split into their two parts, and the peak RSS in MB. ``--cpu`` adds
``"cpu ms"``: for each phase the process's CPU milliseconds (every thread) and the main
thread's: on a quiet machine the main thread's time is about the phase's wall time, and the
difference is what ran on the other cores.

The phases call a few private helpers of ``kmimg.core.quantize`` (``_png_palette``, ``_indices``,
``_color_errors``). If an engine change moves them, the script says so on stderr and falls back
to timing ``quantize.quantize`` as one phase ("histogram + fit + map + metrics"), with
``"coarse": true`` in the JSON.
"""

from __future__ import annotations

import json
import resource
import sys
import time

start = time.perf_counter()
cpu_start = (time.process_time(), time.thread_time())
seconds: dict[str, float] = {}
cpu_ms: dict[str, tuple[float, float]] = {}
#: ``--cpu``: add each phase's CPU milliseconds, the process's and the main thread's.
CPU = "--cpu" in sys.argv[1:]
flags: dict[str, bool] = {}

#: The six phases of the table in RESULTS.md, in the order the CLI runs them.
PHASES = ("decode", "histogram", "fit", "map", "metrics", "encode")


def lap(name: str) -> None:
    global start, cpu_start
    now = time.perf_counter()
    seconds[name] = round(now - start, 4)
    start = now
    cpu_now = (time.process_time(), time.thread_time())
    cpu_ms[name] = (round((cpu_now[0] - cpu_start[0]) * 1e3, 1), round((cpu_now[1] - cpu_start[1]) * 1e3, 1))
    cpu_start = cpu_now


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
    from kmimg import metrics
    from kmimg.core import quantize
    from kmimg.io import encode_indexed_png, load_image

    lap("import")
    picture = load_image(path)
    lap("decode")
    helpers = ("_png_palette", "_indices", "_color_errors")
    missing = [name for name in helpers if not hasattr(quantize, name)]
    if missing or not hasattr(quantize, "analyze"):
        print(
            f"phases.py: kmimg.core.quantize has no {', '.join(missing) or 'analyze'} any more; "
            "timing quantize.quantize as one phase",
            file=sys.stderr,
        )
        result = quantize.quantize(picture.rgb, picture.alpha, quantize.QuantizeOptions(k=k))
        lap("histogram + fit + map + metrics")
        encode_indexed_png(result.indices, result.palette)
        lap("encode")
        flags["coarse"] = True
    else:
        analysis = quantize.analyze(picture.rgb, picture.alpha)
        lap("histogram")
        fitted = quantize.fit_colors(analysis.table, quantize.QuantizeOptions(k=k), transparent=False)
        lap("fit")
        palette, _counts, order = quantize._png_palette(fitted, analysis, None)
        entry = order[fitted.labels]
        indices = quantize._indices(analysis, entry, palette, dither=False)
        lap("map")
        quantize._color_errors(analysis, palette, entry, indices)
        lap("metrics: PSNR + mean ΔE2000")
        metrics.ssim_indexed(analysis.rgb, indices, palette)
        lap("metrics: SSIM")
        seconds["metrics"] = round(seconds["metrics: PSNR + mean ΔE2000"] + seconds["metrics: SSIM"], 4)
        encode_indexed_png(indices, palette)
        lap("encode")
    seconds["peak RSS MB"] = round(peak_rss_kb() / 1024, 1)
    cpu = {name: {"process": a, "main thread": b} for name, (a, b) in cpu_ms.items()}
    extra = {"cpu ms": cpu} if CPU else {}
    print(json.dumps({**seconds, **flags, **extra}))


if __name__ == "__main__":
    words = [word for word in sys.argv[1:] if word != "--cpu"]
    main(words[0], int(words[1]) if len(words) > 1 else 16)

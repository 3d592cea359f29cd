"""The GIF LZW coders' speed (``kmimg._gif.lzw`` and ``lzw_lossy``) on the calls one kmimg run makes.

Run from the repository root (benchmarks/NOTES.md, session 16)::

    .venv/bin/python benchmarks/gif_lzw_speed.py IN.gif [-k 64] [--rounds 10] [--vs OTHER/_gif...so ...]

It runs ``kmimg quantize IN.gif -k K -o <temporary>.gif`` (the default mode: frame tables, the
lossy coder) in this process with both coders wrapped to record their arguments, then calls each
coder again on every recorded call, ROUNDS times, alternating with each ``--vs`` build of the
module (another checkout's ``kmimg/_gif*.so``, e.g. one built from main), and prints the least and
the median milliseconds a call. With ``--vs`` it first checks that every recorded call gives the
same bytes (data, coded indices, added error) in every build.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from kmimg import _gif


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_gif", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_bytes(value: Any) -> Any:
    return np.ascontiguousarray(value).tobytes() if isinstance(value, np.ndarray) else value


def record(source: Path, k: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every call kmimg makes to the two coders while quantizing ``source``, arguments as bytes."""
    from kmimg.__main__ import main

    calls: dict[str, list[tuple[Any, ...]]] = {"lzw": [], "lzw_lossy": []}
    originals = {name: getattr(_gif, name) for name in calls}

    def wrap(name: str) -> Callable[..., Any]:
        def coder(*args: Any) -> Any:
            calls[name].append(tuple(as_bytes(a) for a in args))
            return originals[name](*args)

        return coder

    for name in calls:
        setattr(_gif, name, wrap(name))
    try:
        with tempfile.TemporaryDirectory() as folder:
            sys.argv = ["kmimg", "quantize", str(source), "-k", str(k), "-o", str(Path(folder) / "out.gif")]
            try:
                main()
            except SystemExit as stop:
                if stop.code not in (0, None):
                    raise
    finally:
        for name, coder in originals.items():
            setattr(_gif, name, coder)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("-k", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--vs", action="append", default=[], help="another build of kmimg._gif (a .so path)")
    args = parser.parse_args()
    calls = record(args.source, args.k)
    builds = [("this", _gif)] + [(path, load(path)) for path in args.vs]
    for name, recorded in calls.items():
        if not recorded:
            continue
        for label, module in builds[1:]:
            differ = sum(getattr(module, name)(*a) != getattr(_gif, name)(*a) for a in recorded)
            print(f"{name}: {len(recorded)} calls, {differ} differ from {label}")
        times: dict[str, list[float]] = {label: [] for label, _ in builds}
        for round_ in range(args.rounds):
            for label, module in builds if round_ % 2 == 0 else builds[::-1]:
                coder = getattr(module, name)
                start = time.perf_counter()
                for a in recorded:
                    coder(*a)
                times[label].append((time.perf_counter() - start) * 1e3 / len(recorded))
        for label, spent in times.items():
            print(
                f"{name} ({len(recorded)} calls) {label}: "
                f"min {min(spent):.3f} median {statistics.median(spent):.3f} ms a call"
            )


if __name__ == "__main__":
    main()

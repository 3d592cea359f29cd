"""kmimg over Pillow's own test-image corpus (issue 27): ``make corpus-check``, run by CI.

Pillow's sdist ships ``Tests/images``: about a thousand files in every format Pillow reads, many
of them deliberately truncated, corrupt, hostile (decompression bombs, absurd sizes, decoder
time-outs) or not images at all. This script fetches the sdist of the Pillow version kmimg runs
with (``pip download --no-binary :all: --no-deps pillow==VERSION``, cached in
``.cache/pillow-corpus/``; or ``--corpus DIR``), copies every file into one flat folder under a
unique name (the corpus holds the same stem in several formats; kmimg would refuse two inputs
that write one output), runs one ``kmimg quantize -k 16 FILE... --out-dir OUT --jobs 2`` over all
of them, named explicitly so that every file is read by its content, and checks:

- every file that Pillow itself decodes (``Image.open`` + ``load``) gave an output, except the
  formats kmimg refuses on purpose (EPS/PostScript: Ghostscript on untrusted input);
- every output passes ``pngcheck``;
- standard error holds only kmimg's one-line messages (``kmimg: warning: ...`` /
  ``kmimg: error: ...``), never a traceback or a native library's raw line;
- the exit code is 1 (some inputs are corrupt), never a crash;
- the whole run takes under two minutes and the process tree stays under 1.5 GB.

It prints one summary and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "pillow-corpus"
TIME_LIMIT_S = 120.0
MEMORY_LIMIT_MB = 1536.0
#: Formats kmimg refuses by design, with the reason in its one line (docs/scripting.md).
REFUSED_FORMATS = {"EPS"}
KMIMG_LINE = re.compile(r"^kmimg: (warning|error): ")


def pillow_version() -> str:
    import PIL

    return PIL.__version__


def fetch_corpus(version: str) -> Path:
    """Tests/images of Pillow ``version``'s sdist, downloaded once into the cache."""
    images = CACHE / f"pillow-{version}" / "Tests" / "images"
    if images.is_dir():
        return images
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps"]
        subprocess.run([*pip, f"pillow=={version}", "-d", tmp], check=True)
        (sdist,) = Path(tmp).glob("pillow-*.tar.gz")
        prefix = f"pillow-{version}/Tests/images/"
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith(prefix) and m.isfile()]
            archive.extractall(CACHE, members=members, filter="data")
    return images


def stage(corpus: Path, folder: Path) -> list[Path]:
    """Every file of the corpus copied flat into ``folder`` under a unique name, suffix kept."""
    staged = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        name = str(path.relative_to(corpus)).replace(os.sep, "__") + path.suffix
        target = folder / name
        shutil.copyfile(path, target)
        staged.append(target)
    return staged


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{current}/status").read_text()
            match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
            total += int(match.group(1)) if match else 0
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
    return total / 1024


def run_kmimg(kmimg: str, inputs: list[Path], out: Path) -> tuple[int, str, float, float]:
    """One kmimg run over all inputs: exit code, standard error, seconds, peak memory (MB)."""
    command = [kmimg, "quantize", *map(str, inputs), "-k", "16", "--out-dir", str(out), "--jobs", "2"]
    peak, started = 0.0, time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        done = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not done.wait(0.05):
                peak = max(peak, _tree_rss_mb(process.pid))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        code = process.wait()
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
        err.seek(0)
        return code, err.read().decode("utf-8", "replace"), seconds, peak


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    """libtiff and friends print to file descriptor 2 while Pillow decodes: keep it off screen."""
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def pillow_decodes(path: Path) -> str | None:
    """The format name when Pillow opens and decodes the file, else None."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                image.load()
                return str(image.format)
    except Exception:  # noqa: BLE001 - any failure means "Pillow does not decode it"
        return None


def pngcheck_failures(outputs: list[Path]) -> list[str]:
    failures = []
    for start in range(0, len(outputs), 200):
        chunk = outputs[start : start + 200]
        result = subprocess.run(["pngcheck", "-q", *map(str, chunk)], capture_output=True, text=True)
        if result.returncode:
            failures += [line for line in result.stdout.splitlines() if line.strip()]
    return failures


def check(corpus: Path, kmimg: str) -> list[str]:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = 250_000_000  # kmimg's default --max-pixels
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "in", Path(tmp) / "out"
        folder.mkdir()
        inputs = stage(corpus, folder)
        code, stderr, seconds, peak = run_kmimg(kmimg, inputs, out)
        lines = stderr.splitlines()
        outputs = sorted(out.glob("*.png")) if out.is_dir() else []
        with _quiet_fd2():
            decoded = {path: pillow_decodes(path) for path in inputs}
        expected = [p for p, fmt in decoded.items() if fmt is not None and fmt not in REFUSED_FORMATS]
        written = {p.name for p in outputs}
        missing = [p.name for p in expected if f"{p.stem}-k16.png" not in written]
        foreign = [line for line in lines if not KMIMG_LINE.match(line)]
        kinds = collections.Counter(m.group(1) for m in map(KMIMG_LINE.match, lines) if m)
        print(f"corpus: {corpus} ({len(inputs)} files; Pillow decodes {len(expected)}; EPS refused)")
        print(f"kmimg: exit {code}, {seconds:.1f} s, peak {peak:.0f} MB (process tree), {len(outputs)} PNGs")
        print(f"stderr: {kinds['error']} error lines, {kinds['warning']} warning lines, {len(foreign)} other")
        if code != 1:
            problems.append(f"exit code {code}, expected 1 (corrupt inputs fail, the batch goes on)")
        problems += [f"Pillow decodes {name} but kmimg wrote no PNG" for name in missing]
        problems += [f"not kmimg's one-line format: {line[:160]}" for line in foreign]
        problems += [f"pngcheck: {line[:160]}" for line in pngcheck_failures(outputs)]
        if seconds > TIME_LIMIT_S:
            problems.append(f"took {seconds:.0f} s (limit {TIME_LIMIT_S:.0f} s)")
        if peak > MEMORY_LIMIT_MB:
            problems.append(f"peak memory {peak:.0f} MB (limit {MEMORY_LIMIT_MB:.0f} MB)")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="a Tests/images folder (default: fetch Pillow's sdist)")
    parser.add_argument("--kmimg", default=str(Path(sys.executable).with_name("kmimg")), help="kmimg to run")
    args = parser.parse_args()
    if shutil.which("pngcheck") is None:
        print("pillow_corpus: needs pngcheck (apt-get install -y pngcheck)", file=sys.stderr)
        return 2
    corpus = args.corpus or fetch_corpus(pillow_version())
    problems = check(corpus, args.kmimg)
    for problem in problems:
        print(f"FAIL {problem}")
    print("corpus-check: ok" if not problems else f"corpus-check: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

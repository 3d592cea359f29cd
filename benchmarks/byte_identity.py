"""Byte identity of a re-rooming: the same CLI commands run by two kmimg trees, every output
file compared by its SHA-256.

    .venv/bin/python benchmarks/byte_identity.py --base 530a670      # a commit of this repository
    .venv/bin/python benchmarks/byte_identity.py --base-tree /tmp/kmimg-base  # a tree already built

The base commit is exported with ``git archive`` into a temporary folder and its C extensions
are built in place with this Python; each tree then runs the commands below as
``python -m kmimg`` with ``PYTHONPATH`` set to it (so the installed kmimg is not used), from a
folder of its own holding a copy of ``sample_images/``: the outputs' paths, and so the JSON
documents naming them, are the same for both trees.

Masked before comparing, because they measure time, not work: every ``"seconds"`` field of a
JSON document, and the seconds column of compress-report's HTML tables. Nothing else is masked;
``kmimg_version`` is the same for both trees (the version is not bumped by a re-rooming).

Exit 0 when every file is identical (and both trees wrote the same set of files), 1 otherwise.
Runs ~40 CLI calls per tree: a few minutes on two cores. Not a timing benchmark.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The commands, run in order from a folder holding ``img/`` (a copy of sample_images/); every
#: path is relative. ``< FILE`` feeds a file to standard input, ``> FILE`` collects standard output.
COMMANDS = [
    "quantize img/flower.jpg -k 16 -o q/flower-k16.png --json q/flower.json",
    "quantize img -k 32 --out-dir q/all --json q/all.json --jobs 2",
    "quantize img -k 8 --out-dir q/serial --json q/serial.json --jobs 1",
    "quantize img/coffee.png -k 24 --dither 0.8 -o q/dither.png --json q/dither.json",
    "quantize img/chelsea.png -k 12 --space lab --sample 0 -o q/lab.png",
    "quantize img/astronaut.png -k 8 --keep '#e60012,#ffffff' -o q/keep.png --json q/keep.json",
    "quantize img/coins.png -k 4 -o - < img/coins.png > q/stdout.png",
    "quantize img/coffee.png img/chelsea.png img/flower.jpg -k 16 --shared-palette --palette-out"
    " q/shared.gpl --out-dir q/shared --json q/shared.json",
    "quantize img/coffee.png img/chelsea.png -k 6 --keep '#102030' --shared-palette --out-dir"
    " q/shared-keep --jobs 2 --json q/shared-keep.json",
    "palette img/coffee.png img/chelsea.png -k 16 -o p/shared.gpl --swatch p/swatch.png --json"
    " p/palette.json",
    "palette img -k 8 -o p/images.act --weight images --jobs 2",
    "palette img/flower.jpg -k 12 --keep '#ff0000' -o p/keep.hex",
    "palette img/flower.jpg -k 5 -o p/five.json",
    "palette img/china.jpg -k 5 -o p/five.txt --space lab",
    "quantize img/coffee.png img/china.jpg --palette p/shared.gpl --out-dir q/mapped --json q/mapped.json",
    "quantize img/flower.jpg --palette p/five.json --dither -o q/mapped-dither.png",
    "segment img/coins.png --flatten 0.15 --min-region 64 --emit all --out-dir s/coins --json s/coins.json",
    "segment img -k 3 --out-dir s/all --json s/all.json --jobs 2",
    "segment img/astronaut.png -k 4 --spatial 0.5 --space rgb --background 0,1 --contour-color '#00ff00'"
    " --out-dir s/astro",
    "compress-report img/flower.jpg --sheet r/flower-sheet.png --thumb 120 --html r/flower.html --json"
    " r/flower.json --write-best r/best --ks 4,16,64",
    "compress-report img --ks 8,32 --target-ssim 0.9 --json r/all.json --jobs 2 --sheet r/sheets",
    "compress-report img/coffee.png --ks 8,16 --dither 0.7 --json r/dither.json --html r/dither.html",
    "classify img -k 3 --json c/pixels.json --csv c/pixels.csv --montage c/montage.png",
    "classify img -k 2 --features histogram --json c/hist.json --batch-size 4 --jobs 2",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--base", help="a commit of this repository (the tree before the change)")
    which.add_argument("--base-tree", type=Path, help="a kmimg source tree with its extensions built")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kmimg-identity-") as scratch:
        work = args.keep or Path(scratch)
        base = args.base_tree or _export(args.base, Path(scratch) / "base-tree")
        before = _run_all(base, work / "before")
        after = _run_all(ROOT, work / "after")
    return _compare(before, after)


def _export(commit: str, into: Path) -> Path:
    """``commit``'s tree, its C extensions built in place (from a copy holding only setup.py and
    the C sources: this venv's setuptools may be older than pyproject.toml's build needs)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    build = into.parent / "build-ext"
    (build / "kmimg").mkdir(parents=True)
    shutil.copy(into / "setup.py", build)
    for source in [*into.glob("kmimg/*.c"), *into.glob("kmimg/*.h")]:
        shutil.copy(source, build / "kmimg")
    command = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"]
    subprocess.run(command, cwd=build, check=True, capture_output=True)
    for built in build.glob("kmimg/*.so"):
        shutil.copy(built, into / "kmimg")
    return into


def _run_all(tree: Path, folder: Path) -> dict[str, str]:
    """Run every command with ``tree``'s kmimg in ``folder``; the masked hash of each output."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "sample_images", folder / "img", ignore=shutil.ignore_patterns("*.md"))
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    where = subprocess.run(
        [sys.executable, "-c", "import kmimg; print(kmimg.__file__)"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip().startswith(str(tree)), f"kmimg imported from {where.stdout}"
    for command in COMMANDS:
        _run(command, folder, env)
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and relative.parts[0] != "img":
            found[str(relative)] = hashlib.sha256(_masked(path)).hexdigest()
    return found


def _run(command: str, folder: Path, env: dict[str, str]) -> None:
    argv, stdin, stdout = shlex.split(command), None, None
    if ">" in argv:
        stdout = folder / argv.pop(argv.index(">") + 1)
        argv.remove(">")
    if "<" in argv:
        stdin = folder / argv.pop(argv.index("<") + 1)
        argv.remove("<")
    for part in argv:
        if "/" in part and not part.startswith("#"):
            (folder / part).parent.mkdir(parents=True, exist_ok=True)
    with (
        open(stdin, "rb") if stdin else open(os.devnull, "rb") as source,
        open(stdout, "wb") if stdout else open(os.devnull, "wb") as sink,
    ):
        done = subprocess.run(
            [sys.executable, "-m", "kmimg", *argv], cwd=folder, env=env, stdin=source, stdout=sink,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"kmimg {command}: exit {done.returncode}\n{done.stderr}")


def _masked(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".json" and data.startswith(b"{"):
        document = json.loads(data)
        if isinstance(document, dict) and "schema" in document:
            return json.dumps(_without_seconds(document), sort_keys=True).encode()
    if path.suffix == ".html":
        return _html_without_seconds(data.decode("utf-8")).encode()
    return data


def _without_seconds(value: object) -> object:
    if isinstance(value, dict):
        return {k: ("S" if k == "seconds" else _without_seconds(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def _html_without_seconds(text: str) -> str:
    """The seconds cell (the 10th) of every row of the k tables replaced."""

    def row(match: re.Match[str]) -> str:
        cells = re.findall(r"<td>(.*?)</td>", match.group(2))
        if len(cells) >= 10:
            cells[9] = "S"
        return match.group(1) + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"

    return re.sub(r"(<tr[^>]*>)((?:<td>.*?</td>)+)</tr>", row, text)


def _compare(before: dict[str, str], after: dict[str, str]) -> int:
    differ = sorted(name for name in before.keys() & after.keys() if before[name] != after[name])
    only = sorted(before.keys() ^ after.keys())
    print(f"byte identity: {len(before)} files before, {len(after)} after, {len(differ)} differ")
    for name in differ:
        print(f"  differs: {name}")
    for name in only:
        print(f"  only {'before' if name in before else 'after'}: {name}")
    return 1 if differ or only else 0


if __name__ == "__main__":
    sys.exit(main())

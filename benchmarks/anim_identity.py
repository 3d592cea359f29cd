"""Byte identity of kmimg's animated GIFs: every animation of ``benchmarks/animation.py``
(all its sets) quantized by a kmimg tree, every output's SHA-256 recorded or checked.

    .venv/bin/python benchmarks/anim_identity.py --record base.json           # this tree
    .venv/bin/python benchmarks/anim_identity.py --check base.json            # must match
    .venv/bin/python benchmarks/anim_identity.py --tree /tmp/kmimg-old --record base.json

The animations are generated once into ``--inputs`` (``benchmarks/work/anim-identity/in``, one
folder per set; kept, and re-made only when missing) and their SHA-256 recorded beside the
outputs', so a changed input (another scikit-image or Pillow) shows as such, not as kmimg's. The
tree (``--tree``, this repository by default, its C extensions built in place) runs each case as
``python -m kmimg quantize SET_FOLDER --out-dir ... --ext .gif`` with ``PYTHONPATH`` set to it:
the default (frame tables) and ``--one-palette`` at K = 32 and 64 on every set, and the default
with ``--dither`` at K = 32 on a few (two of them transparent). Exit 0 when every hash matches
(``--check``), 1 otherwise. Not a timing benchmark; a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import animation  # noqa: E402  (benchmarks/animation.py: the animations and how they are saved)

#: Every set of benchmarks/animation.py: its folder name and its animations.
SETS = {"bench": animation.ANIMATIONS} | {flag: sets for flag, *_, sets in animation.UNJUDGED_SETS}

#: Each case: its name and the options after ``-k K`` (the folder runs once per K).
MODES = {"default": [], "one-palette": ["--one-palette"]}

#: The animations also run with ``--dither`` at K = 32 (sprite and walk-cycle are transparent).
DITHERED = {"bench": ("pan", "sprite", "fade"), "holdout2": ("walk-cycle",)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs(folder: Path) -> dict[str, Path]:
    """Every set's folder of GIFs under ``folder``, generated where missing."""
    made = {}
    for name, animations in SETS.items():
        target = folder / name
        if not all((target / f"{each}.gif").exists() for each in animations):
            animation.generate(target, animations)
        made[name] = target
    return made


def run(tree: Path, source: Path, out: Path, k: int, options: list[str]) -> None:
    """``python -m kmimg quantize`` of the tree on a folder (or one file), outputs into ``out``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, "-m", "kmimg", "quantize", str(source), "-k", str(k), "-q", "--force"]
    command += ["--out-dir", str(out), "--ext", ".gif", *options]
    subprocess.run(command, env=env, check=True, cwd=tree)


def hashes(tree: Path, folder: Path) -> dict[str, str]:
    """Input and output hashes by name: ``in/SET/NAME`` and ``K/MODE/SET/NAME``."""
    found = {}
    sets = inputs(folder)
    for name, source in sets.items():
        for path in sorted(source.glob("*.gif")):
            found[f"in/{name}/{path.name}"] = sha256(path)
    with tempfile.TemporaryDirectory() as scratch:
        for k in (32, 64):
            for mode, options in MODES.items():
                for name, source in sets.items():
                    out = Path(scratch) / str(k) / mode / name
                    run(tree, source, out, k, options)
                    for path in sorted(out.glob("*.gif")):
                        found[f"{k}/{mode}/{name}/{path.name}"] = sha256(path)
        for name, animations in DITHERED.items():
            for each in animations:
                out = Path(scratch) / "dither" / name
                run(tree, sets[name] / f"{each}.gif", out, 32, ["--dither"])
                found[f"32/dither/{name}/{each}.gif"] = sha256(out / f"{each}.gif")
    return found


def compare(found: dict[str, str], expected: dict[str, str]) -> list[str]:
    """The names whose hash differs or that only one side has."""
    return sorted(name for name in found.keys() | expected.keys() if found.get(name) != expected.get(name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(HERE.parent), help="the kmimg tree to run (built in place)")
    parser.add_argument("--inputs", default=str(HERE / "work" / "anim-identity" / "in"))
    parser.add_argument("--record", help="write the hashes to this JSON file")
    parser.add_argument("--check", help="compare the hashes with this JSON file")
    args = parser.parse_args(argv)
    found = hashes(Path(args.tree).resolve(), Path(args.inputs))
    outputs = sum(1 for name in found if not name.startswith("in/"))
    if args.record:
        Path(args.record).write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    if args.check:
        differ = compare(found, json.loads(Path(args.check).read_text()))
        for name in differ:
            print(f"DIFFERS: {name}")
        print(f"{outputs} outputs, {len(found) - outputs} inputs: {len(differ)} differ")
        return 1 if differ else 0
    print(f"{outputs} outputs, {len(found) - outputs} inputs recorded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Icons' quality against pngquant (issue 26): mean premultiplied PSNR of ``kmimg quantize -k K``
(one call for the folder, one job) and of ``pngquant K --nofs`` (one call per file), and kmimg's
CPU time (user + system of the call).

    .venv/bin/python benchmarks/icons_quality.py --seed 7 --count 300          # tuning icons
    .venv/bin/python benchmarks/icons_quality.py --folder benchmarks/work/inputs/icons  # the bench set
    .venv/bin/python benchmarks/icons_quality.py --seed 7 --count 300 --kmimg OTHER/.venv/bin/kmimg

Tune on icons made by :mod:`icons`' generator with another seed than the bench set's (2026), in
a folder of their own; judge on the bench set afterwards. PSNR as ``translucent.py`` measures
it (premultiplied RGBA, every pixel; a lossless result counts 99 dB). pngquant's outputs are
kept in ``<work>/pngquant-<K>`` and reused.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import icons  # noqa: E402
from translucent import measures, rgba_of  # noqa: E402

WORK = HERE / "work" / "icons-quality"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pngquant(paths: list[Path], k: int, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        target = folder / path.name
        if not target.exists():
            argv = ["pngquant", str(k), "--nofs", "--force", "-o", str(target), str(path)]
            subprocess.run(argv, check=False)
    return {path.name: folder / path.name for path in paths}


#: The generator's kinds of icon (``icons.icon``: the kind by ``index % 20``), by their first index.
KINDS = ((0, "opaque glyph"), (6, "shadowed glyph"), (11, "glass badge"), (13, "photo tile"), (16, "sprite"),
         (18, "line icon"))  # fmt: skip


def kind_of(path: Path) -> str:
    """The generator's kind of the icon ``icon-NNNNN.png``."""
    rest = int(path.stem.split("-")[1]) % 20
    return [name for first, name in KINDS if first <= rest][-1]


def compare(folder: Path, k: int, kmimg: str, work: Path) -> tuple[float, float, float, dict[str, float]]:
    """kmimg's and pngquant's mean PSNR at ``k`` on the icons of ``folder``, kmimg's CPU s, and
    kmimg's mean lead by kind of icon."""
    paths = sorted(folder.glob("icon-*.png"))
    theirs = _pngquant(paths, k, work / f"pngquant-{k}")
    out = work / f"kmimg-{k}"
    before = _children_cpu()
    argv = [kmimg, "quantize", "-k", str(k), str(folder), "--out-dir", str(out), "-q", "--force"]
    subprocess.run([*argv, "--jobs", "1"], check=True)
    cpu = _children_cpu() - before
    ours_db, theirs_db = [], []
    leads: dict[str, list[float]] = {}
    for path in paths:
        original = rgba_of(path)
        ours_db.append(measures(original, rgba_of(out / f"{path.stem}-k{k}.png"))["premul"])
        other = theirs[path.name]  # pngquant may decline an image: count it lossless then
        theirs_db.append(measures(original, rgba_of(other) if other.exists() else original)["premul"])
        leads.setdefault(kind_of(path), []).append(ours_db[-1] - theirs_db[-1])
    by_kind = {kind: statistics.mean(values) for kind, values in leads.items()}
    return statistics.mean(ours_db), statistics.mean(theirs_db), cpu, by_kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="icons already made (default: generate them)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed of the icons made here")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--ks", default="16,64")
    parser.add_argument("--kmimg", default=str(Path(sys.executable).parent / "kmimg"))
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args(argv)
    if args.folder is None:
        if args.seed == icons.SEED:
            parser.error(f"seed {icons.SEED} makes the bench set: tune on another")
        icons.SEED = args.seed
        args.folder = icons.generate(args.work / f"icons-{args.seed}-{args.count}", args.count)
    work = args.work / os.path.basename(os.path.normpath(args.folder))
    for k in (int(value) for value in args.ks.split(",")):
        ours, theirs, cpu, by_kind = compare(args.folder, k, args.kmimg, work)
        count = len(list(args.folder.glob("icon-*.png")))
        print(
            f"k = {k}: kmimg {ours:.4f} dB, pngquant {theirs:.4f} dB, kmimg {ours - theirs:+.4f} dB; "
            f"kmimg {cpu:.2f} s CPU ({1000 * cpu / count:.2f} ms an icon)"
        )
        print("    lead by kind: " + ", ".join(f"{kind} {lead:+.3f}" for kind, lead in by_kind.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How kmimg's quality scale reads against pngquant's, image class by image class.

``python benchmarks/quality_scale.py [--qualities 60,80,90]`` runs ``pngquant --nofs -v
--quality=0-Q`` on photos (the hold-out set), grey photos (scikit-image's grey data images, as
RGB) and translucent images (the translucent tuning and judged sets, a sample of the bench icons
with translucent pixels, scikit-image's logo), and prints, per class, the ratio of kmimg's error
of pngquant's output (``kmimg.core.quality.table_mse``: the alpha-aware squared distance per colour
channel over the visible pixels; the per-channel MSE of an opaque image) to the MSE pngquant
reports for it (``MSE=4.6 (Q=84)``). ``kmimg.core.quality.CALIBRATION`` is the factor kmimg allows
over pngquant's figure: where the ratio is above it, kmimg's quality *q* is the stricter reading.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import icons  # noqa: E402  (sibling modules, found through the path line above)
import inputs  # noqa: E402
from translucent_set import translucent_inputs  # noqa: E402

from kmimg.core.quality import CALIBRATION, table_mse  # noqa: E402

GREY = ("camera", "moon", "page", "text", "coins", "brick", "grass", "gravel", "clock")
_REPORTED = re.compile(r"MSE=([\d.]+) \(Q=(\d+)\)")


def _grey(folder: Path) -> list[Path]:
    import skimage.data

    paths = []
    for name in GREY:
        path = folder / f"grey-{name}.png"
        Image.fromarray(getattr(skimage.data, name)()).convert("RGB").save(path)
        paths.append(path)
    return paths


def _translucent(folder: Path) -> list[Path]:
    import skimage.data

    logo = folder / "logo.png"
    Image.fromarray(skimage.data.logo()).save(logo)
    icon_folder = icons.FOLDER if icons.FOLDER.is_dir() else icons.generate()
    sample = sorted(icon_folder.glob("icon-*.png"))[:400:7]
    candidates = [logo, *translucent_inputs("tuning"), *translucent_inputs("judged"), *sample]
    return [path for path in candidates if _has_translucency(path)]


def _has_translucency(path: Path) -> bool:
    with Image.open(path) as image:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
    return bool(((alpha > 0) & (alpha < 255)).any())


def ratio(path: Path, quality: int, out: Path) -> float | None:
    """kmimg's error of pngquant's output at ``--quality=0-quality``, over pngquant's own figure."""
    command = ["pngquant", "--nofs", "-v", "--force", f"--quality=0-{quality}", "-o", str(out), str(path)]
    reported = _REPORTED.search(subprocess.run(command, capture_output=True, text=True).stderr)
    if reported is None or float(reported.group(1)) <= 0:
        return None
    with Image.open(path) as source_image, Image.open(out) as output_image:
        source = np.asarray(source_image.convert("RGBA")).reshape(-1, 4)
        output = np.asarray(output_image.convert("RGBA")).reshape(-1, 4)
    visible = source[:, 3] > 0
    if bool((source[:, 3] == 255).all()):
        source, output = source[:, :3], output[:, :3]
    error = table_mse(source[visible], output[visible], np.ones(int(visible.sum()), np.int64))
    return error / float(reported.group(1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qualities", default="60,80,90", help="pngquant --quality MAX values")
    args = parser.parse_args(argv)
    qualities = [int(value) for value in args.qualities.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        classes = {
            "photos": inputs.holdout_inputs(),
            "grey photos": _grey(folder),
            "translucent": _translucent(folder),
        }
        print(f"kmimg's error of pngquant's output / pngquant's MSE (CALIBRATION = {CALIBRATION})")
        print("| class | images | ratios | min | median | max | below CALIBRATION |")
        print("|---|---|---|---|---|---|---|")
        for name, paths in classes.items():
            readings = (ratio(path, q, folder / "o.png") for path in paths for q in qualities)
            found = [value for value in readings if value is not None]
            below = sum(value < CALIBRATION for value in found)
            print(
                f"| {name} | {len(paths)} | {len(found)} | {min(found):.2f} | {statistics.median(found):.2f} "
                f"| {max(found):.2f} | {below} of {len(found)} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

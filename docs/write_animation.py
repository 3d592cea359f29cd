"""Write the animated GIF of docs/animation.md: a 160x120 window panning across
``sample_images/flower.jpg`` while a ball bounces over it, 20 frames of 60 ms, looping forever,
saved by Pillow (a 256-colour palette of its own per frame).

Usage: python docs/write_animation.py out/flower-pan.gif
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

FRAMES = 20
SIZE = (160, 120)


def frames(photo: Image.Image) -> list[Image.Image]:
    pixels = np.asarray(photo.convert("RGB"))
    width, height = SIZE
    y, x = np.mgrid[0:height, 0:width]
    made = []
    for number in range(FRAMES):
        left = round(number * (pixels.shape[1] - width) / (FRAMES - 1))
        top = round(number * (pixels.shape[0] - height) / (FRAMES - 1) / 2)
        frame = pixels[top : top + height, left : left + width].copy()
        cx = 20 + number * (width - 40) / (FRAMES - 1)
        cy = height - 20 - abs(np.sin(number * np.pi / 8)) * (height - 50)
        distance = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        ball = distance < 14
        shade = 1.0 - distance[ball] / 20
        frame[ball] = np.column_stack([255 * shade, 200 * shade, 40 * shade]).astype(np.uint8)
        made.append(Image.fromarray(frame))
    return made


def main(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(Path(__file__).resolve().parent.parent / "sample_images" / "flower.jpg") as photo:
        made = frames(photo)
    made[0].save(target, save_all=True, append_images=made[1:], duration=60, loop=0)
    print(f"wrote {len(made)} frames into {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/flower-pan.gif"))

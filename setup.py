"""Build of kmimg's C extensions, ``kmimg._engine`` (k-means), ``kmimg._dither`` (error
diffusion), ``kmimg._png`` (PNG row filters, deflate streams joined; links zlib) and ``kmimg._gif``
(GIF LZW coding); everything
else is in pyproject.toml.

FMA contraction is turned off so that the kernel rounds every product and sum exactly as the
numpy code it replaces did, on every processor (GCC contracts ``a * b + c`` by default on
aarch64): palettes and output bytes must not depend on the machine.
"""

from setuptools import Extension, setup

FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]

#: One extension module from one file per algorithm (the map is in kmimg/_engine.h).
ENGINE = [
    "kmimg/_engine.c",
    "kmimg/_engine_search.c",
    "kmimg/_engine_bounds.c",
    "kmimg/_engine_lloyd.c",
    "kmimg/_engine_grid.c",
    "kmimg/_engine_seeding.c",
    "kmimg/_engine_random.c",
    "kmimg/_engine_small.c",
]
#: The internal headers (also in MANIFEST.in, so that an sdist builds): a change rebuilds.
BUFFERS = "kmimg/_buffers.h"

setup(
    ext_modules=[
        Extension(
            "kmimg._engine",
            sources=ENGINE,
            depends=["kmimg/_engine.h", BUFFERS],
            extra_compile_args=FLAGS,
        ),
        Extension("kmimg._dither", sources=["kmimg/_dither.c"], depends=[BUFFERS], extra_compile_args=FLAGS),
        # zlib (the system's, which Python's own zlib module uses): unfinish_deflate inflates.
        Extension(
            "kmimg._png",
            sources=["kmimg/_png.c"],
            depends=[BUFFERS],
            extra_compile_args=FLAGS,
            libraries=["z"],
        ),
        Extension("kmimg._gif", sources=["kmimg/_gif.c"], depends=[BUFFERS], extra_compile_args=FLAGS),
    ]
)

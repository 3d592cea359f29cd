"""Build of kmimg's C extensions, ``kmimg._engine`` (k-means), ``kmimg._dither`` (error
diffusion) and ``kmimg._png`` (PNG row filters); everything else is in pyproject.toml.

FMA contraction is turned off so that the kernel rounds every product and sum exactly as the
numpy code it replaces did, on every processor (GCC contracts ``a * b + c`` by default on
aarch64): palettes and output bytes must not depend on the machine.
"""

from setuptools import Extension, setup

FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]

setup(
    ext_modules=[
        Extension(
            "kmimg._engine",
            sources=["kmimg/_engine.c"],
            extra_compile_args=FLAGS,
        ),
        Extension("kmimg._dither", sources=["kmimg/_dither.c"], extra_compile_args=FLAGS),
        Extension("kmimg._png", sources=["kmimg/_png.c"], extra_compile_args=FLAGS),
    ]
)

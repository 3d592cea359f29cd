"""The ``kmimg`` command line. Commands parse options, call the pure core once per input, write
outputs through :mod:`kmimg.io` and report through :class:`kmimg.cli.frame.Reporter`.

The Typer app is :mod:`kmimg.cli.root` (``kmimg.cli.app``, ``kmimg.cli.main``, built on first
use). The package itself imports no Typer: the one-file ``kmimg quantize`` lines that
:mod:`kmimg.cli.direct` reads run :func:`kmimg.cli.quantize_run.run_quantize` without it
(~30 ms of a start-up that pngquant finishes a small job in, issue 26).
"""

from __future__ import annotations

from typing import Any

#: What this package gives from :mod:`kmimg.cli.root`.
_FROM_ROOT = frozenset(("main", "build_app", "COMMANDS"))


def __getattr__(name: str) -> Any:
    """``kmimg.cli.app`` (the app with every command, built once on first use: tests,
    embedding) and :mod:`kmimg.cli.root`'s ``main``, ``build_app`` and ``COMMANDS``."""
    if name == "app":
        from kmimg.cli.root import build_app

        globals()["app"] = built = build_app()
        return built
    if name in _FROM_ROOT:
        import kmimg.cli.root as root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The ``kmimg`` console script and ``python -m kmimg``: the CLI, with the garbage collector
of a short process (:mod:`kmimg._gc`) set before the first heavy import."""

from __future__ import annotations

from kmimg import _gc


def main() -> None:
    _gc.defer()
    try:
        from kmimg.cli import main as run

        run()
    finally:
        _gc.at_exit()


if __name__ == "__main__":
    main()

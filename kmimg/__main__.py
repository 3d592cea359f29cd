"""The ``kmimg`` console script and ``python -m kmimg``: the CLI, with the garbage collector
of a short process (:mod:`kmimg._gc`) set before the first heavy import, the one PNG a
``quantize`` names read early on the idle core (:func:`read_input_early`), and the common
``quantize`` lines run without Typer (:mod:`kmimg.cli.direct`)."""

from __future__ import annotations

import sys

from kmimg import _gc

#: ``quantize`` options whose value may be a PNG that is not an input.
_PNG_VALUED = frozenset(("-o", "--output", "--palette", "--palette-out", "--json", "--out-dir"))


def read_input_early(argv: list[str]) -> None:
    """``kmimg quantize`` naming exactly one existing ``.png`` file as an input: start reading
    and decoding it on a thread while the command line loads (:mod:`kmimg.io.plain_png`; the
    command takes the rows only if it decodes the same bytes). A guess from the words alone,
    before Typer parses them: anything else (another command, several PNGs, a folder, a JPEG)
    reads nothing early, nor does a run held to one thread (``OMP_NUM_THREADS=1``, one core)."""
    if not argv or argv[0] != "quantize":
        return
    from kmimg._threads import engine_threads

    if engine_threads() < 2:
        return
    words = argv[1:]
    named = [
        word
        for number, word in enumerate(words)
        if word.lower().endswith(".png")
        and not word.startswith("-")
        and (number == 0 or words[number - 1] not in _PNG_VALUED)
    ]
    if len(named) == 1:
        from kmimg.io.plain_png import read_early

        read_early(named[0], max_pixels=_max_pixels(words))


def _max_pixels(words: list[str]) -> int | None:
    """The ``--max-pixels`` value on the command line (the last one given, as the command takes
    it), if one reads as a number: the early read decodes no image that the command will refuse
    (Typer reports a malformed value itself)."""
    found: str | None = None
    for number, word in enumerate(words):
        if word.startswith("--max-pixels="):
            found = word.partition("=")[2]
        elif word == "--max-pixels" and number + 1 < len(words):
            found = words[number + 1]
    if found is None:
        return None
    try:
        return int(found)
    except ValueError:
        return 0


def main() -> None:
    _gc.defer()
    argv = sys.argv[1:]
    try:
        read_input_early(argv)
        if argv[:1] == ["quantize"]:  # the other commands import nothing of quantize's
            from kmimg.cli.direct import quantize_args

            direct = quantize_args(argv)
            if direct is not None:  # a common quantize line: no Typer to import (~30 ms)
                from kmimg.cli.quantize_run import run_quantize

                run_quantize(direct)
                return
        from kmimg.cli import main as run

        run()
    except KeyboardInterrupt:  # Ctrl-C while the command line loads, before a command's frame
        print("kmimg: error: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        _gc.at_exit()


if __name__ == "__main__":
    main()

"""Python's cyclic garbage collector in a ``kmimg`` process: off during start-up, frozen at exit.

A kmimg run imports Typer, numpy, Pillow and its own modules (about 30,000 long-lived objects),
makes almost no reference cycles (a few hundred small objects per run, never an array) and
exits. With the collector on, Python walks those objects in ~75 collections while they are
created (15-20 ms on a 0.4 MP photo here) and once more at exit (~60 ms): together about a fifth
of a small photo's whole run (issue 11). So the console script (:mod:`kmimg.__main__`) turns
the collector off (:func:`defer`); the batch room turns it back on when the first task is done
(:func:`resume`), after freezing the start-up's objects so that no later collection walks them
again (a batch of thousands of files collects its cycles as usual); and :func:`at_exit` freezes
everything, so that the shutdown walks nothing. A forked batch worker inherits the deferred
collector and resumes it after its own first task (which does its heavy imports).

Nothing here runs when kmimg is imported as a library: :func:`resume` does nothing unless
:func:`defer` turned the collector off.
"""

from __future__ import annotations

import gc

_deferred = False


def defer() -> None:
    """Turn the collector off for the start-up (the console script, before any import)."""
    global _deferred
    if gc.isenabled():
        gc.disable()
        _deferred = True


def resume() -> None:
    """The start-up is over (a task is done): freeze what exists and turn the collector back on.
    Does nothing unless :func:`defer` turned it off, and nothing the second time."""
    global _deferred
    if _deferred:
        _deferred = False
        gc.freeze()
        gc.enable()


def at_exit() -> None:
    """The process is about to exit: move every object out of the collector's reach, so that
    the interpreter's shutdown does not walk them all once more. (The objects are still freed
    as the modules are torn down; only cycles left at exit are not, as Python never promises.)"""
    gc.freeze()

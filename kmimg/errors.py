"""The typed errors kmimg raises.

The core raises these; the CLI turns each into one ``kmimg: error: <path>: <reason>`` line and an
exit code at a single place (:func:`kmimg.cli.frame.boundary`). Subclasses also derive from the matching
builtin so library callers can catch them the usual way.
"""

from __future__ import annotations


class KmimgError(Exception):
    """Base class of every error kmimg raises on purpose."""


class InputError(KmimgError, ValueError):
    """An input cannot be used: not an image, corrupt, truncated, empty, too large."""


class LimitError(InputError):
    """An input exceeds a documented limit (such as ``--max-pixels``)."""


class OutputError(KmimgError, OSError):
    """An output cannot be written: exists, is the input, folder not writable, disk full."""


class UsageError(KmimgError, ValueError):
    """Options that contradict each other, found before any work is done."""


class QualityTooLowError(KmimgError, ValueError):
    """Quality mode (``quality=``): even the largest palette allowed stays below the minimum
    quality. The command line writes nothing for that input and exits 99."""


class ClusterLostError(KmimgError, ConnectionError):
    """The Dask scheduler went away in the middle of a batch (``--scheduler``): the outputs
    completed before are in place, no partial file is left, the other inputs were not done.
    The CLI exits 3."""


class PaletteError(UsageError):
    """A palette file or a ``--keep`` colour cannot be used: malformed, empty, more than 256
    colours, not a colour. The message names the file (and line) or quotes the value, and says
    why; found before any image is read, so the CLI exits 2."""


class KmimgWarning(UserWarning):
    """Something worth telling the user that did not stop the work (a damaged file decoded
    with ``allow_truncated``, corrupt EXIF data ignored). The CLI shows each as one
    ``kmimg: warning: <path>: <message>`` line."""

"""Feature vectors kept on disk instead of in memory (``kmimg classify --batch-size``).

:class:`RowSpill` stores float64 rows of one length at given row numbers in an anonymous
temporary file (:func:`tempfile.TemporaryFile`: it has no name, so it is gone when closed or
when the process ends, however it ends) and reads any rows back. Reads use ``pread``, not a
memory map: the rows read are the only memory the process holds (the kernel's page cache keeps
the rest, and gives it back when it needs to).
"""

from __future__ import annotations

import os
import tempfile
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from kmimg.errors import OutputError

_DTYPE = np.dtype("<f8")


class RowSpill:
    """Rows of ``width`` float64 values at row numbers, in a temporary file in ``folder``
    (the system's temporary folder, ``$TMPDIR``, by default)."""

    def __init__(self, width: int, folder: str | None = None) -> None:
        self.width = width
        self.row_bytes = width * _DTYPE.itemsize
        try:
            self._file = tempfile.TemporaryFile(prefix="kmimg-features-", dir=folder)  # noqa: SIM115 - closed by close()
        except OSError as exc:
            where = folder or tempfile.gettempdir()
            raise OutputError(f"{where}: cannot make a temporary file: {exc.strerror or exc}") from None

    def put(self, row: int, values: NDArray[np.float64]) -> None:
        """Store ``values`` (``width`` of them) as row ``row``."""
        data = np.ascontiguousarray(values, dtype=_DTYPE)
        if data.shape != (self.width,):
            raise ValueError(f"a row holds {self.width} values, got shape {data.shape}")
        try:
            os.pwrite(self._file.fileno(), data.tobytes(), row * self.row_bytes)
        except OSError as exc:
            raise OutputError(f"temporary feature file: {exc.strerror or exc}") from None

    def rows(self, numbers: NDArray[np.intp]) -> NDArray[np.float64]:
        """The rows at ``numbers`` (ascending; consecutive ones are read at once)."""
        numbers = np.asarray(numbers, dtype=np.intp)
        found = np.empty((len(numbers), self.width), dtype=_DTYPE)
        if not len(numbers):
            return found
        breaks = np.flatnonzero(np.diff(numbers) != 1) + 1
        for run_start, run_end in zip([0, *breaks.tolist()], [*breaks.tolist(), len(numbers)], strict=True):
            size = (run_end - run_start) * self.row_bytes
            data = os.pread(self._file.fileno(), size, int(numbers[run_start]) * self.row_bytes)
            if len(data) != size:
                raise ValueError(f"row {int(numbers[run_start])} was never stored")
            found[run_start:run_end] = np.frombuffer(data, dtype=_DTYPE).reshape(-1, self.width)
        return found

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RowSpill:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

"""What ``kmimg quantize`` takes its palette from (``--palette``, ``--shared-palette``,
``--palette-out``, ``--keep``), checked before any work, and the shared palette fitted before
the inputs are mapped onto it. The shared fit itself is :mod:`kmimg.jobs.palette`, imported only
for it: a plain ``kmimg quantize`` does not pay for it (issue 11: ~5 ms of every start-up)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kmimg._records import frozen
from kmimg.cli.frame import finish
from kmimg.errors import UsageError
from kmimg.jobs.paths import STDIO, InputItem, check_side_output

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kmimg.cli.frame import Reporter
    from kmimg.options import QuantizeOptions


@frozen
class PalettePlan:
    """Where ``kmimg quantize`` takes its palette from: fitted per image (``fitted``), fitted
    once across the inputs (``shared``), or a file (its path); decided before any work."""

    source: str = "fitted"
    keep: NDArray[np.uint8] | None = None
    fixed: NDArray[np.uint8] | None = None
    palette_out: str | None = None

    @property
    def shared(self) -> bool:
        return self.source == "shared"

    @property
    def keep_rows(self) -> tuple[tuple[int, int, int], ...]:
        """The kept colours for a per-image fit (a shared fit takes them itself)."""
        if self.keep is None or self.shared:
            return ()
        return tuple((int(r), int(g), int(b)) for r, g, b in self.keep.tolist())


def plan_palette(
    palette_file: str | None,
    *,
    shared: bool,
    palette_out: str | None,
    keep: str | None,
    k: int,
    k_given: bool,
    posterize: bool = False,
) -> PalettePlan:
    """Check ``--palette``, ``--shared-palette``, ``--palette-out``, ``--keep`` and
    ``--posterize`` together and read the palette file, before any work (every problem exits 2)."""
    if palette_file is not None:
        clash = next(
            (
                name
                for name, used in (
                    ("--shared-palette", shared),
                    ("--palette-out", palette_out),
                    ("--keep", keep),
                    ("-k", k_given),
                    ("--posterize", posterize),
                )
                if used
            ),
            None,
        )
        if clash:
            raise UsageError(f"--palette and {clash} cannot be combined: the palette file gives the colours")
        from kmimg.jobs.palette import read_palette_file

        return PalettePlan(source=palette_file, fixed=read_palette_file(palette_file).colors)
    if palette_out is not None:
        if palette_out == STDIO:
            raise UsageError("--palette-out needs a file name (.gpl, .act, .pal, .hex, .txt or .json)")
        from kmimg.palettes.files import format_of  # ~10 ms of imports a plain quantize does without

        format_of(palette_out)
    kept = parse_keep_option(keep, k)
    return PalettePlan(
        source="shared" if shared or palette_out else "fitted", keep=kept, palette_out=palette_out
    )


def check_transparent_index(plan: PalettePlan, options: QuantizeOptions) -> None:
    """``--transparent-index`` names a slot of the palette: of the file's colours, or of K."""
    index = options.transparent_index
    if index is None:
        return
    size = options.k if plan.fixed is None else len(plan.fixed)
    if index >= size:
        where = f"the palette's {size} colours" if plan.fixed is not None else f"-k {size} colours"
        raise UsageError(f"--transparent-index {index} is not a slot of {where}")


def parse_keep_option(text: str | None, k: int) -> NDArray[np.uint8] | None:
    """The ``--keep`` colours as ``(m, 3)`` RGB rows (a :class:`PaletteError` when one is not a
    colour, a :class:`UsageError` when there are more than ``k``)."""
    if text is None:
        return None
    from kmimg.palettes.files import parse_keep

    rows = parse_keep(text).colors[:, :3]
    if len(rows) > k:
        raise UsageError(f"--keep lists {len(rows)} colours, more than -k {k}")
    return rows


def palette_for(
    plan: PalettePlan,
    tasks: list[tuple[InputItem, str]],
    options: QuantizeOptions,
    *,
    reporter: Reporter,
    jobs: int | None,
    scheduler: str | None = None,
    max_pixels: int,
    allow_truncated: bool,
) -> NDArray[np.uint8] | None:
    """The palette every task maps onto: the file's, the shared one (fitted now, from every
    planned input, also those whose output is refused), or ``None`` (each image its own fit).
    ``--transparent-index`` is checked against the palette's size first (exit 2, nothing done)."""
    check_transparent_index(plan, options)
    if not plan.shared:
        return plan.fixed
    if plan.palette_out is not None:
        check_side_output(plan.palette_out, "--palette-out", tasks)
    if any(item.is_stdin for item, _ in tasks):
        raise UsageError("--shared-palette reads every input twice: '-' (standard input) cannot be one")
    from kmimg.jobs.palette import merge_histograms, shared_colors, write_palette_file
    from kmimg.jobs.tasks import ImageInput
    from kmimg.types import PaletteWeight

    total, outcome = merge_histograms(
        [ImageInput(item.source) for item, _ in tasks], weight=PaletteWeight.PIXELS, listener=reporter,
        jobs=jobs, scheduler=scheduler, max_pixels=max_pixels, allow_truncated=allow_truncated,
    )  # fmt: skip
    if outcome.failures:
        finish(outcome)  # nothing is written: the palette would not be that of all the inputs
    title = Path(plan.palette_out).stem if plan.palette_out else "kmimg"
    palette, colors = shared_colors(total, options, keep=plan.keep, title=title)
    if plan.palette_out is not None:
        write_palette_file(palette, plan.palette_out)
    return colors

"""Inputs and outputs of a command, decided before any work: input expansion (files, folders,
``-r``, standard input), output naming, and the overwrite policy (refusals that stop the run,
and inputs turned down one by one).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from kmimg._records import frozen
from kmimg.errors import UsageError
from kmimg.io.files import check_writable_folder
from kmimg.io.formats import is_scan_suffix

#: A folder scan picks up the file name endings of :func:`kmimg.io.formats.scan_suffixes`
#: (case-insensitive): every one Pillow registers for a format kmimg reads. Named files are
#: judged by content, whatever their name.


STDIO = "-"


#: Longest file name (bytes) on common file systems (ext4, APFS, NTFS in UTF-16 units).
NAME_MAX = 255


@frozen
class InputItem:
    """One input: ``source`` is a path or ``-``; ``relative`` is its path below the folder it
    was found in (for mirroring into ``--out-dir``), or its bare name."""

    source: str
    relative: Path

    @property
    def is_stdin(self) -> bool:
        return self.source == STDIO

    @property
    def display(self) -> str:
        return display_name(self.source)


def display_name(source: str) -> str:
    """How messages and documents name an input: its path, or ``<stdin>`` for ``-``."""
    return "<stdin>" if source == STDIO else source


def expand_inputs(inputs: Sequence[str], *, recursive: bool) -> list[InputItem]:
    """Files as given, folders as their image files (sorted; ``recursive`` descends).

    Inputs that are only folders holding no image are a :class:`UsageError` naming the first
    (``DIR: no images``), so that a script running kmimg over many folders can tell which.
    """
    items: list[InputItem] = []
    for raw in inputs:
        if raw == STDIO:
            items.append(InputItem(STDIO, Path("stdin")))
        elif Path(raw).is_dir():
            items.extend(_scan_folder(Path(raw), recursive=recursive))
        else:
            items.append(InputItem(raw, Path(Path(raw).name)))
    if sum(item.is_stdin for item in items) > 1:
        raise UsageError("'-' (standard input) can be given only once")
    if inputs and not items:  # every other kind of input gives an item: all are empty folders
        raise UsageError(f"{inputs[0]}: no images")
    return items


def _scan_folder(folder: Path, *, recursive: bool) -> list[InputItem]:
    found: list[str] = []
    _walk(str(folder), "", recursive=recursive, found=found)
    found.sort(key=lambda relative: relative.split(os.sep))  # as sorting their Paths would
    return [InputItem(os.path.join(folder, relative), Path(relative)) for relative in found]


def _walk(folder: str, below: str, *, recursive: bool, found: list[str]) -> None:
    """Image files under ``folder / below`` (relative to ``folder``), skipping hidden names and
    links to folders; one ``scandir`` per folder instead of a ``stat`` per file, and strings,
    not Paths (a folder of thousands of icons is listed in milliseconds)."""
    try:
        entries = list(os.scandir(os.path.join(folder, below)))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        relative = os.path.join(below, entry.name)
        if entry.is_dir(follow_symlinks=False):
            if recursive:
                _walk(folder, relative, recursive=recursive, found=found)
        elif is_scan_suffix(os.path.splitext(entry.name)[1].lower()) and entry.is_file():
            found.append(relative)


def output_path(item: InputItem, *, suffix: str, out_dir: Path | None) -> Path:
    """Where an input's output goes by default: ``<stem><suffix>`` in ``out_dir`` (mirroring
    sub-folders of a folder input) or next to the input."""
    name = item.relative.stem + suffix
    if out_dir is not None:
        return Path(os.path.join(out_dir, os.path.dirname(item.relative), name))
    return Path(os.path.join(os.path.dirname(item.source), name))


def check_outputs(
    pairs: Sequence[tuple[InputItem, Path]], *, force: bool, own_input_ok: bool = False
) -> dict[str, str]:
    """Decide before any work which outputs cannot be written.

    Two inputs with the same output, an output that is its own input (also through a symbolic
    or hard link; allowed with ``own_input_ok``: ``quantize --ext .png --force`` rewrites
    files in place) or any other input, are usage errors (:class:`UsageError`). An output folder
    that cannot be written is an :class:`OutputError`. An existing output without ``force``, or
    an output path that is a folder, fails only that input: the returned mapping gives such
    inputs' reasons. About one ``lstat`` per path and no Path objects: a folder of 10,000 icons
    is planned in milliseconds.
    """
    places = _Places()
    own = {item.source: places.identities(item.source) for item, _ in pairs if not item.is_stdin}
    inputs: dict[object, str] = {}
    for source, keys in own.items():
        for key in keys:
            inputs.setdefault(key, source)
    seen: dict[str, str] = {}
    refused: dict[str, str] = {}
    for item, target in pairs:
        mine = own.get(item.source, [])
        reason = _target_refusal(places, item, str(target), mine, inputs, seen, own_input_ok)
        if reason is not None:
            refused[item.source] = reason
        elif not force and places.exists(str(target)):
            refused[item.source] = f"output {target} exists (use --force to overwrite)"
    return refused


def _target_refusal(
    places: _Places,
    item: InputItem,
    target: str,
    mine: list[object],
    inputs: dict[object, str],
    seen: dict[str, str],
    own_input_ok: bool,
) -> str | None:
    """Raise :class:`UsageError` for an output that another input also writes, or that is an
    input; the reason an output cannot be written (a name too long, a folder), else ``None``."""
    resolved, info = places.resolve(target)
    if resolved in seen:
        raise UsageError(f"{item.display} and {seen[resolved]} would both write {target}")
    seen[resolved] = item.display
    keys = places.identities(target)
    if any(key in mine for key in keys):
        if not own_input_ok:
            raise UsageError(f"{item.display}: output {target} is the input itself")
        keys = [key for key in keys if key not in mine]
    clobbered = next((inputs[key] for key in keys if key in inputs), None)
    if clobbered is not None:
        raise UsageError(f"{item.display}: output {target} is another input ({clobbered})")
    folder, name = os.path.split(target)
    places.check_folder(folder)
    if len(os.fsencode(name)) > NAME_MAX:
        return f"output name {name} is longer than {NAME_MAX} bytes"
    if info is not None and stat.S_ISDIR(info.st_mode):
        return f"output {target} is a folder"
    return None


def plan_rerun(
    pairs: Sequence[tuple[InputItem, Path]], *, skip_existing: bool
) -> tuple[list[tuple[InputItem, Path]], dict[str, str]]:
    """The rule that makes a rerun of the same command work (``--force``, ``--skip-existing``):
    an input that is the output of another input under the same naming rule (``NAME-k64.png``
    beside ``NAME.png`` for ``-k 64``) is not an input, it is that input's output; with
    ``skip_existing``, an input whose output exists is done already. Returns the pairs left and
    the skipped inputs with their reasons. Paths are compared as absolute, normalized paths
    (no system call): what this misses, :func:`check_outputs` still refuses."""
    produced: dict[str, list[InputItem]] = {}
    for item, target in pairs:
        produced.setdefault(_plain(target), []).append(item)
    kept: list[tuple[InputItem, Path]] = []
    skipped: dict[str, str] = {}
    for item, target in pairs:
        makers = [] if item.is_stdin else produced.get(_plain(Path(item.source)), [])
        maker = next((other for other in makers if other.source != item.source), None)
        if maker is not None:
            skipped[item.source] = f"it is the output of {maker.display} (same naming rule)"
        elif skip_existing and os.path.lexists(target):
            skipped[item.source] = f"output {target} exists (--skip-existing)"
        else:
            kept.append((item, target))
    return kept, skipped


def _plain(path: Path) -> str:
    return os.path.normpath(os.path.abspath(path))


class _Places:
    """Paths resolved with each folder resolved once (``realpath`` walks every component of
    every path: dozens of system calls per file in a folder of thousands), as strings."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}
        self._writable: set[str] = set()
        self._known: dict[str, tuple[str, os.stat_result | None]] = {}
        self._dangling: set[str] = set()  # symbolic links to nothing

    def resolve(self, path: str) -> tuple[str, os.stat_result | None]:
        """``os.path.realpath(path)`` and what it names (followed through a link), or ``None``."""
        known = self._known.get(path)
        if known is None:
            known = self._known[path] = self._look_up(path)
        return known

    def _look_up(self, path: str) -> tuple[str, os.stat_result | None]:
        try:
            link = os.lstat(path)
        except OSError:
            link = None
        if link is not None and stat.S_ISLNK(link.st_mode):
            try:
                return os.path.realpath(path), os.stat(path)
            except OSError:
                self._dangling.add(path)
                return os.path.realpath(path), None
        parent, name = os.path.split(path)
        if name in ("", ".", ".."):
            return os.path.realpath(path), link
        folder = self._folders.get(parent)
        if folder is None:
            folder = self._folders[parent] = os.path.realpath(parent or ".")
        return os.path.join(folder, name), link

    def identities(self, path: str) -> list[object]:
        """Keys under which two paths name the same file: the resolved path and, for an
        existing file, its device and inode (a hard link has another path, the same inode)."""
        resolved, info = self.resolve(path)
        return [resolved] if info is None else [resolved, (info.st_dev, info.st_ino)]

    def exists(self, path: str) -> bool:
        """Whether anything is at ``path``, a dangling symbolic link included."""
        return self.resolve(path)[1] is not None or path in self._dangling

    def check_folder(self, folder: str) -> None:
        if folder not in self._writable:
            check_writable_folder(Path(folder))
            self._writable.add(folder)


def check_side_output(destination: str | None, option: str, pairs: Sequence[tuple[InputItem, str]]) -> None:
    """Refuse (:class:`UsageError`) a summary file (``--json PATH``, ``--html PATH``...) that is
    an input or one of the outputs: it would destroy it at the end of the run."""
    if destination is None or destination == STDIO:
        return
    if Path(destination).is_dir():
        raise UsageError(f"{option} {destination} is a folder, not a file")
    taken = _file_identities(Path(item.source) for item, _ in pairs if not item.is_stdin)
    taken.update(_file_identities(Path(target) for _, target in pairs if target != STDIO))
    clash = next((taken[key] for key in _file_identities([Path(destination)]) if key in taken), None)
    if clash is not None:
        raise UsageError(f"{option} {destination} would overwrite {clash}")


def _file_identities(paths: Iterable[Path]) -> dict[object, Path]:
    """Keys under which two paths name the same file: the resolved path and, for an existing
    file, its device and inode (a hard link has a different path but the same inode)."""
    keys: dict[object, Path] = {}
    for path in paths:
        keys.setdefault(path.resolve(), path)
        with contextlib.suppress(OSError):
            info = path.stat()
            keys.setdefault((info.st_dev, info.st_ino), path)
    return keys


def cluster_folder(cluster: int, k: int) -> str:
    """``cluster-N``, N zero-padded to the width of the largest cluster number."""
    return f"cluster-{cluster:0{len(str(k - 1))}d}"


def unique_name(relative: Path, taken: set[str], folder: Path) -> str:
    """The link's name: the input's path below its folder argument, flattened with '__'; a
    second input with the same name gets '~2', '~3'... before its suffix."""
    name = "__".join(relative.parts)
    stem, suffix = os.path.splitext(name)
    candidate, number = name, 1
    while str(folder / candidate) in taken:
        number += 1
        candidate = f"{stem}~{number}{suffix}"
    taken.add(str(folder / candidate))
    return candidate

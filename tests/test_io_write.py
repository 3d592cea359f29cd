"""write_atomic: an output is complete or absent, whatever fails, and it is the only writer."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from kmimg.errors import OutputError
from kmimg.io import write_atomic

PACKAGE = Path(__file__).resolve().parent.parent / "kmimg"


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_the_bytes_with_ordinary_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    write_atomic(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644 & ~umask
    assert names(tmp_path) == ["out.png"]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), OutputError),
        (OSError(errno.EFBIG, "File too large"), OutputError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
    ids=["disk-full", "file-too-large", "ctrl-c"],
)
def test_a_failure_mid_write_keeps_the_old_file_and_no_temporary(
    failure: BaseException, expected: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old bytes")

    def fail(_fd: int) -> None:
        raise failure

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(expected) as raised:
        write_atomic(target, b"new bytes" * 1000)
    if expected is OutputError:
        assert str(raised.value) == f"cannot write: {failure.strerror}"  # type: ignore[attr-defined]
    assert target.read_bytes() == b"old bytes"
    assert names(tmp_path) == ["out.png"]


@pytest.mark.parametrize("grouped", [False, True])
def test_ctrl_c_just_after_the_temporary_file_is_made_removes_it(
    grouped: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt lands between two bytecodes: right after ``os.open`` made the file,
    before the code that owns it runs (a worker's Ctrl-C once left ``.NAME.PID-N.kmimg-tmp``)."""
    from kmimg.io import commit_group

    real_open = os.open

    def open_then_interrupt(path: str, flags: int, mode: int = 0o777) -> int:
        handle = real_open(path, flags, mode)
        os.close(handle)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        if grouped:
            with commit_group():
                write_atomic(tmp_path / "out.png", b"new bytes")
        else:
            write_atomic(tmp_path / "out.png", b"new bytes")
    assert names(tmp_path) == []


def test_ctrl_c_just_after_the_file_joins_its_group_takes_it_out_again(tmp_path: Path) -> None:
    """Interrupted right after the temporary file is handed to the commit group: the file is
    removed and the group does not hold it (its commit would fail it as "cannot write")."""
    from kmimg.io import commit_group

    class Interrupting(list):  # type: ignore[type-arg]
        def append(self, item: object) -> None:
            super().append(item)
            raise KeyboardInterrupt

    with commit_group() as group:
        group.pending = Interrupting()
        with pytest.raises(KeyboardInterrupt):
            write_atomic(tmp_path / "out.png", b"new bytes")
        assert list(group.pending) == []
        assert group.commit(group.take()) == {}
    assert names(tmp_path) == []


def test_target_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(OutputError, match="cannot write"):
        write_atomic(tmp_path / "out.png", b"x")
    assert names(tmp_path) == ["out.png"]


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot write in"):
        write_atomic(tmp_path / "nope" / "out.png", b"x")


def test_a_folder_that_cannot_be_made_is_named_once(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError) as caught:
        write_atomic(tmp_path / "file" / "sub" / "out.png", b"x", parents=True)
    message = str(caught.value)
    assert "cannot create folder" in message
    assert message.count(str(tmp_path / "file" / "sub")) == 1, message
    assert names(tmp_path) == ["file"]


def test_nothing_but_kmimg_io_writes_files() -> None:
    """Every output goes through write_atomic: no direct writes anywhere else in the package (the
    examples in docstrings call the library's own ``save``, which does)."""
    direct = re.compile(
        r"\.write_bytes\(|\.write_text\(|\bopen\([^)]*['\"][wax]b?['\"]|shutil\.(copy|move)|\.save\(\s*(?!buffer)"
    )
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "io.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line) and not line.lstrip().startswith(">>>")  # docstring examples
    ]
    assert offenders == []


def test_a_name_near_the_length_limit(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 250 + ".png")  # 254 bytes: fits, but not with a long temp prefix
    write_atomic(target, b"x")
    assert names(tmp_path) == [target.name]


def test_link_atomic_replaces_and_cleans_up_on_interrupt(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    import pytest

    from kmimg.io import link_atomic

    source = tmp_path / "a.png"
    source.write_bytes(b"x")
    target = tmp_path / "link.png"
    target.write_bytes(b"old")
    link_atomic(target, source)
    assert target.is_symlink() and target.resolve() == source.resolve()

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    other = tmp_path / "other.png"
    with pytest.raises(KeyboardInterrupt):
        link_atomic(other, source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "link.png"]

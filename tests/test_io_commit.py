"""io.commit_group: files written in a group appear only at the commit, complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmimg.io import commit_group, write_atomic


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_files_appear_at_the_commit(tmp_path: Path) -> None:
    (tmp_path / "b.png").write_bytes(b"old")
    with commit_group() as group:
        write_atomic(tmp_path / "a.png", b"first")
        write_atomic(tmp_path / "b.png", b"second")
        assert _visible(tmp_path) == ["b.png"] and (tmp_path / "b.png").read_bytes() == b"old"
        assert len(_hidden(tmp_path)) == 2  # the complete temporary files
        failed = group.commit(group.take())
    assert failed == {}
    assert (tmp_path / "a.png").read_bytes() == b"first"
    assert (tmp_path / "b.png").read_bytes() == b"second"
    assert _hidden(tmp_path) == []


def test_what_is_not_committed_is_removed(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), commit_group():
        write_atomic(tmp_path / "a.png", b"first")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_cannot_be_put_in_place_is_reported(tmp_path: Path) -> None:
    with commit_group() as group:
        write_atomic(tmp_path / "a.png", b"first")
        write_atomic(tmp_path / "b.png", b"second")
        (tmp_path / "b.png").mkdir()  # a folder now stands where the file goes
        (tmp_path / "b.png" / "x").write_bytes(b"")
        failed = group.commit(group.take())
    assert list(failed) == [tmp_path / "b.png"] and "cannot write" in failed[tmp_path / "b.png"]
    assert (tmp_path / "a.png").read_bytes() == b"first"
    assert _hidden(tmp_path) == []


def test_outside_a_group_files_are_written_at_once(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a.png", b"now")
    assert _visible(tmp_path) == ["a.png"] and _hidden(tmp_path) == []

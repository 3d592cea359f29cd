"""The API reference (docs/build_api.py: one page made by pdoc from the docstrings of
``kmimg.__all__``) builds, lists every public name, and every example on it runs and prints
what it says."""

from __future__ import annotations

import doctest
import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _docstrings(member: Any) -> list[tuple[str, str]]:
    """``(qualified name, docstring)`` of a pdoc member and of the members of a class shown
    with it."""
    found = [(member.qualname, member.docstring)]
    for inner in getattr(member, "own_members", []):
        found += _docstrings(inner)
    return found


def _examples() -> list[doctest.DocTest]:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Error parsing type annotation")
        module = _builder().api_module()
        pairs = [pair for member in module.members.values() for pair in _docstrings(member)]
    parser = doctest.DocTestParser()
    tests = [
        parser.get_doctest(text, {}, name, None, 0) for name, text in [("kmimg", module.docstring), *pairs]
    ]
    return [test for test in tests if test.examples]


def test_the_page_builds_and_lists_every_public_name(tmp_path: Path) -> None:
    import warnings

    import kmimg

    with warnings.catch_warnings():
        warnings.simplefilter("default")  # the builder turns pdoc's own warnings into errors itself
        page = _builder().build(tmp_path).read_text(encoding="utf-8")
    missing = [name for name in kmimg.__all__ if f'id="{name}"' not in page]
    assert not missing
    assert "http://" not in page.replace("http://www.w3.org", "")  # nothing fetched when it is opened


EXAMPLES = _examples()


def test_the_page_has_examples() -> None:
    """A guard against a walk that finds nothing: the functions a notebook user meets first
    have examples."""
    names = {test.name for test in EXAMPLES}
    assert {"quantize", "segment", "palette", "QuantizeResult", "quantize_files"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda test: test.name)
def test_every_example_on_the_page_runs(
    example: doctest.DocTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "sample_images", tmp_path / "sample_images")
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(example, out=report.append)
    assert runner.failures == 0, "".join(report)

"""The documentation is true to the code: README.md (the front door) and docs/*.md (the reference).

- every option of every command has a row in the option table of that command's page,
  ``docs/<command>.md``, and the default there is the option's;
- every ``sh`` block in README.md and docs/*.md runs (the blocks of one page in order, in one
  scratch folder holding a copy of ``sample_images/``, ``docs/write_digits.py`` and
  ``docs/write_animation.py``, with this
  environment's ``kmimg`` and ``python`` first on PATH) and exits 0; shell blocks fenced
  otherwise (``bash``, ``shell``, ``console``) may hold set-up commands only (make, pip, ...);
- every relative link points to an existing file (and an anchor to a heading of that page);
- the README stays a front door: short, one example per command, the exit codes, the links;
- the library example in the README runs and prints what it says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import typer

from kmimg.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
#: The README is the front door; the reference lives in docs/.
README_MAX_LINES = 200
#: Shell blocks that are not run must start every command with one of these (set-up only).
SETUP_COMMANDS = ("make ", "pip ", "python -m venv", "python -m pip", "apt-get ", "pre-commit ", ". ")
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", flags=re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def blocks(text: str, *languages: str) -> list[str]:
    return [body for language, body in FENCE.findall(text) if language in languages]


def page(name: str) -> str:
    return read(DOCS / f"{name}.md")


def options_of(name: str) -> list[list[str]]:
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    return [
        [*param.opts, *param.secondary_opts]
        for param in command.params
        if param.param_type_name == "option" and "--help" not in param.opts
    ]


def test_all_commands_exist() -> None:
    assert COMMANDS == ["classify", "compress-report", "palette", "quantize", "segment"]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_is_in_the_option_table_of_its_page(name: str) -> None:
    options = options_of(name)
    assert len(options) > 10
    table = table_defaults(page(name))
    missing = [names for names in options if not any(n in table for n in names)]
    assert not missing, f"docs/{name}.md: no row in its option table for {missing}"


def table_defaults(text: str) -> dict[str, str]:
    """The last column of each `| `option` | meaning | default |` row, by every name in it."""
    found = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]  # `a\|b` is one cell
        if len(cells) == 3 and cells[0].startswith("`-"):
            for name in re.findall(r"(--?[\w-]+)", cells[0]):
                found.setdefault(name, cells[2].strip("`"))
    return found


def default_agrees(documented: str, param: Any) -> bool:
    """Whether a table's default is the option's (``param``: a Click parameter of the command)."""
    value = param.default
    if value is None or documented == "":  # no default, or one the table describes in words
        return True
    if isinstance(value, bool):
        off = [name.lstrip("-") for name in param.secondary_opts]  # `--color / --grey`: grey
        return documented in (["on", *param.opts] if value else ["off", *off])
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, (int, float)):
        return bool(re.fullmatch(r"[\d.]+", documented)) and float(documented) == float(value)
    return documented == str(value)


@pytest.mark.parametrize("name", COMMANDS)
def test_defaults_in_the_option_table_are_the_commands(name: str) -> None:
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    documented = table_defaults(page(name))
    wrong = [
        (param.opts, documented[param.opts[0]], param.default)
        for param in command.params
        if param.param_type_name == "option"
        and param.opts[0] in documented
        and not default_agrees(documented[param.opts[0]], param)
    ]
    assert not wrong, f"docs/{name}.md: (option, documented default, real default) {wrong}"


def test_the_default_check_can_fail() -> None:
    command = typer.main.get_command(app).commands["quantize"]  # type: ignore[attr-defined]
    colors = next(param for param in command.params if "--colors" in param.opts)
    assert default_agrees("16", colors) and not default_agrees("32", colors)


def test_the_option_check_can_fail() -> None:
    # The check above must notice an option whose row a page leaves out.
    text = page("quantize")
    assert "--sample" in table_defaults(text)
    without = "\n".join(line for line in text.splitlines() if not line.startswith("| `--sample"))
    assert "--sample" not in table_defaults(without)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_examples_on_its_page_and_in_its_help(name: str) -> None:
    assert any(f"kmimg {name} " in block for block in blocks(page(name), "sh"))
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    assert command.help and "Example:" in command.help


def test_readme_is_a_short_front_door() -> None:
    text = read(README)
    assert len(text.splitlines()) < README_MAX_LINES
    runnable = "\n".join(blocks(text, "sh"))
    for name in COMMANDS:
        assert f"kmimg {name} " in runnable, name
        assert f"](docs/{name}.md)" in text, name
    # Every reference page is reachable from the front door, and the README carries no reference.
    for doc in sorted(DOCS.glob("*.md")):
        assert f"](docs/{doc.name})" in text, doc.name
    assert "| option | meaning |" not in text
    assert "](sample_images/LICENSES.md)" in text
    for setup in ("make demo", "make test"):
        assert any(setup in block for block in blocks(text, "bash")), setup
    pictures = re.findall(r"!\[[^\]]+\]\((docs/[^)]+\.png)\)", text)
    assert len(pictures) >= len(COMMANDS)


@pytest.mark.parametrize("path", [README, DOCS / "scripting.md"], ids=lambda p: p.name)
@pytest.mark.parametrize("code", ["0", "1", "2", "3", "98", "99", "130"])
def test_exit_codes_are_documented(path: Path, code: str) -> None:
    table = read(path).split("## Exit codes", 1)[1]
    assert f"| {code} |" in table


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", read(path))
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", read(path))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_relative_links_point_to_existing_files_and_headings(path: Path) -> None:
    broken = []
    for target in relative_links(path):
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists() or (anchor and resolved.suffix == ".md" and anchor not in anchors(resolved)):
            broken.append(target)
    assert not broken, f"{path.name}: broken links {broken}"


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    page_file = tmp_path / "page.md"
    page_file.write_text("# Title\n\n[a](missing.md) [b](#title) [c](#nowhere) [d](https://x.org/y)\n")
    assert relative_links(page_file) == ["missing.md", "#title", "#nowhere"]
    assert "title" in anchors(page_file) and "nowhere" not in anchors(page_file)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_shell_blocks_not_run_hold_only_set_up_commands(path: Path) -> None:
    for block in blocks(read(path), "bash", "shell", "console", "sh-session"):
        for line in block.splitlines():
            command = line.strip()
            if command and not command.startswith("#"):
                assert command.startswith(SETUP_COMMANDS), f"{path.name}: run it in an sh block: {line}"


def scratch_folder(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "sample_images", tmp_path / "sample_images")
    (tmp_path / "docs").mkdir()
    shutil.copy(DOCS / "write_digits.py", tmp_path / "docs" / "write_digits.py")
    shutil.copy(DOCS / "write_animation.py", tmp_path / "docs" / "write_animation.py")
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in PAGES if blocks(read(p), "sh")], ids=lambda p: p.name)
def test_shell_examples_run(path: Path, tmp_path: Path) -> None:
    folder = scratch_folder(tmp_path)
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "kmimg").exists(), "the examples need kmimg installed next to this python"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("COLUMNS", None)
    for index, block in enumerate(blocks(read(path), "sh")):
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{path.name}, sh block {index + 1}:\n{block}\n{done.stderr[-2000:]}"
    # The examples write into the scratch folder only: the samples are still the repository's.
    for sample in (ROOT / "sample_images").iterdir():
        assert (folder / "sample_images" / sample.name).read_bytes() == sample.read_bytes()


def test_public_names_resolve_and_import_lazily() -> None:
    import kmimg

    for name in kmimg.__all__:
        assert getattr(kmimg, name) is not None
    for _ in range(2):  # the first access imports the submodule; the second must not change it
        assert callable(kmimg.quantize_image) and callable(kmimg.segment_image)
        assert kmimg.quantize_image.__name__ == "quantize"
        assert kmimg.segment_image.__name__ == "segment"
    code = "import sys, kmimg.cli; print('sklearn' in sys.modules, 'numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_all_lists_every_lazy_name() -> None:
    import kmimg

    assert set(kmimg._LAZY) <= set(kmimg.__all__)


def test_library_example_in_readme_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The block runs in a scratch folder (its files go to out/) and prints what its comments say."""
    block = read(README).split("## As a library", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    folder = scratch_folder(tmp_path)
    (folder / "out").mkdir()
    monkeypatch.chdir(folder)
    printed: list[str] = []
    monkeypatch.setattr("builtins.print", lambda *args: printed.append(" ".join(map(str, args))))
    exec(compile(block, "README.md", "exec"), {})
    said = [line.split("# ", 1)[1] for line in block.splitlines() if line.startswith("print(")]
    assert printed == said == ["16 29.53", "6 of 6"]
    assert (folder / "out" / "flower-k16.png").exists() and (folder / "out" / "coins-cutout.png").exists()

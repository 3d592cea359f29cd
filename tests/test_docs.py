"""The README documents every command: an example that runs and every option by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from kmimg.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def section(name: str) -> str:
    return README.split(f"## kmimg {name}\n", 1)[1].split("\n## ", 1)[0]


def test_all_four_commands_exist() -> None:
    assert COMMANDS == ["classify", "compress-report", "quantize", "segment"]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_is_documented(name: str) -> None:
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    text = section(name)
    for param in command.params:
        if param.param_type_name != "option" or "--help" in param.opts:
            continue
        names = [*param.opts, *param.secondary_opts]
        assert any(re.search(rf"`{re.escape(n)}\b|, {re.escape(n)}\b", text) for n in names), (name, names)


@pytest.mark.parametrize("name", COMMANDS)
def test_has_a_shell_example_and_help_example(name: str) -> None:
    blocks = re.findall(r"```sh\n(.*?)```", section(name), flags=re.S)
    assert any(f"kmimg {name} " in block for block in blocks)
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    assert command.help and "Example:" in command.help


@pytest.mark.parametrize("code", ["0", "1", "2", "130"])
def test_exit_codes_are_documented(code: str) -> None:
    table = README.split("## Exit codes", 1)[1]
    assert f"| {code} |" in table


def test_public_names_resolve_and_import_lazily() -> None:
    import subprocess
    import sys

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


def test_library_example_in_readme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    block = README.split("## As a library", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    printed: list[str] = []
    monkeypatch.setattr("builtins.print", lambda *args: printed.append(" ".join(map(str, args))))
    exec(compile(block, "README.md", "exec"), {})
    assert printed == ["16 29.53"]

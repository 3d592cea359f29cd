"""The rules of docs/architecture.md, checked on the source: imports point one way, functions stay
short, the options module stays light, and each default is declared once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PACKAGE = Path(__file__).resolve().parents[1] / "kmimg"
#: Longest function body (lines, docstring excluded) docs/architecture.md allows.
MAX_BODY_LINES = 50


def _modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        found.append((name, ast.parse(path.read_text(encoding="utf-8"))))
    return found


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The line numbers of the ``if TYPE_CHECKING:`` blocks (imports there never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def _run_time_imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The kmimg modules that importing ``name`` (or calling its functions) imports: every
    import statement outside ``if TYPE_CHECKING:``, at module level or in a function body,
    ``from package import module`` resolved to the module. (A package's ``__init__`` that
    imports its own modules is not a circle: Python runs it before them.)"""
    skip = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update(
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                for alias in node.names
            )
    return {m for m in found if m in known and m != name}


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return (node.end_lineno or node.lineno) - body[0].lineno + 1


def test_no_function_body_is_longer_than_the_limit() -> None:
    long = [
        f"{name}.{node.name}: {_body_lines(node)} lines"
        for name, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _body_lines(node) > MAX_BODY_LINES
    ]
    assert not long, long


#: The rooms below the batch layer: none of them imports ``kmimg.jobs`` or the public API.
BELOW_JOBS = ("kmimg.core", "kmimg.colorfit", "kmimg.palettes", "kmimg.render", "kmimg.io", "kmimg.options")


def test_imports_point_one_way() -> None:
    """Only the CLI (and ``python -m kmimg``) imports the CLI; the batch room (``kmimg.jobs``)
    and the public API sit below it and above the cores; the io rooms import no command core,
    engine or renderer."""
    cores = ("kmimg.core", "kmimg.colorfit")
    wrong = []
    for name, tree in _modules():
        imported = _imports(tree)
        if not name.startswith("kmimg.cli") and name != "kmimg.__main__":
            wrong += [f"{name} imports {m}" for m in imported if m.startswith("kmimg.cli")]
        if name.startswith(BELOW_JOBS):
            wrong += [f"{name} imports {m}" for m in imported if m.startswith(("kmimg.jobs", "kmimg.api"))]
        if name.startswith("kmimg.io"):
            wrong += [f"{name} imports {m}" for m in imported if m.startswith((*cores, "kmimg.render"))]
    assert not wrong, wrong


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _import_graph() -> dict[str, set[str]]:
    modules = dict(_modules())
    known = set(modules)
    return {name: _run_time_imports(name, tree, known) for name, tree in modules.items()}


def test_no_run_time_import_circles() -> None:
    """No module imports, at run time (module level or inside a function), a module that
    imports it back, directly or through others (issue 25: batch <-> dask_pool, documents <->
    the commands, palette_plan <-> cli.palette)."""
    assert _cycles(_import_graph()) == []


def test_no_module_is_named_like_a_public_name() -> None:
    """Importing ``kmimg.X`` sets the package attribute ``X``: a module named like a public
    function (``kmimg.quantize``) would shadow it once anything imported the module."""
    import kmimg

    top = {name.split(".")[1] for name, _ in _modules() if name.count(".") >= 1}
    assert not top & set(kmimg.__all__)
    assert {"api", "core", "jobs", "colorfit"} <= top


def test_the_rules_can_fail() -> None:
    """The checks above see what they look for (a guard against a walk that finds nothing)."""
    modules = dict(_modules())
    assert {"kmimg.jobs.batch", "kmimg.io.files", "kmimg.options", "kmimg.render.montage"} <= set(modules)
    assert "kmimg.jobs.pool" in _imports(modules["kmimg.jobs.batch"])
    graph = _import_graph()
    assert "kmimg.jobs.dask_pool" in graph["kmimg.jobs.pool"]  # a function-level import
    assert "kmimg.jobs.quantize" not in graph["kmimg.cli.documents"]  # TYPE_CHECKING only
    assert _cycles({**graph, "kmimg.jobs.chunks": graph["kmimg.jobs.chunks"] | {"kmimg.jobs.pool"}})
    tree = ast.parse("def f():\n    '''doc'''\n" + "    x = 1\n" * (MAX_BODY_LINES + 1))
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    assert _body_lines(function) == MAX_BODY_LINES + 1


@pytest.mark.parametrize("module", ["kmimg.options", "kmimg.cli", "kmimg.io.files"])
def test_light_modules_do_not_load_numpy(module: str) -> None:
    code = f"import sys, {module}; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


COMMAND_MODULES = ("quantize", "segment", "compress_report", "classify", "palette")
#: The modules of quantize's work that a start of another command does not load.
QUANTIZE_MODULES = (
    "kmimg.cli.direct",
    "kmimg.cli.quantize_run",
    "kmimg.cli.palette_plan",
    "kmimg.jobs.quantize",
)


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [
        (["segment", "--help"], {"segment"}),
        (["classify", "--help"], {"classify"}),
        (["compress-report", "--help"], {"compress_report"}),
        # quantize's --palette / --shared-palette options come from kmimg.cli.palette_plan; the
        # palette command's module is imported only for a shared fit.
        (["quantize", "--help"], {"quantize"}),
        (["--help"], set(COMMAND_MODULES)),
        (["no-such-command"], set(COMMAND_MODULES)),
    ],
)
def test_a_start_imports_only_the_command_it_runs(argv: list[str], loaded: set[str]) -> None:
    """``kmimg segment`` does not pay for the other commands' modules (issue 11: start-up), nor
    for quantize's work modules (the console script's entry point, as a user starts it)."""
    code = (
        "import sys\n"
        f"sys.argv = ['kmimg', *{argv!r}]\n"
        "from kmimg.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {COMMAND_MODULES!r} if 'kmimg.cli.' + m in sys.modules), file=sys.stderr)\n"
        f"print(sorted(m for m in {QUANTIZE_MODULES!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    commands, quantize_work = done.stderr.strip().splitlines()[-2:]
    assert commands == str(sorted(loaded))
    if "quantize" not in loaded:
        assert quantize_work == "[]"


def _defaults(command: str) -> dict[str, object]:
    """Each option's default as the command line declares it (Click's view of the Typer app)."""
    import typer.main

    from kmimg.cli import app

    group = typer.main.get_command(app)
    click_command = group.commands[command]  # type: ignore[attr-defined]
    return {param.name: param.default for param in click_command.params}


@pytest.mark.parametrize(
    ("command", "options", "pairs"),
    [
        (
            "quantize",
            "QuantizeOptions",
            {"colors": "k", "seed": "seed", "space": "space", "sample": "sample"},
        ),
        (
            "segment",
            "SegmentOptions",
            {
                "clusters": "k",
                "sigma": "sigma",
                "max_side": "max_side",
                "spatial": "spatial",
                "space": "space",
                "flatten": "flatten",
                "min_region": "min_region",
                "background": "background",
                "seed": "seed",
            },
        ),
        ("classify", "FeatureOptions", {"features": "kind", "color": "color", "bins": "bins"}),
        ("classify", "GroupOptions", {"clusters": "k", "seed": "seed", "n_init": "n_init"}),
        ("compress-report", "QuantizeOptions", {"seed": "seed", "space": "space"}),
    ],
)
def test_the_command_line_defaults_are_the_options_defaults(
    command: str, options: str, pairs: dict[str, str]
) -> None:
    import kmimg.options

    declared = _defaults(command)
    expected = getattr(kmimg.options, options)()
    for option, field in pairs.items():
        value = getattr(expected, field)
        assert declared[option] in (value, getattr(value, "value", value)), (command, option)


@pytest.mark.parametrize(
    ("command", "option", "constant"),
    [
        ("compress-report", "thumb", "SHEET_THUMB"),
        ("classify", "thumb", "MONTAGE_THUMB"),
        ("classify", "members", "MONTAGE_MEMBERS"),
        ("quantize", "max_pixels", "DEFAULT_MAX_PIXELS"),
        ("segment", "max_pixels", "DEFAULT_MAX_PIXELS"),
    ],
)
def test_picture_and_limit_defaults_are_said_once(command: str, option: str, constant: str) -> None:
    import kmimg.options

    assert _defaults(command)[option] == getattr(kmimg.options, constant)


def test_a_quantize_run_does_not_import_numpy_random(tmp_path: Path) -> None:
    """The fit draws its numbers from kmimg's own generator: ``numpy.random`` costs ~15-20 ms of
    a start-up that pngquant finishes a small job in (issue 11)."""
    source = tmp_path / "in.png"
    Image.fromarray(np.arange(64 * 48 * 3, dtype=np.uint32).reshape(48, 64, 3).astype(np.uint8)).save(source)
    code = (
        "import sys\n"
        f"sys.argv = ['kmimg', 'quantize', {str(source)!r}, '-k', '8', '-o', {str(tmp_path / 'out.png')!r}]\n"
        "from kmimg.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('numpy' in sys.modules, 'numpy.random' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "True False"

"""The common ``kmimg quantize`` lines read without Typer (:mod:`kmimg.cli.direct`): the same
values as Typer reads, the same outputs and exit codes, and no Typer import."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

import kmimg.cli.quantize as quantize_cli
from kmimg.cli import app
from kmimg.cli.direct import FLAGS, VALUED, quantize_args
from kmimg.cli.quantize_run import ARGS, QuantizeArgs

#: quantize's options that the direct reader leaves to Typer (a new option must be put here or
#: in the reader's tables: this list is checked against Typer's declaration).
LEFT_TO_TYPER = frozenset(
    (
        "out_dir",  # a Path that must not be a file: Click checks it
        "dither",  # an optional value (BareDither)
        "palette_file",
        "shared",
        "palette_out",
        "keep",
        "transparent_index",
        "alpha_threshold",
        "nearest",
        "frame_palettes",
        "scheduler",
    )
)


def _params() -> dict[str, Any]:
    """Click's view of ``kmimg quantize``'s parameters, by name."""
    group = typer.main.get_command(app)
    command = group.commands["quantize"]  # type: ignore[attr-defined]
    return {param.name: param for param in command.params}


def typer_reads(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> QuantizeArgs | None:
    """The :class:`QuantizeArgs` Typer gives ``run_quantize`` for ``argv``, or ``None`` when it
    refuses the line (usage error)."""
    seen: list[QuantizeArgs] = []
    monkeypatch.setattr(quantize_cli, "run_quantize", seen.append)
    group = typer.main.get_command(app)
    try:
        group.main(argv, prog_name="kmimg", standalone_mode=False)
    except Exception:  # noqa: BLE001 - Click's usage errors: the line is refused
        return None
    return seen[0] if seen else None


def test_every_option_is_read_here_or_left_to_typer() -> None:
    params = _params()
    read_here = {field for field, _ in VALUED.values()} | set(FLAGS.values())
    options = {name for name, param in params.items() if param.param_type_name == "option"}
    assert read_here | LEFT_TO_TYPER == options
    assert not read_here & LEFT_TO_TYPER


def test_the_spellings_and_kinds_are_typers() -> None:
    params = _params()
    for word, (field, _) in VALUED.items():
        assert word in params[field].opts, word
        assert not params[field].is_flag, word
    for word, field in FLAGS.items():
        assert word in params[field].opts, word
        assert params[field].is_flag and not params[field].secondary_opts, word
    spelled = {
        word
        for param in params.values()
        if param.param_type_name == "option" and param.name not in LEFT_TO_TYPER
        for word in param.opts
    }
    assert spelled == set(VALUED) | set(FLAGS)


def test_the_bounds_are_typers() -> None:
    """Each number's bounds: the reader takes what Click's range takes, at both ends."""
    params = _params()
    for word, (field, read) in VALUED.items():
        low, high = getattr(params[field].type, "min", None), getattr(params[field].type, "max", None)
        if low is None and high is None:
            continue
        step = 1 if isinstance(low if low is not None else high, int) else 0.001
        for bound, outside in ((low, -step), (high, step)):
            if bound is None:
                continue
            assert read(f"{bound}") == bound, word
            if bound + outside >= 0:
                with pytest.raises(ValueError):
                    read(f"{bound + outside}")
        if high is None:
            assert read("1000000000") == 1000000000, word


def test_every_line_is_left_to_typer_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Click expands wildcards and ``~`` in the words there; this reader would not."""
    monkeypatch.setattr("kmimg.cli.direct.os.name", "nt")
    assert quantize_args(["quantize", "c*.png", "-k", "8"]) is None


def test_a_caller_handling_errors_gets_the_exit_code(tmp_path: Path) -> None:
    """``standalone_mode=False`` (embedding): the code is returned, as Click returns it."""
    group = typer.main.get_command(app)
    missing = str(tmp_path / "missing.png")
    assert group.main(["quantize", missing, "-k", "8"], prog_name="kmimg", standalone_mode=False) == 1
    both = ["quantize", missing, "--ext", ".png", "-o", "x.png"]
    assert group.main(both, prog_name="kmimg", standalone_mode=False) == 2
    assert group.main(["segment", missing], prog_name="kmimg", standalone_mode=False) == 1


def test_the_defaults_are_typers() -> None:
    params = _params()
    fields = {field.name for field in dataclasses.fields(QuantizeArgs)}
    assert fields == set(params) | {"colors_given"}
    for name, param in params.items():
        default = getattr(ARGS, name)
        expected = getattr(default, "value", default)
        declared = param.default if name != "inputs" else ()
        assert getattr(declared, "value", declared) == expected, name


@pytest.mark.parametrize(
    "argv",
    [
        ["quantize", "in.png", "-k", "64", "-o", "out.png"],
        ["quantize", "in.png", "--colors=16", "--output=out.png", "--json", "out.json"],
        [
            "quantize",
            "--quality",
            "65-80",
            "--skip-if-larger",
            "--strip",
            "--ext",
            ".png",
            "--force",
            "a.png",
        ],
        ["quantize", "a.png", "b.png", "-k", "8", "-q", "-O", "2", "--seed", "7", "--space", "lab"],
        ["quantize", "-", "-k", "16", "-o", "-"],
        ["quantize", "a.png", "--target-psnr", "40", "--target-ssim", ".95", "--target-de", "1.5"],
        ["quantize", "a.png", "--posterize", "3", "--sample", "0", "--max-pixels", "1000", "-j", "1"],
        ["quantize", "folder", "-r", "--skip-existing", "--no-dither", "--fail-fast", "--allow-truncated"],
    ],
)
def test_common_lines_are_read_as_typer_reads_them(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    direct = quantize_args(argv)
    assert direct is not None
    assert direct == typer_reads(argv, monkeypatch)


@pytest.mark.parametrize(
    "argv",
    [
        ["quantize"],
        ["quantize", "-h"],
        ["quantize", "a.png", "--help"],
        ["--version"],
        ["segment", "a.png"],
        ["quantize", "a.png", "-k16"],
        ["quantize", "a.png", "-qf"],
        ["quantize", "a.png", "--", "-b.png"],
        ["quantize", "a.png", "-k", "1"],
        ["quantize", "a.png", "-k", "257"],
        ["quantize", "a.png", "-k", " 16"],
        ["quantize", "a.png", "-k"],
        ["quantize", "a.png", "-o", "-q"],
        ["quantize", "a.png", "--quality", "80-60"],
        ["quantize", "a.png", "--space", "RGB"],
        ["quantize", "a.png", "--target-ssim", "1.5"],
        ["quantize", "a.png", "--target-psnr", "nan"],
        ["quantize", "a.png", "--force=yes"],
        ["quantize", "a.png", "-o=x.png"],
        ["quantize", "a.png", "--dither"],
        ["quantize", "a.png", "--palette", "web.gpl"],
        ["quantize", "a.png", "--out-dir", "out"],
    ],
)
def test_other_lines_are_left_to_typer(argv: list[str]) -> None:
    assert quantize_args(argv) is None


#: Values each option takes, by field: mostly valid ones, so that most random lines are read here.
_GOOD = {
    "colors": ["2", "16", "64", "256", "08"],
    "output": ["out.png", "-", "o.gif", "x"],
    "ext": [".png", "-q.png"],
    "json_dest": ["out.json", "-"],
    "seed": ["0", "7", "4294967295"],
    "space": ["rgb", "lab"],
    "sample": ["0", "5000"],
    "posterize": ["0", "4"],
    "quality": ["65-80", "80", "0-100"],
    "target_psnr": ["40", "0.5", "38."],
    "target_ssim": [".95", "1", "0"],
    "target_de": ["1.5", "0"],
    "optimize": ["0", "3"],
    "max_pixels": ["1", "1000000"],
    "jobs": ["1", "4"],
}
_BAD = ["0", "1", "257", "4294967296", "90-50", "1e3", "-1", "-q", "", "Lab", "+3", "1_0", "nan", "inf", "x"]


def _valued(values: Any) -> Any:
    """An option with a value, as two words or as ``--name=value``."""
    pairs = st.sampled_from(sorted(VALUED)).flatmap(lambda word: values(word).map(lambda v: (word, v)))
    return pairs.map(list) | pairs.map(lambda pair: [f"{pair[0]}={pair[1]}"])


_INPUTS = st.sampled_from(["a.png", "b.jpg", "-", "dir"])
_GOOD_WORDS = (
    _INPUTS | st.sampled_from(sorted(FLAGS)) | _valued(lambda w: st.sampled_from(_GOOD[VALUED[w][0]]))
)
_ANY_WORDS = (
    _GOOD_WORDS | _valued(lambda w: st.sampled_from(_BAD)) | st.sampled_from(["--bogus", "-x", "--", "-h"])
)
#: Lines: mostly of plainly valid words with an input (read here), some of any words.
_LINES = st.one_of(
    st.tuples(_INPUTS, st.lists(_GOOD_WORDS, max_size=6)).map(lambda line: [line[0], *line[1]]),
    st.lists(_ANY_WORDS, max_size=7),
)


def test_each_option_with_each_value_is_read_as_typer_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every spelling with every value of the lists (bounds, malformed numbers, dashes), alone."""
    read = 0
    for word, (field, _) in VALUED.items():
        for value in dict.fromkeys(_GOOD[field] + _BAD):
            argv = ["quantize", "a.png", word, value]
            direct = quantize_args(argv)
            if direct is not None:
                read += 1
                assert direct == typer_reads(argv, monkeypatch), argv
    assert read >= 40


@settings(max_examples=400, deadline=None)
@given(_LINES)
def test_any_line_read_here_is_read_as_typer_reads_it(words: list[Any]) -> None:
    argv = ["quantize"]
    for word in words:
        argv += word if isinstance(word, list) else [word]
    direct = quantize_args(argv)
    if direct is None:
        return
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert direct == typer_reads(argv, monkeypatch), argv


# What a user sees: the same outputs and exit codes, with no Typer loaded.


def _kmimg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``kmimg ARGS`` in a new process, reporting on stderr's last line whether Typer loaded."""
    code = (
        "import sys\n"
        f"sys.argv = ['kmimg', *{list(args)!r}]\n"
        "from kmimg.__main__ import main\n"
        "try:\n    main()\n    code = 0\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print('typer' in sys.modules, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    pixels = (np.linspace(0, 255, 96)[None, :, None] + rng.normal(0, 20, (64, 96, 3))).clip(0, 255)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def test_a_common_line_does_not_load_typer_and_writes_typers_bytes(photo: Path, tmp_path: Path) -> None:
    done = _kmimg("quantize", str(photo), "-k", "8", "-o", "direct.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "False"
    result = CliRunner().invoke(app, ["quantize", str(photo), "-k", "8", "-o", str(tmp_path / "typer.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "direct.png").read_bytes() == (tmp_path / "typer.png").read_bytes()


def test_help_still_comes_from_typer(tmp_path: Path) -> None:
    done = _kmimg("quantize", "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr.splitlines()[-1] == "True"


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--quality", "99-100"], 99, "below the minimum 99"),
        (["-k", "256", "--skip-if-larger", "-o", "out.png"], 98, "would not be smaller"),
        (["--ext", ".png", "-o", "x.png"], 2, "give -o/--output or --ext, not both"),
        (["-k", "300"], 2, "not in the range"),  # Typer's message
    ],
)
def test_exit_codes_on_the_direct_path(
    photo: Path, tmp_path: Path, extra: list[str], code: int, message: str
) -> None:
    if code == 98:  # a tiny JPEG of noise: its 256-colour PNG is bigger than the file
        photo = photo.with_suffix(".jpg")
        Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
            photo, quality=10
        )
    done = _kmimg("quantize", str(photo), *extra, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert done.stderr.count("kmimg:") == 1


def test_a_missing_input_fails_with_one_line(tmp_path: Path) -> None:
    done = _kmimg("quantize", "missing.png", "-k", "8", "-o", "out.png", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == "kmimg: error: missing.png: no such file"
    assert done.stderr.splitlines()[-1] == "False"


@pytest.mark.parametrize("argv", [["quantize", "a.png", "-k", "8"], ["segment", "a.png"]])
def test_ctrl_c_while_the_command_line_loads_is_one_line(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before a command's frame (imports, Typer's parsing): exit 130 and one line, no traceback."""
    import kmimg.__main__ as console

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "argv", ["kmimg", *argv])
    monkeypatch.setattr(console, "read_input_early", interrupted)
    with pytest.raises(SystemExit) as exit_:
        console.main()
    assert exit_.value.code == 130
    assert capsys.readouterr().err == "kmimg: error: interrupted\n"

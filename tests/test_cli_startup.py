"""`gankit --help`, `gankit info` and usage errors start no torch; each lazily imported command's listed help is its own."""
import inspect
import subprocess
import sys

import pytest

from gankit import cli


def _modules_after(*argv: str) -> set[str]:
    """The modules imported by `gankit ARGV` in a fresh interpreter (run in-process through cli.main)."""
    code = ("import sys\nfrom gankit import cli\nsys.argv = ['gankit', *sys.argv[1:]]\n"
            "try:\n    cli.main()\nexcept SystemExit:\n    pass\nsys.stderr.write('\\nMODULES ' + ' '.join(sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    return set(result.stderr.rsplit("MODULES ", 1)[1].split())


def test_importing_the_cli_imports_no_torch():
    assert "torch" not in _modules_after()


@pytest.mark.parametrize("argv", [("--help",), ("info",), ("info", "--config", "stylegan2"), ("train", "--bogus"),
                                  ("nosuch",), ("train", "nope")])
def test_quick_answers_import_no_torch(argv):
    modules = _modules_after(*argv)
    assert "torch" not in modules and "gankit.models" not in modules


@pytest.mark.parametrize("name", list(cli.LAZY_COMMANDS))
def test_listed_help_is_the_first_paragraph_of_the_command_help(name):
    load, listed = cli.LAZY_COMMANDS[name]
    real = cli.LazyCommand(name, listed, load).command()
    first = " ".join(inspect.cleandoc(real.help or "").split("\n\n")[0].split())
    assert listed == first


def test_a_lazy_command_runs_its_own_parser(monkeypatch, capsys):
    from tests.conftest import run_cli

    code, out, err = run_cli(monkeypatch, capsys, "export", "--bogus")
    assert code == 2 and "No such option: --bogus" in out + err

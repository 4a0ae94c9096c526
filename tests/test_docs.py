"""The docs are tested: every command of every page runs, the Chinese learning path keeps the English
commands and figures, every relative link and image resolves, and every CLI command is documented.

The convention (docs/README.md says the same for writers):

- A fence opened with ```bash is run line by line, in page order, in one temporary folder per page
  (README.md and docs/**/*.md; docs/learn/zh/ is not run: its commands must equal the English pages').
  A line ending in a backslash continues on the next; `# ...` comments are shown, not run, except
  a last comment on a command line (after any comment for the reader):
    `# quick: ARGS`  CI appends ARGS to the command (tiny settings: steps=2, --quick, -n 100);
    `# slow`         CI skips the line.
  `make test-all` (-m slow) runs every line as written: the long versions, without the quick ARGS.
- A ```python block is run with exec() in the same folder, at its place in the page (no markers).
- Any other fence (```text, ```sh, ```yaml, a bare ```) is shown, not run: servers, several
  machines, make targets.
- `gankit ...` and `python -m gankit ...` lines run in this process through `gankit.cli.main`
  (no new interpreter per command: start-up would dominate); other lines run in bash with this
  Python's bin/ first on PATH. A command that exits non-zero fails the test. A `gankit lab ...` line
  identical to one that already ran in this session is not run again (a lab reads nothing from the
  page's folder).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ZH = DOCS / "learn" / "zh"
LABS_RUN: set[str] = set()  # `gankit lab` commands that already ran in this session


@dataclass(frozen=True)
class Step:
    """One runnable unit of a page: a bash command (with its quick ARGS / slow flag) or a python block."""

    lang: str  # "bash" | "python"
    code: str
    quick: str = ""
    slow: bool = False

    def command(self, quick: bool) -> str:
        """The text to run: the line as written, plus the quick ARGS in a quick run."""
        return f"{self.code} {self.quick}".strip() if quick and self.quick else self.code


def pages() -> list[Path]:
    """Every docs page: README.md and docs/**/*.md."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def run_pages() -> list[Path]:
    """The pages whose commands run (the Chinese pages repeat the English ones)."""
    return [p for p in pages() if ZH not in p.parents]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    blocks, lang, body = [], None, []
    for line in text.splitlines():
        fence = re.match(r"^\s*(```+|~~~+)\s*([\w+-]*)", line)
        if lang is None and fence:
            lang, body = fence.group(2).lower(), []
        elif lang is not None and re.match(r"^\s*(```+|~~~+)\s*$", line):
            blocks.append((lang, "\n".join(body)))
            lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, "a fenced block is not closed"
    return blocks


def split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of a shell line: the comment starts at a `#` outside quotes after a space."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def steps_of(text: str) -> list[Step]:
    """The runnable steps of a page, in order."""
    steps = []
    for lang, body in fenced_blocks(text):
        if lang == "python":
            assert "# quick:" not in body and "# slow" not in body, "python blocks take no markers"
            steps.append(Step("python", body))
        elif lang == "bash":
            pending = ""
            for raw in body.splitlines():
                line = pending + raw.lstrip() if pending else raw
                if line.rstrip().endswith("\\"):
                    pending = line.rstrip()[:-1].rstrip() + " "
                    continue
                code, comment = split_comment(line)
                pending = ""
                if not code.strip():
                    continue
                quick = re.search(r"(?:^|#)\s*quick:\s*(.*)$", comment)
                steps.append(Step("bash", code.strip(), quick.group(1).strip() if quick else "",
                                  bool(re.search(r"(?:^|#)\s*slow\s*$", comment))))
            assert not pending, "a bash block ends with a continuation"
    return steps


def run_gankit(args: list[str], monkeypatch) -> int:
    """`gankit ARGS` through the console entry point in this process; returns the exit code."""
    from gankit import cli

    monkeypatch.setattr(sys, "argv", ["gankit", *args])
    try:
        cli.main()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


def run_step(step: Step, quick: bool, monkeypatch, cwd: Path) -> None:
    """Run one step in `cwd`; fail on a non-zero exit or an exception."""
    text = step.command(quick)
    if step.lang == "python":
        exec(compile(text, f"<docs python in {cwd}>", "exec"), {"__name__": "__docs__"})
        return
    words = shlex.split(text)
    if words[:1] == ["gankit"] or words[:3] == ["python", "-m", "gankit"]:
        args = words[1:] if words[0] == "gankit" else words[3:]
        if args[:1] == ["lab"] and text in LABS_RUN:  # a lab reads nothing from the folder: once per session
            return
        assert run_gankit(args, monkeypatch) == 0, f"`{text}` failed"
        if args[:1] == ["lab"]:
            LABS_RUN.add(text)
        return
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(["bash", "-c", text], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"`{text}` failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def stats_cache(tmp_path_factory) -> Path:
    """One reference-statistics cache for all pages (computed once, not written into ~/.cache)."""
    return tmp_path_factory.mktemp("gankit-cache")


def run_page(page: Path, quick: bool, tmp_path: Path, monkeypatch, stats_cache: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANKIT_CACHE", str(stats_cache))
    steps = [s for s in steps_of(page.read_text()) if not (quick and s.slow)]
    for step in steps:
        run_step(step, quick, monkeypatch, tmp_path)


@pytest.mark.parametrize("page", run_pages(), ids=rel)
def test_page_commands_run_quick(page, tmp_path, monkeypatch, stats_cache):
    run_page(page, True, tmp_path, monkeypatch, stats_cache)


@pytest.mark.slow
@pytest.mark.parametrize("page", run_pages(), ids=rel)
def test_page_commands_run_as_written(page, tmp_path, monkeypatch, stats_cache):
    run_page(page, False, tmp_path, monkeypatch, stats_cache)


def test_the_convention_parses_quick_slow_and_continuations():
    text = ("```bash\n"
            "gankit train dcgan steps=2000 --out 'runs/a b'   # quick: steps=2 batch_size=16\n"
            "gankit lab all \\\n  --out reports/lab  # every lab  # slow\n"
            "# a comment line\n"
            "echo '# not a comment'\n"
            "```\n"
            "```text\ngankit playground\n```\n"
            "```python\nimport gankit\n```\n")
    steps = steps_of(text)
    assert [s.lang for s in steps] == ["bash", "bash", "bash", "python"]
    assert steps[0].command(True) == "gankit train dcgan steps=2000 --out 'runs/a b' steps=2 batch_size=16"
    assert steps[0].command(False) == "gankit train dcgan steps=2000 --out 'runs/a b'"
    assert steps[1] == Step("bash", "gankit lab all --out reports/lab", "", True)
    assert steps[2].code == "echo '# not a comment'"


# ---- the Chinese learning path keeps the English one's commands and figures ----

def images_of(page: Path) -> list[Path]:
    """The image files a page shows, resolved."""
    return [(page.parent / target).resolve() for target, is_image in links_of(page.read_text()) if is_image]


def learn_pairs() -> list[tuple[Path, Path]]:
    return [(en, ZH / en.name) for en in sorted((DOCS / "learn").glob("*.md"))]


def test_every_learning_page_has_a_chinese_twin():
    english = {en.name for en, _ in learn_pairs()}
    chinese = {p.name for p in ZH.glob("*.md")}
    assert english and english == chinese


@pytest.mark.parametrize("en, zh", learn_pairs(), ids=lambda p: p.name)
def test_chinese_page_has_the_same_commands_and_figures(en, zh):
    assert zh.exists(), f"{rel(zh)} is missing: translate {rel(en)}"
    assert steps_of(zh.read_text()) == steps_of(en.read_text()), f"{rel(zh)} and {rel(en)}: command blocks differ"
    assert images_of(zh) == images_of(en), f"{rel(zh)} and {rel(en)}: figures differ"


# ---- links and images resolve ----

LINK = re.compile(r"(!?)\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML = re.compile(r"<(img|a)\s[^>]*?(src|href)=\"([^\"]+)\"", re.I)


def unfenced(text: str) -> list[str]:
    """The lines outside fenced blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if re.match(r"^\s*(```|~~~)", line):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return out


def prose(text: str) -> str:
    """The text outside fenced blocks and inline code."""
    return "\n".join(re.sub(r"`[^`]*`", "", line) for line in unfenced(text))


def links_of(text: str) -> list[tuple[str, bool]]:
    """(target, is_image) of every Markdown or HTML link outside code."""
    body = prose(text)
    found = [(m.group(2), m.group(1) == "!") for m in LINK.finditer(body)]
    return found + [(m.group(3), m.group(1).lower() == "img") for m in HTML.finditer(body)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in unfenced(page.read_text()):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            found.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
    return found


@pytest.mark.parametrize("page", pages(), ids=rel)
def test_links_resolve(page):
    broken = []
    for target, _ in links_of(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no heading with this anchor)")
    assert not broken, f"{rel(page)}: " + ", ".join(broken)


def test_every_docs_page_is_linked_from_another():
    linked = set()
    for page in pages():
        for target, _ in links_of(page.read_text()):
            path = target.partition("#")[0]
            if path and not re.match(r"^[a-z][a-z0-9+.-]*:", path, re.I):
                linked.add((page.parent / path).resolve())
    orphans = [rel(p) for p in pages()[1:] if p.resolve() not in linked]
    assert not orphans, f"not linked from any page: {orphans}"


# ---- every command the CLI offers appears in the docs ----

def test_every_cli_command_is_documented():
    import typer.main

    from gankit.cli import app

    def subcommands(cmd) -> dict:
        real = cmd.command() if callable(getattr(cmd, "command", None)) else cmd  # the CLI's lazy commands load here
        return getattr(real, "commands", {})

    group = typer.main.get_command(app)
    names = [f"gankit {name}" for name in group.commands]
    names += [f"gankit {name} {sub}" for name, cmd in group.commands.items() for sub in subcommands(cmd)]
    assert "gankit lab divergences" in names and "gankit evaluator train" in names
    text = "\n".join(p.read_text() for p in pages())
    missing = [n for n in names if not re.search(re.escape(n) + r"\b", text)]
    assert not missing, f"commands without a line in the docs: {missing}"

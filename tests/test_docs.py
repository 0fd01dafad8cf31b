"""The README and docs/ say what is true: their commands compose, their files exist, their snippet runs.

Commands are composed, not run (no training), except the compose snippet of docs/configuration.md and the
documented error transcripts (``$ python ...`` then ``error: ...``), which run as written (slow).
"""

import ast
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from conftest import CONF, ROOT
from mlplab.config.overrides import composition_error, jobs

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 210

# The main config each Hydra script composes; bench.py takes argparse flags instead (see BENCH_FLAGS).
CONFIG_OF = {name: name for name in ("train", "eval", "predict", "export", "compare", "report", "tune")}
BENCH_FLAGS = {"--quick", "--output"}
# Hydra flags that are no overrides; those in HYDRA_FLAGS_WITH_VALUE take the next word. With -sc the words
# after it are shell-completion commands (install=bash), not overrides: nothing to compose.
HYDRA_FLAGS = {"-m", "--multirun", "--help", "-h", "--hydra-help", "--resolve"}
HYDRA_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--info", "-i"}
COMPLETION_FLAGS = {"-sc", "--shell-completion"}
# A config dir that a run makes (a study's experiment/best.yaml): nothing to compose before it exists.
CONFIG_DIR_FLAGS = {"--config-dir", "-cd"}
INTERPRETERS = {"python", ".venv/bin/python"}
# Where a shell command ends and another begins on the same line.
SHELL_SEPARATORS = {"|", "||", "&&", ";", ">", ">>"}
# A word that is a placeholder rather than something to type: it would not work as written.
PLACEHOLDER = re.compile(r"[<>…]|\.\.\.")


@dataclass(frozen=True)
class Command:
    page: str
    line: str  # as written, continuation lines joined
    shell: bool  # from a bash block (to run); else a `$ ` line of a text transcript
    error: str | None = None  # a transcript's documented "error: ..." line right after the command

    def __str__(self) -> str:
        return f"{self.page}: {self.line}"


def fenced_blocks(text: str) -> list[tuple[str, list[str]]]:
    """``(language, lines)`` of each fenced block."""
    blocks: list[tuple[str, list[str]]] = []
    language: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, lines = line[3:].strip(), []
            else:
                blocks.append((language, lines))
                language = None
        elif language is not None:
            lines.append(line)
    return blocks


def joined(lines: list[str]) -> list[str]:
    """Lines with their backslash continuations joined."""
    out: list[str] = []
    pending = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    return out


def commands() -> list[Command]:
    found = []
    for page in PAGES:
        name = str(page.relative_to(ROOT))
        for language, block in fenced_blocks(page.read_text()):
            lines = joined(block)
            if language in ("bash", "sh", "shell"):
                found += [Command(name, line.strip(), shell=True) for line in lines if line.strip()]
            elif language == "text":
                for i, line in enumerate(lines):
                    if line.startswith("$ "):
                        after = lines[i + 1] if i + 1 < len(lines) else ""
                        error = after.removeprefix("error: ") if after.startswith("error: ") else None
                        found.append(Command(name, line[2:].strip(), shell=False, error=error))
    return found


def words(line: str) -> list[str]:
    """The shell words of a line, without its comment; ``$(...)`` opened up (shell completion's eval)."""
    out = []
    for word in shlex.split(line, comments=True):
        if word.startswith("$(") and word.endswith(")"):
            out += words(word[2:-1])
        else:
            out.append(word)
    return out


def script_call(line: str) -> tuple[str, list[str], list[str]] | None:
    """``(script name, what comes before it, its arguments)`` for a line that runs ``scripts/NAME.py``."""
    ws = words(line)
    for i, word in enumerate(ws):
        match = re.fullmatch(r"scripts/(\w+)\.py", word)
        if match:
            args = ws[i + 1 :]
            end = next((j for j, a in enumerate(args) if a in SHELL_SEPARATORS), len(args))
            return match[1], ws[:i], args[:end]
    return None


def script_commands() -> list[Command]:
    return [c for c in commands() if script_call(c.line)]


def overrides_of(args: list[str]) -> tuple[list[str], bool] | None:
    """The overrides among a Hydra script's arguments, and whether it is a multirun; None under -sc."""
    overrides, multirun, skip = [], False, False
    for arg in args:
        if skip:
            skip = False
        elif arg in COMPLETION_FLAGS or arg in CONFIG_DIR_FLAGS:
            return None
        elif arg in HYDRA_FLAGS_WITH_VALUE:
            skip = True
        elif arg in HYDRA_FLAGS:
            multirun = multirun or arg in ("-m", "--multirun")
        else:
            assert not arg.startswith("-"), f"a flag this test does not know: {arg}"
            overrides.append(arg)
    return overrides, multirun


def first_error(config_name: str, overrides: list[str]) -> str | None:
    """What scripts/*.py would report before Hydra starts, as config.overrides.check_overrides does: every
    sweep at its first value, then each other option of a swept config group."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    for job, lines in jobs(CONF, parsed, lambda _: {}):
        error = composition_error(CONF, config_name, lines)
        if error:
            return f"{job}{error}"
    return None


@pytest.mark.parametrize("command", script_commands(), ids=str)
def test_each_documented_command_composes(command: Command) -> None:
    call = script_call(command.line)
    assert call is not None
    script, before, args = call
    runner = [w for w in before if "=" not in w]  # VAR=value words set the environment
    assert runner and (runner[-1] in INTERPRETERS or runner[0].endswith("torchrun")), (
        f"{command}: run it with python (the venv's), .venv/bin/python or torchrun"
    )
    placeholders = [a for a in args if PLACEHOLDER.search(a)]
    assert not placeholders, f"{command}: {placeholders} would not work as written"
    if script == "bench":
        flags = [a for a in args if a.startswith("-")]
        assert set(flags) <= BENCH_FLAGS, f"{command}: scripts/bench.py takes {sorted(BENCH_FLAGS)}"
        return
    assert script in CONFIG_OF, f"{command}: no scripts/{script}.py to document"
    parsed = overrides_of(args)
    if parsed is None:
        return
    error = first_error(CONFIG_OF[script], parsed[0])
    if command.error is None:
        assert error is None, f"{command}: {error}"
    elif error is not None:
        # A documented override error is the script's very line; a later error (a bad value, a missing GPU)
        # is past what composing can check, so its text is not compared here.
        assert error == command.error, f"{command}: documented\n  error: {command.error}\nbut it says\n  error: {error}"


def transcript_errors() -> list[Command]:
    """Documented error transcripts this install prints: a "needs mlplab[EXTRA]" line only where that extra
    is missing (tests/test_extras.py checks those lines in an emulated core install)."""
    from mlplab.extras import missing_module

    def printed_here(error: str) -> bool:
        extra = re.search(r"needs mlplab\[(\w+)\]", error)
        return extra is None or missing_module(extra[1]) is not None

    return [c for c in script_commands() if c.error is not None and printed_here(c.error)]


@pytest.mark.slow
@pytest.mark.parametrize("command", transcript_errors(), ids=str)
def test_each_documented_error_line_is_what_the_script_prints(command: Command, tmp_path: Path) -> None:
    """Run as written, in an empty directory: a non-zero exit, and the documented line (``…`` stands for the
    rest of a long line). A file the line names is first made by the page's own command that writes it."""
    import torch

    if "trainer=gpu" in words(command.line) and torch.cuda.is_available():
        pytest.skip(f"{command.page}: the line of a machine without a CUDA GPU")
    for name in re.findall(r"data\.path=(\S+\.csv)", command.line):
        page = [c.line for c in commands() if c.page == command.page]
        makers = [line for line in page if line.startswith("python -c") and name in line]
        assert makers, f"{command}: no command on {command.page} makes {name}"
        subprocess.run(_runnable(makers[0]), cwd=tmp_path, check=True, timeout=60)
    proc = subprocess.run(_runnable(command.line), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, f"{command}: exit 0"
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    pattern = ".*".join(re.escape(part) for part in f"error: {command.error}".split("…"))
    assert re.fullmatch(pattern, last), f"{command}: documented\n  error: {command.error}\nbut it prints\n  {last}"


def _runnable(line: str) -> list[str]:
    """A documented command's words, with this interpreter and the repo's scripts (the cwd is elsewhere)."""
    out = []
    for word in words(line):
        if word in INTERPRETERS:
            out.append(sys.executable)
        elif re.fullmatch(r"scripts/\w+\.py", word):
            out.append(str(ROOT / word))
        else:
            out.append(word)
    return out


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([\w-]+)\s*:(?!=)", text, flags=re.M))


def code_spans(text: str) -> list[str]:
    """Inline code and the lines of fenced blocks: where a `make X` is a command, not a word of prose."""
    spans = [line for _, block in fenced_blocks(text) for line in block]
    outside = re.sub(r"```.*?```", "", text, flags=re.S)
    return spans + re.findall(r"`([^`\n]+)`", outside)


def make_calls() -> list[tuple[str, str, str]]:
    """``(page, target, ARGS)`` for every ``make TARGET [ARGS=...]`` in the pages' code."""
    calls = []
    for page in PAGES:
        for span in code_spans(page.read_text()):
            for match in re.finditer(r"(?:^|\s)make ([\w-]+)((?: [A-Z_]+=(?:\"[^\"]*\"|\S+))*)", span):
                args = dict(word.split("=", 1) for word in shlex.split(match[2]))
                calls.append((page.name, match[1], args.get("ARGS", "")))
    return calls


def test_every_make_target_named_exists() -> None:
    targets = make_targets()
    calls = make_calls()
    assert {"train", "test", "tensorboard", "bench"} <= {target for _, target, _ in calls}, "the parse found them"
    missing = sorted({f"{page}: make {target}" for page, target, _ in calls if target not in targets})
    assert not missing, f"not in the Makefile: {missing}"


def test_make_train_args_compose() -> None:
    for page, target, args in make_calls():
        if target == "train" and args:
            assert first_error("train", shlex.split(args)) is None, f"{page}: make train ARGS={args!r}"


def test_the_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move details to docs/"


def test_the_readmes_table_names_files_that_exist() -> None:
    text = README.read_text()
    table = text.split("## From the notebook to the files", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    paths = [p for row in rows for p in re.findall(r"`((?:src|conf)/[^`\s]+)`", row)]
    assert len(paths) >= 10, paths  # the parse found the table
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"README.md's table names files that do not exist: {missing}"
    # "`training_step` in `src/.../x.py`": the file defines it.
    named = [m for row in rows for m in re.findall(r"`(\w+)` in `(src/[^`\s]+\.py)`", row)]
    assert named, "the parse found no `name` in `file`"
    elsewhere = [(name, path) for name, path in named if f"def {name}(" not in (ROOT / path).read_text()]
    assert not elsewhere, f"README.md's table puts these where they are not defined: {elsewhere}"


def test_every_repo_path_and_link_in_the_docs_exists() -> None:
    missing = []
    for page in PAGES:
        text = page.read_text()
        for span in code_spans(text):
            for path in re.findall(r"(?:^|[\s(`])((?:src|conf|scripts|tests|docs|\.ci)/[\w./-]*[\w/])", span):
                if not (ROOT / path).exists():
                    missing.append(f"{page.name}: {path}")
        for link in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            if not (page.parent / link).exists():
                missing.append(f"{page.name}: link {link}")
    assert not missing, missing


# --- docs/architecture.md's picture of the packages ---

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def drawn_imports() -> set[tuple[str, str]]:
    """The solid arrows ``A --> B`` of the mermaid block (dotted ones are links by name, not imports)."""
    [block] = [lines for language, lines in fenced_blocks(ARCHITECTURE.read_text()) if language == "mermaid"]
    return {(m[1], m[2]) for line in block if (m := re.fullmatch(r"\s*(\w+)\s*-->\s*(\w+)\s*", line))}


def package_of(path: Path) -> str:
    """``scripts``, ``hydra_plugins``, or mlplab's package or top-level module (``errors``)."""
    relative = path.relative_to(ROOT)
    if relative.parts[0] == "scripts":
        return "scripts"
    if relative.parts[1] == "hydra_plugins":
        return "hydra_plugins"
    return relative.parts[2].removesuffix(".py")


def actual_imports() -> set[tuple[str, str]]:
    """Package-level edges of every ``import mlplab.X`` / ``from mlplab.X import``, at any depth of a module."""
    edges = set()
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "scripts").glob("*.py")]
    for path in files:
        source = package_of(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] == "mlplab" and len(parts) > 1 and parts[1] != source:
                    edges.add((source, parts[1]))
    return edges


def test_the_architecture_picture_draws_the_real_imports() -> None:
    drawn, actual = drawn_imports(), actual_imports()
    assert not actual - drawn, f"imports not drawn in docs/architecture.md: {sorted(actual - drawn)}"
    assert not drawn - actual, f"drawn in docs/architecture.md but not imported: {sorted(drawn - actual)}"


# --- the compose snippet ---


@pytest.mark.slow  # trains 5 epochs in a subprocess
def test_the_readmes_compose_snippet_trains_without_dependency_noise(tmp_path: Path) -> None:
    """docs/configuration.md's first Python block, as written (its config dir made absolute, so it runs from
    tmp_path). The name is kept from when the snippet was in the README."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    snippet = page.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'Path("conf")' in snippet and "quiet_dependencies()" in snippet
    code = snippet.replace('Path("conf")', f"Path({str(CONF)!r})")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    output = proc.stdout + proc.stderr
    assert "`max_epochs=5` reached" in output
    assert "Tip" not in output and "Warning" not in output and "deprecated" not in output, output
    assert (tmp_path / "checkpoints").is_dir()  # paths fall back to the working directory

"""The README and docs/*.md show only commands that exist.

Every command in a fenced code block, and every inline code span that starts with a command, is checked:
`bash experiments/X.sh` names a script that exists; `famous-persona CMD` names a command of
`famous_persona.cli.COMMANDS`; `python -m MODULE` names an importable module; `make TARGET` names a Makefile target.
Every `--flag` after a `famous-persona` command, an experiment script or `python -m` of a stage module must be an
option of that command's parser, built in-process (`--a_b` and `--a-b` count as one). An experiment script that is
`exec famous-persona run <plan>` takes `famous-persona run`'s options; another script takes the options of its own
`case` patterns and of the stage modules it runs. The README is at most 200 lines and links only to files that exist.
A failure names the file, the line and the bad command or flag.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from trl import TrlParser

from famous_persona.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200

PYTHON = re.compile(r"^(python3?|\S*/python3?)$")
STARTS_A_COMMAND = re.compile(r"^(\S*/)?(famous-persona|bash|make|python3?)(\s|$)")
LOOKS_LIKE_A_COMMAND = re.compile(r"famous-persona\s|bash\s+experiments/|python3?\s+-m\s|(^|[;&|(]\s*)make(\s|$)")
SEPARATORS = set("|&;()")
PREFIXES = {"exec", "time", "/usr/bin/time", "-v", "nice", "-n", "19", "sudo", "env"}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def inline_spans(paragraph: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """(line number, text) of the inline code spans of a paragraph that start with a command; a span may run over
    a line break."""
    text, starts = "", []
    for number, line in paragraph:
        starts.append((len(text), number))
        text += line.strip() + " "
    for match in re.finditer(r"`([^`]+)`", text):
        span = " ".join(match.group(1).split())
        if STARTS_A_COMMAND.match(span):
            yield max(number for offset, number in starts if offset <= match.start()), span


def shown_commands(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every command line in fenced blocks (continuations joined) and every inline code span
    outside them that starts with a command."""
    lines = path.read_text(encoding="utf-8").splitlines()
    fenced = False
    pending: tuple[int, str] | None = None
    paragraph: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith(("```", "~~~")):
            yield from inline_spans(paragraph)
            paragraph = []
            fenced = not fenced
            pending = None
            continue
        if fenced:
            start, text = pending if pending else (number, "")
            text += line
            if line.rstrip().endswith("\\"):
                pending = (start, text.rstrip()[:-1] + " ")
                continue
            pending = None
            if LOOKS_LIKE_A_COMMAND.search(text):
                yield start, text
        elif line.strip():
            paragraph.append((number, line))
        else:
            yield from inline_spans(paragraph)
            paragraph = []
    yield from inline_spans(paragraph)


def segments(text: str) -> list[list[str]]:
    """The shell words of a command line, split at |, &, ;, ( and ); comments dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|&;()")
    lexer.whitespace_split = True
    words = list(lexer)
    parts: list[list[str]] = [[]]
    for word in words:
        if set(word) <= SEPARATORS:
            parts.append([])
        else:
            parts[-1].append(word)
    return [p for p in parts if p]


@cache
def makefile_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return frozenset(m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE))


def normal(flag: str) -> str:
    return "--" + flag.split("=", 1)[0][2:].replace("-", "_")


@cache
def module_flags(module: str) -> frozenset[str]:
    """A stage's options; `--config` too, which TRL's parser reads before the others (every stage parser is one)."""
    parser = importlib.import_module(module).make_parser()
    options = {normal(option) for action in parser._actions for option in action.option_strings}
    return frozenset(options | ({"--config"} if isinstance(parser, TrlParser) else set()))


STAGE_MODULES = {module for module, _ in COMMANDS.values()}


@cache
def script_flags(script: str) -> frozenset[str] | None:
    """The options an experiment script takes: `famous-persona run`'s for a plan script, else its own `case`
    patterns and the options of the stage modules it runs. None when the script does not exist."""
    path = ROOT / script
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if re.search(r"^\s*exec famous-persona run \w+", text, re.MULTILINE):
        return module_flags(COMMANDS["run"][0])
    patterns = re.findall(r"^\s*([-\w|]+)\)", text, re.MULTILINE)
    flags = {normal(f) for pattern in patterns for f in pattern.split("|") if f.startswith("--")}
    for module in re.findall(r"python -m ([\w.]+)", text):
        if module in STAGE_MODULES:
            flags |= module_flags(module)
    return frozenset(flags | {"--help"})


def bad_flags(words: list[str], allowed: frozenset[str]) -> list[str]:
    return [w for w in words if w.startswith("--") and w != "--" and normal(w) not in allowed]


def problems(words: list[str]) -> Iterator[str]:
    """What is wrong with one shell command (its words), if anything."""
    while words and (words[0] in PREFIXES or re.match(r"^[A-Z_][A-Z0-9_]*=", words[0])):
        words = words[1:]
    if not words:
        return
    head = words[0]
    if head == "make":
        for target in (w for w in words[1:] if not w.startswith("-") and "=" not in w):
            if target not in makefile_targets():
                yield f"make {target}: no such Makefile target"
        return
    for i, word in enumerate(words):
        rest = words[i + 1 :]
        if word == "famous-persona" or word.endswith("/famous-persona"):
            if not rest or rest[0].startswith("-"):
                yield from (f"famous-persona {f}: no such option" for f in bad_flags(rest, frozenset({"--help"})))
                return
            command = rest[0]
            if command.startswith("<"):
                return  # a placeholder: `famous-persona <command>`
            if command not in COMMANDS:
                yield f"famous-persona {command}: no such command (famous_persona.cli.COMMANDS)"
                return
            allowed = module_flags(COMMANDS[command][0])
            yield from (f"famous-persona {command} {f}: no such option" for f in bad_flags(rest[1:], allowed))
            return
        if word == "bash" and rest and rest[0].startswith("experiments/"):
            allowed = script_flags(rest[0])
            if allowed is None:
                yield f"bash {rest[0]}: no such script"
                return
            yield from (f"bash {rest[0]} {f}: no such option" for f in bad_flags(rest[1:], allowed))
            return
        if PYTHON.match(word) and rest[:1] == ["-m"] and len(rest) > 1:
            module = rest[1]
            if module.startswith("<"):
                return
            try:
                spec = importlib.util.find_spec(module)
            except ModuleNotFoundError:
                spec = None
            if spec is None or not spec.origin or not Path(spec.origin).is_file():
                yield f"python -m {module}: no such module"
                return
            if module in STAGE_MODULES:
                allowed = module_flags(module)
                yield from (f"python -m {module} {f}: no such option" for f in bad_flags(rest[2:], allowed))
            return


def all_commands() -> list[tuple[str, int, str]]:
    return [(rel(path), number, text) for path in DOCS for number, text in shown_commands(path)]


def test_docs_show_commands():
    found = all_commands()
    assert any(path == "README.md" for path, _, _ in found), "the README shows no command at all"
    failures = []
    for path, number, text in found:
        try:
            parts = segments(text)
        except ValueError as error:
            failures.append(f"{path}:{number}: cannot read {text!r} as a shell command ({error})")
            continue
        for words in parts:
            failures += [f"{path}:{number}: {problem}  (in: {text.strip()})" for problem in problems(words)]
    assert not failures, "commands shown in the docs that do not exist:\n" + "\n".join(failures)


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md:{len(lines)}: {len(lines)} lines, at most {README_MAX_LINES}"


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_links_point_to_files(path: Path):
    """Relative links ([text](target)) name files or folders that exist, from the linking file's folder."""
    failures = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            file = target.split("#", 1)[0]
            if not (path.parent / file).exists():
                failures.append(f"{rel(path)}:{number}: link to {target}, which does not exist")
    assert not failures, "\n".join(failures)


def test_docs_index_lists_every_doc():
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    missing = [rel(p) for p in DOCS[1:] if p.name != "README.md" and f"({p.name})" not in index]
    assert not missing, f"docs/README.md: no line links {', '.join(missing)}"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("famous-persona run cv --dry-run --gpus_per_run 2", []),
        ("famous-persona nope --x", ["no such command"]),
        ("famous-persona train --no_such_flag 1", ["no such option"]),
        ("bash experiments/cv.sh --smoke --nope", ["--nope: no such option"]),
        ("bash experiments/missing.sh", ["no such script"]),
        ("bash experiments/generate_dataset.sh --dry-run --scripted-server --out d --bogus_opt 1", ["--bogus_opt"]),
        ("python -m evaluation.benchmark --max_pairs 4 --bogus 1", ["--bogus: no such option"]),
        ("python -m no_such_module_here", ["no such module"]),
        ("make demo && make nothing-here", ["make nothing-here"]),
        ("X=1 /usr/bin/time -v bash experiments/claims.sh --out dump/claims  # a comment --nope", []),
    ],
)
def test_the_checker_itself(command: str, expected: list[str]):
    """The checks find what they should, and nothing else."""
    found = [p for words in segments(command) for p in problems(words)]
    assert len(found) == len(expected), found
    for problem, fragment in zip(found, expected, strict=True):
        assert fragment in problem

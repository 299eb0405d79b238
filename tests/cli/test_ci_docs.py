"""docs/ci.md and .pre-commit-hooks.yaml say only true things: the YAML parses, the hook
manifest passes pre-commit's own schema, and every `syncmap` command they show is a real
command with real options and choices."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml
from pre_commit.clientlib import load_manifest

from syncmap.runtime.cli import cli

ROOT = Path(__file__).resolve().parents[2]
CI_DOC = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
YAML_BLOCKS = re.findall(r"^```yaml\n(.*?)^```$", CI_DOC, re.DOTALL | re.MULTILINE)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for child in value.values():
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


def _commands(text: str) -> Iterator[list[str]]:
    """Each `syncmap …` command in shell text, cut at a redirection, pipe or comment."""
    for line in text.splitlines():
        start = line.find("syncmap ")
        if start < 0 or (start > 0 and not line[start - 1].isspace()):
            continue
        words = shlex.split(line[start:], comments=True)
        cut = next((i for i, w in enumerate(words) if w in {">", ">>", "|", "&&", ";"}), len(words))
        yield words[1:cut]


def _check_command(words: list[str]) -> None:
    name, *args = words
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, f"`syncmap {name}` is not a command"
    options = {flag: param for param in command.params if isinstance(param, click.Option) for flag in param.opts + param.secondary_opts}
    for i, word in enumerate(args):
        if not word.startswith("-"):
            continue
        flag, _, value = word.partition("=")
        assert flag in options, f"`syncmap {name}` has no option {flag}"
        param = options[flag]
        if isinstance(param.type, click.Choice):
            value = value or args[i + 1]
            assert value in param.type.choices, f"`syncmap {name} {flag}` has no choice {value!r}"


def test_every_yaml_block_parses() -> None:
    assert len(YAML_BLOCKS) >= 5  # pre-commit config, two variants, GitHub, GitLab
    for block in YAML_BLOCKS:
        yaml.safe_load(block)


def test_every_syncmap_command_in_ci_md_is_real() -> None:
    commands = [words for block in YAML_BLOCKS for text in _strings(yaml.safe_load(block)) for words in _commands(text)]
    used = {words[0] for words in commands}
    assert {"check", "fmt", "compile", "graph"} <= used
    assert ["check", "--format", "gitlab", "mappings/*.syncmap"] in commands
    assert ["check", "--format", "github", "--strict", "mappings/*.syncmap"] in commands
    for words in commands:
        _check_command(words)


def test_hook_manifest_passes_pre_commits_schema_and_runs_real_commands() -> None:
    hooks = load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert {hook["id"] for hook in hooks} == {"syncmap-check", "syncmap-fmt", "syncmap-fmt-check"}
    for hook in hooks:
        assert hook["language"] == "python" and hook["files"] == r"\.syncmap$"
        (words,) = _commands(hook["entry"])
        _check_command(words)


@pytest.mark.parametrize("block", [b for b in YAML_BLOCKS if "hooks:" in b or "- id:" in b])
def test_the_hook_ids_docs_show_exist(block: str) -> None:
    shipped = {hook["id"] for hook in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}
    shown = set(re.findall(r"- id: (\S+)", block))
    assert shown and shown <= shipped

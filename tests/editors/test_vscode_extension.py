"""The VS Code extension manifest (editors/vscode/package.json) wires what exists: the language,
the grammar the tokenizer tests run, and the plan schema the compiler validates with, for the
plan files the project writes. Paths resolve as VS Code resolves them: relative to the
extension's folder, and only when written `./…`."""

from __future__ import annotations

import fnmatch
import json
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from syncmap.compiler.lower import PLAN_VERSION

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editors" / "vscode"
MANIFEST = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
CONTRIBUTES = MANIFEST["contributes"]


def resolve(relative: str) -> Path:
    assert relative.startswith("./"), f"{relative}: a manifest's relative paths are written ./… (VS Code treats the rest as URLs)"
    return (EXTENSION / relative).resolve()


def patterns(entry: dict[str, Any]) -> list[str]:
    found = entry["fileMatch"]
    return [found] if isinstance(found, str) else list(found)


def test_the_language_and_its_grammar_agree() -> None:
    (language,) = CONTRIBUTES["languages"]
    (grammar_entry,) = CONTRIBUTES["grammars"]
    assert language["extensions"] == [".syncmap"]
    assert grammar_entry["language"] == language["id"]
    grammar = json.loads(resolve(grammar_entry["path"]).read_text(encoding="utf-8"))
    assert grammar["scopeName"] == grammar_entry["scopeName"]
    assert ["." + t for t in grammar["fileTypes"]] == language["extensions"]
    configuration = json.loads(resolve(language["configuration"]).read_text(encoding="utf-8"))
    assert configuration["comments"]["lineComment"] == "#"  # the language's only comment (grammar/syncmap.lark)


def test_plan_files_are_validated_against_the_schema_the_compiler_uses() -> None:
    shipped = resources.files("syncmap.compiler").joinpath("plan.schema.json").read_text(encoding="utf-8")
    entries = {"jsonValidation": CONTRIBUTES["jsonValidation"], "yamlValidation": CONTRIBUTES["yamlValidation"]}
    for point, listed in entries.items():
        for entry in listed:
            assert resolve(entry["url"]).read_text(encoding="utf-8") == shipped, point
    yaml_patterns = [p for e in entries["yamlValidation"] for p in patterns(e)]
    json_patterns = [p for e in entries["jsonValidation"] for p in patterns(e)]
    # The plans this repository keeps (goldens) and the names docs/editors.md recommends.
    for golden in (REPO / "tests" / "golden").glob("*.plan.yaml"):
        assert any(fnmatch.fnmatch(golden.name, p) for p in yaml_patterns), golden.name
    assert any(fnmatch.fnmatch("autopilot.plan.yml", p) for p in yaml_patterns)
    assert any(fnmatch.fnmatch("autopilot.plan.json", p) for p in json_patterns)
    assert not any(fnmatch.fnmatch("package.json", p) for p in json_patterns + yaml_patterns)


def test_the_plan_schema_has_an_absolute_id_naming_the_plan_format() -> None:
    """Editors and schema stores key a schema by its `$id`: a plan format 2 needs a new one."""
    schema = json.loads((REPO / "compiler" / "plan.schema.json").read_text(encoding="utf-8"))
    identifier = urlparse(schema["$id"])
    assert identifier.scheme == "https" and identifier.netloc
    assert Path(identifier.path).name == f"plan-{PLAN_VERSION.split('.')[0]}.json"

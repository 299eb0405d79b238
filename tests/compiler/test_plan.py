"""The compiled plan: golden files, determinism, schema, versioning, provenance, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from syncmap.compiler.api import compile_plan
from syncmap.compiler.plan import PlanError, dump_json, dump_yaml, dumps, load_plan, loads, validate_plan
from syncmap.runtime.cli import cli

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import regen  # noqa: E402

SOURCES = regen.golden_sources()


def test_golden_plans_and_error_index_are_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # what regen writes does not depend on the working directory
    outputs = regen.outputs()
    assert os.getcwd() == str(tmp_path)  # and regen leaves it alone
    stale = {
        str(p.relative_to(ROOT)): regen.diff(p, p.read_text() if p.exists() else None, text)
        for p, text in outputs.items()
        if not p.exists() or p.read_text() != text
    }
    assert stale == {}, "run `python tests/regen.py`, read the diff it prints, and check tests/compiler/test_golden_contents.py"


def test_regen_prints_the_diff_it_approves() -> None:
    path = ROOT / "tests" / "golden" / "x.plan.yaml"
    assert regen.diff(path, "a: 1\nb: 2\n", "a: 1\nb: 3\n").splitlines() == [
        "--- a/tests/golden/x.plan.yaml",
        "+++ b/tests/golden/x.plan.yaml",
        "@@ -1,2 +1,2 @@",
        " a: 1",
        "-b: 2",
        "+b: 3",
    ]
    assert regen.diff(path, None, "a: 1").splitlines() == ["--- /dev/null", "+++ b/tests/golden/x.plan.yaml", "@@ -0,0 +1 @@", "+a: 1"]
    assert regen.diff(path, "a: 1\n", "a: 1\n") == ""


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_compiling_twice_gives_identical_bytes(source: Path) -> None:
    first, second = compile_plan(str(source)).plan, compile_plan(str(source)).plan
    assert dump_yaml(first) == dump_yaml(second)
    assert dump_json(first) == dump_json(second)


def test_the_working_directory_does_not_change_the_plan(tmp_path: Path) -> None:
    source = ROOT / "mappings" / "five-objects.syncmap"
    here = dump_yaml(compile_plan(str(source)).plan)
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        there = dump_yaml(compile_plan(os.path.relpath(source)).plan)
    finally:
        os.chdir(cwd)
    assert here == there


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_plan_validates_and_round_trips(source: Path, tmp_path: Path) -> None:
    plan = compile_plan(str(source)).plan
    validate_plan(plan)
    for name in ("plan.yaml", "plan.json"):
        path = tmp_path / name
        path.write_text(dumps(plan, "yaml" if name.endswith("yaml") else "json"))
        assert load_plan(str(path)) == plan


def test_plan_carries_versions_digest_and_stage_order() -> None:
    plan = compile_plan(str(ROOT / "mappings" / "five-objects.syncmap")).plan
    assert plan["plan_version"].startswith("2.")
    assert plan["compiler"]["name"] == "syncmap" and plan["compiler"]["version"]
    assert plan["source"]["digest"].startswith("sha256:") and plan["source"]["files"][0]["path"] == "five-objects.syncmap"
    assert [s["object"] for s in plan["stages"]] == [
        "pipedrive.User",
        "pipedrive.Organization",
        "pipedrive.Person",
        "pipedrive.Deal",
        "pipedrive.Activity",
    ]
    assert plan["stages"][0]["pairs"] == []  # users are only read (owner names), first


def test_digest_changes_when_an_included_file_changes(tmp_path: Path) -> None:
    inc = ROOT / "tests" / "cases" / "valid" / "_includes" / "connections.syncmap"
    (tmp_path / "_includes").mkdir()
    (tmp_path / "_includes" / "connections.syncmap").write_text(inc.read_text())
    main = tmp_path / "m.syncmap"
    main.write_text((ROOT / "tests" / "cases" / "valid" / "include-connections.syncmap").read_text())
    before = compile_plan(str(main)).plan["source"]
    (tmp_path / "_includes" / "connections.syncmap").write_text(inc.read_text() + "# changed\n")
    after = compile_plan(str(main)).plan["source"]
    assert [f["path"] for f in before["files"]] == ["_includes/connections.syncmap", "m.syncmap"]
    assert before["digest"] != after["digest"]


def test_field_operations_keep_their_source_span() -> None:
    source = ROOT / "mappings" / "autopilot.syncmap"
    lines = source.read_text().splitlines()
    plan = compile_plan(str(source)).plan
    (pair,) = plan["pairs"]
    for op in pair["fields"]:
        line = lines[op["span"]["line"] - 1]
        assert op["target"]["path"][-1].split("(")[0] in line, (op["target"]["path"], line)
    owner = next(op for op in pair["fields"] if op["target"]["path"] == ["owner_name"])
    assert owner["direction"] == "left_to_right"
    assert [h["relation"] for h in owner["source"]["ref"]["via"]] == ["owner"]


def test_autopilot_mapping_plan_encodes_the_faq() -> None:
    plan = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap")).plan
    (pair,) = plan["pairs"]
    assert pair["direction"] == "both"  # R1
    assert pair["scope"][0]["condition"] == {"op": "member", "system": "autopilot", "list": "Pipedrive Contacts"}  # R2
    assert pair["deletes"]["from"] == "pipedrive" and pair["deletes"]["to"] == "autopilot"  # R6
    assert pair["link"]["left"]["custom"]["name"] == "apId"  # R11
    assert pair["owner"]["default"] == {"kind": "me", "system": "pipedrive"}  # R13
    assert pair["empty"]["policy"] == "skip" and pair["empty"]["span"]["line"] == 34  # R10
    assert pair["match"][0]["keys"][0]["normalize"] == ["trim", "lowercase"]  # R9
    creates = {a["name"]: a["creates_person_if_missing"] for a in plan["actions"]}
    assert creates == {
        "Add Deal": True,
        "Assign Person Owner": True,
        "Schedule Activity": True,
        "Update Pipedrive Field": False,
        "Update Deal Stage": False,
    }  # R4


def test_five_objects_plan_carries_implicit_seed_filters() -> None:
    plan = compile_plan(str(ROOT / "mappings" / "five-objects.syncmap")).plan
    pairs = {p["id"]: p for p in plan["pairs"]}
    out = pairs["pipedrive.Activity->autopilot.Contact"]["implicit_filters"]
    assert {k: out[0][k] for k in ("side", "field", "equals")} == {"side": "pipedrive", "field": "done", "equals": True}  # R16
    deal = pairs["pipedrive.Deal<->autopilot.Contact"]
    assert any(f["field"] == "expected_close_date" and f["present"] for f in deal["implicit_filters"])  # R19
    # Deal: Read / Update, and the contact is the deal's person's partner: nothing is created.
    assert deal["creates"] == {"left": False, "right": False}
    activity_in = pairs["pipedrive.Activity<-autopilot.Activity"]
    assert activity_in["updates"]["left"] is False and activity_in["creates"]["left"] is True  # Activity: Read / Create


def written(plan: dict) -> dict:
    """The plan as its file holds it (format 2: catalog facts once, spans as strings)."""
    return json.loads(dump_json(plan))


def test_loader_refuses_an_unknown_major_version(tmp_path: Path) -> None:
    plan = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap")).plan
    newer = dict(written(plan), plan_version="3.0")
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(newer))
    with pytest.raises(PlanError) as err:
        load_plan(str(path))
    assert "format 3.0" in str(err.value) and "reads format 2.x" in str(err.value) and "syncmap compile" in str(err.value)


def test_loader_refuses_a_format_1_plan_and_says_to_recompile(tmp_path: Path) -> None:
    # Format 1 files held the expanded plan itself (every ref with its facts, spans as objects).
    plan = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap")).plan
    from syncmap.compiler import plan_yaml

    old = dict(plan, plan_version="1.0")
    for name, text in (("old.json", json.dumps(old)), ("old.yaml", plan_yaml.dump(old, 0))):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(PlanError) as err:
            load_plan(str(path))
        assert str(err.value) == (
            "this plan has format 1.0, but this syncmap reads format 2.x: "
            "recompile the mapping with this syncmap (`syncmap compile`), or use the syncmap that wrote it"
        )


def test_loader_refuses_a_plan_that_breaks_the_schema() -> None:
    plan = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap")).plan
    broken = written(plan)
    broken["pairs"][0]["direction"] = "sideways"
    del broken["stages"]
    with pytest.raises(PlanError) as err:
        loads(json.dumps(broken), "json")
    assert "/pairs/0/direction" in str(err.value) and "'stages' is a required property" in str(err.value)
    with pytest.raises(PlanError, match="not a syncmap plan"):
        loads("[1, 2]", "json")
    with pytest.raises(PlanError, match="cannot read the plan"):
        loads("{not json", "json")


def test_loader_refuses_a_plan_whose_stages_and_pairs_disagree() -> None:
    plan = compile_plan(str(ROOT / "mappings" / "five-objects.syncmap")).plan
    for tamper, says in (
        (lambda p: p["stages"][1]["pairs"].__setitem__(0, "pipedrive.Lead<->autopilot.Contact"), "which the plan does not have"),
        (lambda p: p["stages"][2]["pairs"].clear(), "is in 0 stages"),
        (lambda p: p["pairs"].append(dict(p["pairs"][0])), "is used twice"),
        (lambda p: p["stages"][0].__setitem__("stage", 7), "stage numbers"),
        (lambda p: p["actions"].append(dict(p["actions"][0])), "action name 'Add Deal' is used twice"),
    ):
        broken = written(plan)
        tamper(broken)
        with pytest.raises(PlanError, match="contradicts itself") as err:
            loads(json.dumps(broken), "json")
        assert says in str(err.value)


def test_no_secret_value_ever_reaches_a_plan(tmp_path: Path) -> None:
    markers = {
        "PIPEDRIVE_API_TOKEN": "SECRET-pd-token-4711",
        "AUTOPILOT_API_KEY": "SECRET-ap-key-4712",
        "PIPEDRIVE_BASE_URL": "https://SECRET-host.example",
        "AUTOPILOT_BASE_URL": "https://SECRET-ap.example",
    }
    env = dict(os.environ, **markers)
    for source in SOURCES:
        for suffix in ("yaml", "json"):
            out = tmp_path / f"{source.stem}.{suffix}"
            proc = subprocess.run(
                [sys.executable, "-m", "syncmap.runtime.cli", "compile", str(source), "-o", str(out)],
                env=env,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            assert proc.returncode == 0, proc.stderr
            text = out.read_text()
            assert "SECRET" not in text and "SECRET" not in proc.stdout + proc.stderr
            assert "PIPEDRIVE_API_TOKEN" in text  # the variable's name is what the plan keeps


def test_compile_cli_check_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    source = str(ROOT / "mappings" / "autopilot.syncmap")
    out = tmp_path / "plan.yaml"
    assert runner.invoke(cli, ["compile", source, "-o", str(out), "--check"]).exit_code == 1  # missing
    assert runner.invoke(cli, ["compile", source, "-o", str(out)]).exit_code == 0
    assert out.read_text().startswith("# generated by syncmap ")
    assert runner.invoke(cli, ["compile", source, "-o", str(out), "--check"]).exit_code == 0
    out.write_text(out.read_text().replace("skip", "write", 1))
    stale = runner.invoke(cli, ["compile", source, "-o", str(out), "--check"])
    assert stale.exit_code == 1 and "is stale" in stale.stderr
    out.write_bytes(b"\xff\xfe not a plan")
    garbled = runner.invoke(cli, ["compile", source, "-o", str(out), "--check"])
    assert garbled.exit_code == 1 and "is stale" in garbled.stderr
    bad = runner.invoke(
        cli, ["compile", str(ROOT / "tests" / "cases" / "invalid" / "SM307-create-organization.syncmap"), "-o", str(tmp_path / "x.json")]
    )
    assert bad.exit_code == 1 and "SM307" in bad.stderr and not (tmp_path / "x.json").exists()
    assert runner.invoke(cli, ["compile", source, "--check"]).exit_code == 2
    upper = tmp_path / "PLAN.YML"
    assert runner.invoke(cli, ["compile", source, "-o", str(upper)]).exit_code == 0
    assert upper.read_text().startswith("# generated by syncmap ")  # YAML whatever the case of the extension
    stdout = runner.invoke(cli, ["compile", source])
    assert stdout.exit_code == 0 and json.loads(stdout.stdout)["plan_version"] == "2.1"


def test_compiling_needs_no_network_and_no_environment(monkeypatch) -> None:
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the compiler opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    source = str(ROOT / "mappings" / "five-objects.syncmap")
    with_env = dump_yaml(compile_plan(source).plan)
    for name in ("PIPEDRIVE_API_TOKEN", "AUTOPILOT_API_KEY", "PIPEDRIVE_BASE_URL", "AUTOPILOT_BASE_URL"):
        monkeypatch.setenv(name, "changed-" + name)
    assert dump_yaml(compile_plan(source).plan) == with_env


def test_loader_refuses_a_newer_minor_version_clearly() -> None:
    plan = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap")).plan
    with pytest.raises(PlanError) as err:
        loads(json.dumps(dict(written(plan), plan_version="2.7")), "json")
    assert "format 2.7, written by a newer syncmap" in str(err.value) and "upgrade syncmap" in str(err.value)


def test_a_plan_of_the_previous_minor_still_loads_and_a_match_key_is_written_on_creation_only() -> None:
    # 2.1 added `implied` field operations: a 2.0 plan (without them) means the same thing.
    plan = compile_plan(str(ROOT / "tests" / "cases" / "valid" / "required-by-match-key.syncmap")).plan
    assert plan is not None and plan["plan_version"] == "2.1"
    (implied,) = [op for op in plan["pairs"][0]["fields"] if op["implied"]]
    assert (implied["direction"], implied["on"], implied["target"]["path"], implied["source"]["ref"]["path"]) == (
        "right_to_left",
        "create",
        ["first_name"],
        ["FirstName"],
    )
    assert (implied["span"]["line"], implied["span"]["col"]) == (6, 9)  # the key `first_name = FirstName` of the match line
    assert loads(dumps(plan, "json"), "json") == plan
    rules_only = dict(plan, plan_version="2.0", pairs=[dict(p, fields=[op for op in p["fields"] if not op["implied"]]) for p in plan["pairs"]])
    assert loads(json.dumps(written(rules_only)), "json")["plan_version"] == "2.0"


def test_a_bare_owner_id_belongs_to_the_side_that_has_owners(tmp_path: Path) -> None:
    inc = ROOT / "tests" / "cases" / "valid" / "_includes" / "connections.syncmap"
    (tmp_path / "c.syncmap").write_text(inc.read_text())
    mapping = tmp_path / "m.syncmap"
    mapping.write_text("""include "c.syncmap"

sync autopilot.Contact -> pipedrive.Person {
  match Email = email.primary
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  owner default 42

  FirstName -> first_name
  LastName  -> last_name
}
""")
    result = compile_plan(str(mapping))
    assert result.plan is not None, result.diagnostics
    assert result.plan["pairs"][0]["owner"]["system"] == "pipedrive"
    assert result.plan["pairs"][0]["owner"]["default"] == {"kind": "user_id", "value": 42}


def test_compile_refuses_an_output_file_of_unknown_kind(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["compile", str(ROOT / "mappings" / "autopilot.syncmap"), "-o", str(tmp_path / "plan.txt")])
    assert result.exit_code == 2 and ".yaml, .yml or .json" in result.stderr
    assert not (tmp_path / "plan.txt").exists()


def test_the_fast_validator_agrees_with_jsonschema() -> None:
    # validate_document trusts jsonschema-rs's yes; this pins that its yes and no are jsonschema's.
    import jsonschema
    import jsonschema_rs

    from syncmap.compiler.plan import plan_schema

    fast = jsonschema_rs.validator_for(plan_schema())
    slow = jsonschema.Draft202012Validator(plan_schema())
    plan = written(compile_plan(str(ROOT / "mappings" / "five-objects.syncmap")).plan)
    tampers = [
        lambda p: None,
        lambda p: p["pairs"][0].__setitem__("direction", "sideways"),
        lambda p: p.pop("stages"),
        lambda p: p["pairs"][0]["fields"][0].__setitem__("on", "sometimes"),
        lambda p: p["pairs"][0].__setitem__("extra", 1),
        lambda p: p["actions"][0]["steps"][0].__setitem__("verb", 7),
        lambda p: p["source"].__setitem__("digest", None),
    ]
    verdicts = []
    for tamper in tampers:
        copy = json.loads(json.dumps(plan))
        tamper(copy)
        verdicts.append((fast.is_valid(copy), slow.is_valid(copy)))
    assert verdicts[0] == (True, True)
    assert all(f == s for f, s in verdicts), verdicts
    assert sum(not s for _, s in verdicts) >= 4


def test_compile_does_not_schema_check_its_own_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The schema check of a 10,000-line mapping's plan cost seconds, twice per compile; the
    # suite checks that every lowered plan validates, so a compile only pays for the cheap check.
    from syncmap.compiler import plan as plan_module

    def no_schema_check(*args: object) -> None:
        raise AssertionError("compile ran the schema check")

    monkeypatch.setattr(plan_module, "validate_document", no_schema_check)
    out = tmp_path / "plan.yaml"
    result = CliRunner().invoke(cli, ["compile", str(ROOT / "mappings" / "five-objects.syncmap"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    monkeypatch.undo()
    assert load_plan(str(out)) == compile_plan(str(ROOT / "mappings" / "five-objects.syncmap")).plan


def test_compile_still_refuses_a_lowered_plan_that_contradicts_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncmap.compiler import lower as lower_module

    real = lower_module.lower
    monkeypatch.setattr(lower_module, "lower", lambda *a, **k: dict(real(*a, **k), stages=[]))
    with pytest.raises(PlanError, match="is in 0 stages"):
        compile_plan(str(ROOT / "mappings" / "autopilot.syncmap"))
    monkeypatch.setattr(lower_module, "lower", lambda *a, **k: dict(real(*a, **k), extra=[]))
    with pytest.raises(PlanError, match=r"this one has plan_version, .*, warnings, extra"):
        compile_plan(str(ROOT / "mappings" / "autopilot.syncmap"))


_TRICKY = [
    "on",
    "off",
    "yes",
    "no",
    "y",
    "n",
    "~",
    "null",
    "Null",
    "true",
    "1_000",
    "0o17",
    "0x1F",
    "1:20",
    ".inf",
    "-.inf",
    ".nan",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "<<",
    "=",
    "- x",
    "a: b",
    "#x",
    "x #y",
    "'",
    '"',
    "'q'",
    "@x",
    "`x",
    "!x",
    "&a",
    "*a",
    "%x",
    "|",
    "> x",
    "? x",
    "",
    " lead",
    "trail ",
    "tab\tx",
    "line\nbreak",
    "é",
    "\u2028",
    "\x85",
    "\r",
    "𐀀",
    "a" * 300,
    "word " * 700,
    "{Name} <{Email}>",
    'custom("apId")',
    "1.0",
    "-",
]
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40), st.sampled_from(_TRICKY))
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10) | st.sampled_from(_TRICKY), inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=int(os.environ.get("PLAN_YAML_EXAMPLES", "300")), deadline=None)
@given(
    st.dictionaries(st.text(max_size=10) | st.sampled_from(_TRICKY), _DATA, min_size=1, max_size=5),
    st.sampled_from([0, 30, 150, 10**6]),
)
def test_plan_yaml_reads_back_as_the_data_it_wrote(data: dict, width: int) -> None:
    # Width 0 writes everything in block style, 10**6 everything that can be in flow style.
    from ruamel.yaml import YAML

    from syncmap.compiler import plan_yaml

    assert YAML(typ="safe", pure=True).load(plan_yaml.dump(data, width)) == data


@settings(max_examples=int(os.environ.get("PLAN_YAML_EXAMPLES", "300")), deadline=None)
@given(
    st.dictionaries(st.text(max_size=10) | st.sampled_from(_TRICKY), _DATA, min_size=1, max_size=5),
    st.sampled_from([0, 30, 150, 10**6]),
)
def test_plan_json_reads_back_as_the_data_it_wrote(data: dict, width: int) -> None:
    from syncmap.compiler import plan_json

    assert json.loads(plan_json.dump(data, width)) == data


def test_plan_json_lays_out_what_fits_on_one_line() -> None:
    from syncmap.compiler import plan_json

    data = {"a": {"b": [1, 2], "c": "x, y"}, "items": [{"k": 1}], "long": {"k": "v" * 40}, "e": []}
    assert plan_json.dump(data, 40).splitlines() == [
        "{",
        '  "a": {"b": [1, 2], "c": "x, y"},',
        '  "items": [',  # a list of mappings keeps one item per line
        '    {"k": 1}',
        "  ],",
        '  "long": {',
        f'    "k": "{"v" * 40}"',
        "  },",
        '  "e": []',
        "}",
    ]


def test_plan_yaml_lays_out_what_fits_on_one_line() -> None:
    from syncmap.compiler import plan_yaml

    data = {"a": {"b": [1, 2], "c": "x, y"}, "items": [{"k": 1}], "long": {"k": "v" * 40}, "span": "m.syncmap:1:2-3:4"}
    assert plan_yaml.dump(data, 30).splitlines() == [
        'a: {b: [1, 2], c: "x, y"}',  # a comma is quoted in flow style
        "items:",  # a list of mappings keeps one item per line
        "- {k: 1}",
        "long:",
        f"  k: {'v' * 40}",
        "span: m.syncmap:1:2-3:4",
    ]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_written_plan_reads_the_same_with_pyyaml(source: Path) -> None:
    # Reviewers' and CI's tools read plans with other YAML libraries (PyYAML: YAML 1.1).
    import yaml
    from ruamel.yaml import YAML

    text = dump_yaml(compile_plan(str(source)).plan)
    assert yaml.safe_load(text) == YAML(typ="safe", pure=True).load(text)

"""`syncmap init` against `syncmap sandbox`, both as processes over real sockets: what the
accounts hold (custom fields on both sides, lists, activity types) shows up in a starter that
`check` and `fmt --check` accept as written; refused credentials write nothing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness import ROOT, SYNCMAP, Sandbox


def comments(text: str) -> str:
    """The text of all comments, unwrapped: the starter wraps long ones."""
    return " ".join(line.strip().removeprefix("#").strip() for line in text.splitlines() if line.strip().startswith("# "))


def init(sbx: Sandbox, out: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SYNCMAP, "init", *args, "-o", str(out)], env=env or sbx.run_env(), capture_output=True, text=True, timeout=120)


def test_the_starter_passes_check_and_fmt_and_shows_what_the_accounts_hold(sbx: Sandbox, tmp_path: Path) -> None:
    sbx.reset(pipedrive=5, autopilot=5)  # seeding makes custom fields on both sides, lists and activity types
    sbx.pd("POST", "/v1/personFields", json={"name": "Shoe size", "field_type": "double"})
    sbx.pd("POST", "/v1/personFields", json={"name": "Preferred language", "field_type": "varchar"})
    sbx.control("autopilot", "POST", "app/custom_field", {"name": "Shoe Size", "fieldType": "integer"})
    sbx.control("autopilot", "POST", "app/custom_field", {"name": "Webinar Count", "fieldType": "integer"})
    sbx.ap("POST", "/list", json={"name": "Trade Fair 2026"})
    sbx.pd("POST", "/v1/activityTypes", json={"name": "Site visit", "icon_key": "addressbook"})
    out = tmp_path / "starter.syncmap"

    done = init(sbx, out, "--from-env")

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # the mapping went to the file
    text = out.read_text(encoding="utf-8")
    checked = sbx.syncmap("check", str(out))
    assert checked.returncode == 0, checked.stderr
    assert "0 errors" in checked.stderr
    assert sbx.syncmap("fmt", "--check", str(out)).returncode == 0
    lines = text.splitlines()
    # Required fields are mapped, live; what is optional is there, commented.
    assert "  first_name    <-> FirstName" in lines and "  last_name     <-> LastName" in lines
    assert any(line.strip().startswith('# custom("Shoe size")') and 'custom("Shoe Size", integer)' in line and "<->" in line for line in lines)
    assert any(line.strip().startswith('# custom("Preferred language")') and '-> custom("Preferred language", string)' in line for line in lines)
    assert any(line.strip().startswith('# custom("Webinar Count")') and '<- custom("Webinar Count", integer)' in line for line in lines)
    said = comments(text)
    assert re.search(r'Lists in this account: [^.]*"Trade Fair 2026"', said)
    kinds = re.search(r"Activity types in this account: ([^.]*)\.", said)
    assert kinds is not None and "call (Call)" in kinds.group(1) and "Site visit" in kinds.group(1)


def test_a_custom_field_made_after_a_first_init_appears_in_the_next(sbx: Sandbox, tmp_path: Path) -> None:
    sbx.reset()
    before = tmp_path / "before.syncmap"
    assert init(sbx, before).returncode == 0
    assert "Loyalty Tier" not in before.read_text(encoding="utf-8")
    sbx.pd("POST", "/v1/personFields", json={"name": "Loyalty Tier", "field_type": "enum", "options": [{"label": "Gold"}]})

    after = tmp_path / "after.syncmap"
    assert init(sbx, after).returncode == 0
    assert '# custom("Loyalty Tier") -> custom("Loyalty Tier", string)' in after.read_text(encoding="utf-8")


def test_refused_credentials_say_which_and_write_nothing(sbx: Sandbox, tmp_path: Path) -> None:
    sbx.reset()
    for variable in ("PIPEDRIVE_API_TOKEN", "AUTOPILOT_API_KEY"):
        out = tmp_path / f"{variable}.syncmap"
        done = init(sbx, out, env={**sbx.run_env(), variable: "wrong"})
        assert done.returncode == 2
        assert "refused the credentials" in done.stderr and variable in done.stderr
        assert "Traceback" not in done.stderr
        assert not out.exists()


def test_a_missing_variable_is_named_and_nothing_is_written(sbx: Sandbox, tmp_path: Path) -> None:
    env = {k: v for k, v in sbx.run_env().items() if k != "AUTOPILOT_API_KEY"}
    out = tmp_path / "starter.syncmap"
    done = init(sbx, out, env=env)
    assert done.returncode == 2
    assert "set the environment variable AUTOPILOT_API_KEY" in done.stderr
    assert not out.exists()


def test_an_existing_file_is_kept_unless_forced(sbx: Sandbox, tmp_path: Path) -> None:
    sbx.reset()
    out = tmp_path / "mine.syncmap"
    out.write_text("# my own mapping\n", encoding="utf-8")
    done = init(sbx, out)
    assert done.returncode == 2 and "already exists" in done.stderr
    assert out.read_text(encoding="utf-8") == "# my own mapping\n"
    assert init(sbx, out, "--force").returncode == 0
    assert out.read_text(encoding="utf-8").startswith("# A starter mapping written by `syncmap init`")


def test_sandbox_mode_starts_its_own_sandboxes_and_prints_the_starter(tmp_path: Path) -> None:
    done = subprocess.run([*SYNCMAP, "init", "--sandbox"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "starter.syncmap"
    out.write_text(done.stdout, encoding="utf-8")
    checked = subprocess.run([*SYNCMAP, "check", str(out)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    # The sandboxes' seeded custom fields, from both sides.
    assert '# custom("Lead score") <-> custom("Lead Score", integer)' in done.stdout
    assert 'custom("Favourite Colour", string)' in done.stdout

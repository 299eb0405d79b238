"""Plans are byte-identical across processes, not only within one: the same mappings compiled
in fresh interpreters with different string hash seeds (so every set and every str-keyed hash
order differs) give the same bytes. Compiling twice in one process cannot catch code that
iterates a set: both runs see the same order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "mappings").glob("*.syncmap")) + sorted((ROOT / "tests" / "cases" / "valid").glob("*.syncmap"))

# Each child prints, per source, the digest of its YAML plan, its JSON plan, its canonical
# layout and its explanation (words and JSON, with the cost), so one differing byte anywhere
# shows which output.
CHILD = """
import hashlib, json, sys
from syncmap.compiler.api import compile_plan, format_text
from syncmap.compiler.cost import estimate
from syncmap.compiler.explain import explain_plan, render_human, render_json
from syncmap.compiler.plan import dump_json, dump_yaml

def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()

out = {}
for source in sys.argv[1:]:
    result = compile_plan(source)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    est = estimate(result.plan, 12345)
    explained = explain_plan(result.plan, est)
    out[source] = {
        "yaml": digest(dump_yaml(result.plan)),
        "json": digest(dump_json(result.plan)),
        "fmt": digest(format_text(open(source, encoding="utf-8").read(), source)[0]),
        "explain": digest(render_human(explained)),
        "explain-json": digest(render_json(explained)),
    }
print(json.dumps(out))
"""

SEEDS = ("0", "1", "2", "3", "4", "5")


def test_compiling_in_processes_with_different_hash_seeds_gives_identical_bytes() -> None:
    procs = {}
    for seed in SEEDS:
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONDONTWRITEBYTECODE="1")
        procs[seed] = subprocess.Popen(
            [sys.executable, "-c", CHILD, *map(str, SOURCES)], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    results = {}
    for seed, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        results[seed] = json.loads(stdout)
    first = results[SEEDS[0]]
    assert set(first) == {str(s) for s in SOURCES}
    for seed in SEEDS[1:]:
        differing = sorted(f"{Path(src).name}: {what}" for src in first for what in first[src] if first[src][what] != results[seed][src][what])
        assert differing == [], f"PYTHONHASHSEED={seed} differs from {SEEDS[0]}"


def test_the_child_sees_the_seed_it_was_given() -> None:
    """The check above means something only if the seeds really change hash order."""
    code = "print(hash('syncmap'))"
    hashes = {
        subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONHASHSEED=s), capture_output=True, text=True, check=True).stdout
        for s in ("1", "2")
    }
    assert len(hashes) == 2

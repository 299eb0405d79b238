"""Mutation testing of the core modules with mutmut: how many small planted bugs the tests catch.

    python bench/mutation.py                       # every module below, one after the other
    python bench/mutation.py compiler/cost.py      # one module
    python bench/mutation.py --workdir /tmp/mut …  # reuse a copy (and its cache) from a previous run

Slow (minutes per module, about 1,000 mutants in compiler/semantic.py): never part of the
normal test run or `.ci/run`. See docs/testing.md.

mutmut 2 applies each mutant to the file in place, so this script never runs it in the
checkout: it copies the committed tree (`git archive HEAD`) into a work directory beside a
link to ../shared, installs that copy editable into its own virtual environment (the
`syncmap.*` mapping must point at the copy, not at the checkout), and runs mutmut there, one
module at a time, each with the tests that exercise it. It prints, per module, the mutants
killed, survived, timed out and suspicious (killed, but much slower than the clean run; counted
as killed), and the score (killed / all; a timeout counts as not killed). A second run with the
same --workdir after adding tests or changing the module brings the copy up to date with HEAD
and retests only the mutants that were not killed (and those of new or changed lines).
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module (pyproject's [tool.mutmut] paths_to_mutate) -> the tests that exercise it; running
# all of tests/ per mutant would give the same verdicts, much more slowly
TESTS: dict[str, list[str]] = {
    "sandbox/pipedrive/ratelimit.py": [
        "tests/sandbox/test_pipedrive_limits.py", "tests/sandbox/test_pipedrive_limit_edges.py",
        "tests/sandbox/test_pipedrive_paging.py", "tests/sandbox/test_pipedrive_entities.py",
        "tests/sandbox/test_pipedrive_robustness.py",
    ],
    "sandbox/pipedrive/pagination.py": [
        "tests/sandbox/test_pipedrive_limit_edges.py", "tests/sandbox/test_pipedrive_limits.py",
        "tests/sandbox/test_pipedrive_paging.py", "tests/sandbox/test_pipedrive_entities.py",
        "tests/sandbox/test_pipedrive_robustness.py",
    ],
    "compiler/cost.py": ["tests/compiler/test_cost.py", "tests/compiler/test_cost_edges.py"],
    "compiler/lower.py": ["tests/compiler/test_cases.py", "tests/compiler/test_plan.py", "tests/compiler/test_rule_edges.py",
                          "tests/compiler/test_golden_contents.py"],
    "compiler/semantic.py": ["tests/compiler/test_cases.py", "tests/compiler/test_plan.py", "tests/compiler/test_rule_edges.py"],
    # the runtime's pure core; the end-to-end tests (minutes per mutant) are left out
    "runtime/diff.py": ["tests/runtime/test_diff.py", "tests/runtime/test_values.py"],
    "runtime/values.py": ["tests/runtime/test_diff.py", "tests/runtime/test_values.py"],
    # the server's decisions; its end-to-end tests (tests/e2e/test_serve.py) are left out the same way
    "runtime/serve/events.py": ["tests/runtime/test_serve_events.py", "tests/runtime/test_serve_worker.py"],
    "runtime/serve/worker.py": ["tests/runtime/test_serve_worker.py", "tests/runtime/test_serve_worker_flow.py"],
    # the client's pacing against both APIs' limits, and which record pairs with which
    "runtime/governor.py": ["tests/runtime/test_governor.py", "tests/runtime/test_http.py"],
    "runtime/pairing.py": ["tests/runtime/test_pairing.py", "tests/runtime/test_pairing_objects.py", "tests/runtime/test_serve_worker_flow.py"],
}  # fmt: skip


def modules() -> list[str]:
    """The modules pyproject.toml names for mutation, in its order."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["mutmut"]["paths_to_mutate"].split(",")


def copy_tree(workdir: Path, name: str = "repo") -> Path:
    """The committed tree in workdir/name, ../shared linked beside it, installed in its own venv."""
    repo = workdir / name
    if not repo.exists():
        repo.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
        shared = ROOT.parent / "shared"
        if shared.exists() and not (workdir / "shared").exists():
            (workdir / "shared").symlink_to(shared)
        subprocess.run([sys.executable, "-m", "venv", str(repo / ".venv")], check=True)
        subprocess.run([str(repo / ".venv" / "bin" / "pip"), "install", "-q", "-e", ".[test,mutation]"], cwd=repo, check=True)
    else:  # a later run: bring the copy up to date (tests and code), keep its mutmut cache
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    return repo


def counts(cache: Path, module: str) -> dict[str, int]:
    """The module's mutants per status in a mutmut cache file."""
    db = sqlite3.connect(cache)
    try:
        rows = db.execute(
            "SELECT m.status, COUNT(*) FROM Mutant m JOIN Line l ON m.line = l.id JOIN SourceFile f ON l.sourcefile = f.id "
            "WHERE f.filename = ? GROUP BY m.status",
            (module,),
        ).fetchall()
    finally:
        db.close()
    return dict(rows)


def stale(repo: Path) -> list[int]:
    """Mutants not killed whose verdict was reached against other tests than the current ones."""
    db = sqlite3.connect(repo / ".mutmut-cache")
    try:
        (current,) = db.execute("SELECT value FROM MiscData WHERE key = 'hash_of_tests'").fetchone()
        rows = db.execute("SELECT id FROM Mutant WHERE status != 'ok_killed' AND tested_against_hash != ?", (current,)).fetchall()
    finally:
        db.close()
    return [mutant for (mutant,) in rows]


def run_module(repo: Path, module: str, extra: list[str]) -> dict[str, int]:
    python = repo / ".venv" / "bin" / "python"
    runner = f"{python} -m pytest -x -q -p no:cacheprovider " + " ".join(TESTS.get(module, ["tests"]))
    cache = repo / f".mutmut-cache-{module.replace('/', '_')}"
    if cache.exists():
        os.replace(cache, repo / ".mutmut-cache")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    mutmut = [str(repo / ".venv" / "bin" / "mutmut"), "run"]
    options = ["--paths-to-mutate", module, "--runner", runner, *extra]
    subprocess.run([*mutmut, *options], cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # mutmut 2 is meant to retest, after the tests changed, every mutant they had not killed,
    # but leaves some with their old verdict: retest those one by one.
    for mutant in stale(repo):
        subprocess.run([*mutmut, str(mutant), *options], cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.replace(repo / ".mutmut-cache", cache)
    return counts(cache, module)


def run_module_parallel(workdir: Path, repo: Path, module: str, extra: list[str], jobs: int) -> dict[str, int]:
    """The same verdicts as run_module, from `jobs` copies testing different mutants at once.

    `mutmut run ID` times a clean run of the tests before every mutant, which doubles the cost of
    testing mutants one by one; here mutmut only lists the mutants (with a runner that does
    nothing) and applies each one (`mutmut apply ID`), and the tests run directly, each copy
    restoring the module after each mutant. Verdicts go into the module's mutmut cache as they
    come, so `mutmut results` and `mutmut show` read them and an interrupted run keeps them.
    """
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    cache = repo / f".mutmut-cache-{module.replace('/', '_')}"
    pristine = (repo / module).read_text()
    # List the mutants: every one mutmut tests "survives" a runner that tests nothing. With a
    # cache from an earlier run, mutmut keeps the verdicts of mutants already killed on lines
    # that did not change and lists the mutants of new or changed lines; the rest are retested.
    first = not cache.exists()
    if not first:
        os.replace(cache, repo / ".mutmut-cache")
    mutmut = [str(repo / ".venv" / "bin" / "mutmut"), "run", "--paths-to-mutate", module, "--runner", "true", *extra]
    subprocess.run(mutmut, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    os.replace(repo / ".mutmut-cache", cache)
    if first:
        with sqlite3.connect(cache) as db:
            db.execute("UPDATE Mutant SET status = 'untested'")
    with sqlite3.connect(cache) as db:
        todo = [
            mutant
            for (mutant,) in db.execute(
                "SELECT m.id FROM Mutant m JOIN Line l ON m.line = l.id JOIN SourceFile f ON l.sourcefile = f.id "
                "WHERE f.filename = ? AND m.status NOT IN ('ok_killed', 'ok_suspicious') ORDER BY m.id",
                (module,),
            )
        ]
    copies = [repo] + [copy_tree(workdir, f"repo-{k}") for k in range(1, jobs)]
    tests = [str(repo / ".venv" / "bin" / "python"), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS.get(module, ["tests"])]
    started = time.monotonic()
    subprocess.run(tests, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    # the clean run measured alone; the copies share the machine, so the limit is generous
    limit = 3 * jobs * (time.monotonic() - started) + 30
    work: queue.Queue[int] = queue.Queue()
    for mutant in todo:
        work.put(mutant)
    lock = threading.Lock()
    done = [0]

    def record(mutant: int, status: str) -> None:
        with lock, sqlite3.connect(cache) as db:
            db.execute("UPDATE Mutant SET status = ? WHERE id = ?", (status, mutant))
            done[0] += 1
            print(f"  {done[0]}/{len(todo)} mutant {mutant}: {status}", flush=True)

    def worker(copy: Path) -> None:
        own_cache = copy / ".mutmut-cache"
        shutil.copy(cache, own_cache)  # mutmut apply reads the mutant's place from the cache in its folder
        python = str(copy / ".venv" / "bin" / "python")
        try:
            while True:
                try:
                    mutant = work.get_nowait()
                except queue.Empty:
                    return
                (copy / module).write_text(pristine)
                applied = subprocess.run(
                    [str(copy / ".venv" / "bin" / "mutmut"), "apply", str(mutant)], cwd=copy, env=env, capture_output=True, check=False
                )
                if applied.returncode != 0:
                    record(mutant, "untested")
                    continue
                try:
                    result = subprocess.run(
                        [python, *tests[1:]], cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=limit, check=False
                    )
                    record(mutant, "bad_survived" if result.returncode == 0 else "ok_killed")
                except subprocess.TimeoutExpired:
                    record(mutant, "bad_timeout")
        finally:
            (copy / module).write_text(pristine)
            own_cache.unlink(missing_ok=True)

    threads = [threading.Thread(target=worker, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts(cache, module)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=modules(), help="modules to mutate (default: all of them)")
    parser.add_argument("--workdir", type=Path, help="where the copy lives (default: a new temporary directory)")
    parser.add_argument(
        "--disable-mutation-types",
        metavar="TYPES",
        help="mutmut mutation types to skip, e.g. string,fstring (message texts: faster, fewer equivalent mutants)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="test this many mutants at once, each in its own copy (the module's full run in a fraction of the time)",
    )
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in modules()]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(modules())}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="syncmap-mutation-"))
    repo = copy_tree(workdir)
    print(f"copy: {repo}   (mutmut results / mutmut show ID there, with its .mutmut-cache-<module> renamed .mutmut-cache)")
    print(f"{'module':36} {'mutants':>8} {'killed':>7} {'survived':>9} {'timeout':>8} {'suspicious':>11} {'score':>7}")
    for module in args.modules:
        extra = [f"--disable-mutation-types={args.disable_mutation_types}"] if args.disable_mutation_types else []
        c = run_module_parallel(workdir, repo, module, extra, args.jobs) if args.jobs > 1 else run_module(repo, module, extra)
        total = sum(c.values())
        killed = c.get("ok_killed", 0) + c.get("ok_suspicious", 0)  # suspicious: killed, but slowly
        score = killed / total if total else 0.0
        print(
            f"{module:36} {total:>8} {killed:>7} {c.get('bad_survived', 0):>9} {c.get('bad_timeout', 0):>8} "
            f"{c.get('ok_suspicious', 0):>11} {score:>7.1%}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

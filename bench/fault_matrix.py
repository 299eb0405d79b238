"""The fault and crash matrix of docs/reliability.md: a first two-way sync of 600 Pipedrive
persons and 150 listed Autopilot contacts (mappings/autopilot.syncmap) under each injected
fault, `syncmap run` and `syncmap sandbox` as processes over sockets, checked through the APIs.

    python bench/fault_matrix.py                  # both profiles, every row
    python bench/fault_matrix.py --profile strict --rows mixed,killed

Each row seeds the same records, injects its faults on BOTH sandboxes, runs until a run ends
(SIGKILLs first where the row says so) and checks: both systems equal to what a fault-free sync
of the same seed leaves (compared without ids), no duplicate, the mapping's mirror holds, the
same dead letters as that sync (the seed's own data problems), nothing pending or unknown in
the outbox, and a second run under the same faults writes nothing. It prints a Markdown table.
The checks are the end-to-end tests' own (tests/e2e/test_run_robustness.py).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from harness import Sandbox  # noqa: E402
from test_run_robustness import FAULTS, MAPPING, assert_exact, email_counts, kill_when, reference, run, seed  # noqa: E402

FAULT_KINDS = ("429", "500", "502", "503", "drop", "lost_answer")
DOWN = float("inf")  # an outage that outlasts the run: it ends pending (exit 4), the next run finishes
# name -> (what is injected, in words; the faults; SIGKILLs before the last run; seconds of a full Autopilot outage)
ROWS: dict[str, tuple[str, dict[str, Any], int, float]] = {
    "none": ("nothing (the reference)", {}, 0, 0.0),
    "429": ("15% 429", {"p429": 0.15}, 0, 0.0),
    "5xx": ("15% 5xx (500, 502, 503)", {"p500": 0.05, "p502": 0.05, "p503": 0.05}, 0, 0.0),
    "network": ("10% dropped connections, 5% answers lost after the write", {"p_drop": 0.10, "p_lost_answer": 0.05}, 0, 0.0),
    "latency": ("50 ms latency, 10% answers lost (a timeout)", {"latency_ms": 50, "p_lost_answer": 0.10}, 0, 0.0),
    "mixed": ("18%: 8% 429, 6% 5xx, 2% drops, 2% lost answers, 5 ms latency", FAULTS, 0, 0.0),
    "killed": ("mixed, and SIGKILL at 3 random points, then a restart", FAULTS, 3, 0.0),
    "outage": ("mixed, and Autopilot answering only 503 for 4 s mid-run", FAULTS, 0, 4.0),
    "down": ("mixed, and Autopilot answering only 503 from mid-run to the run's end; then a second run", FAULTS, 0, DOWN),
}


def outage(sbx: Sandbox, seconds: float, faults: dict[str, Any]) -> threading.Thread:
    """Autopilot refuses everything from the first Pipedrive person read for `seconds`."""

    def cut() -> None:
        deadline = time.monotonic() + 60
        while not any(r["path"].startswith("/api/v2/persons") for r in sbx.requests("pipedrive")) and time.monotonic() < deadline:
            time.sleep(0.02)
        sbx.control("autopilot", "PUT", "faults", {"p503": 1.0})
        if seconds == DOWN:
            return  # healed by `row` once the run ended
        time.sleep(seconds)
        sbx.control("autopilot", "PUT", "faults", {**faults, "seed": 8})

    thread = threading.Thread(target=cut, daemon=True)
    thread.start()
    return thread


def row(sbx: Sandbox, name: str) -> dict[str, Any]:
    words, faults, kills, down = ROWS[name]
    seeded = seed(sbx)
    before = email_counts(sbx)
    sbx.clear_log()
    sbx.faults(**faults, seed=11)
    met: Counter[str] = Counter()
    codes, started = [], time.monotonic()
    chance = random.Random(17)
    for upto in (700, 250, 100)[:kills]:
        point = chance.randrange(20, upto)
        proc = sbx.start("run", MAPPING, "--state", sbx.state)
        kill_when(sbx, proc, lambda: len(sbx.requests("pipedrive")) + len(sbx.requests("autopilot")) >= point, f"request {point}")  # noqa: B023
        codes.append(f"killed@{point}")
        for system in ("pipedrive", "autopilot"):
            met.update(r.get("fault") for r in sbx.requests(system))
        sbx.clear_log()
    cut = outage(sbx, down, faults) if down else None
    done = run(sbx)
    if cut:
        cut.join()
    if down == DOWN:  # the run had to stop with writes pending: they wait for the next run
        codes.append(str(done.returncode))
        left = json.loads(done.stdout)["outbox"]["pending"]
        waiting = len(json.loads(sbx.syncmap("status", "--state", sbx.state, "--format", "json").stdout)["pending_writes"])
        codes.append(f"({left} pending, {waiting} intents in status)")
        for system in ("pipedrive", "autopilot"):
            met.update(r.get("fault") for r in sbx.requests(system))
        sbx.clear_log()
        sbx.faults(**faults, seed=8)
        done = run(sbx)
    wall = time.monotonic() - started
    for system in ("pipedrive", "autopilot"):
        met.update(r.get("fault") for r in sbx.requests(system))
    codes.append(str(done.returncode))
    summary = json.loads(done.stdout)
    check = "exact; second run wrote 0"
    try:
        assert done.returncode in (0, 1), f"exit {done.returncode}: {summary['notes']}"
        assert_exact(sbx, summary, before, seeded)
    except AssertionError as failed:
        check = "FAILED: " + " ".join(str(failed).split())[:200]
    sbx.faults()
    apis = summary["apis"]
    return {
        "injected": words,
        "runs": " → ".join(codes),
        "faults met": ", ".join(f"{k} {met[k]}" for k in FAULT_KINDS if met[k]) or "-",
        "outbox": "{unknown}/{found}/{retried}/{pending}".format(**summary["outbox"]),
        "requests": f"{apis['pipedrive']['requests']} / {apis['autopilot']['requests']}",
        "wall s": f"{wall:.1f}",
        "checked": check,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=("default", "strict", "both"), default="both")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    args = parser.parse_args()
    names = [n for n in args.rows.split(",") if n]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows: {', '.join(unknown)}")
    results = []
    for profile in ("default", "strict") if args.profile == "both" else (args.profile,):
        sbx = Sandbox(profile)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                sbx.state = str(Path(tmp) / "reference.db")  # type: ignore[attr-defined]
                reference(sbx)
                for name in names:
                    sbx.state = str(Path(tmp) / f"{name}.db")  # type: ignore[attr-defined]
                    results.append({"profile": profile, **row(sbx, name)})
                    print(f"{profile} {name}: {results[-1]['checked']}", file=sys.stderr)
        finally:
            sbx.close()
    columns = list(results[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for result in results:
        print("| " + " | ".join(str(result[c]) for c in columns) + " |")
    print(
        "\noutbox: creates of an unknown outcome looked up / found applied / writes sent again in a later round / left pending."
        "\nrequests: Pipedrive / Autopilot, of the last run (a killed run's are not counted). runs: exit codes, in order."
    )
    if any(r["checked"].startswith("FAILED") for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Initial sync as a user runs it: `syncmap run` (a process) against `syncmap sandbox` (a process).

    python bench/initial_sync.py --records 10000 --plan advanced --time-scale 50
    python bench/initial_sync.py --records 100000 --direction pd-to-ap --time-scale 200

Scenarios (`--direction`, default all three):
  pd-to-ap   bench/mappings/pipedrive-to-autopilot.syncmap: N Pipedrive persons, empty Autopilot
  ap-to-pd   bench/mappings/autopilot-to-pipedrive.syncmap: N contacts on the scope list, empty Pipedrive
  two-way    mappings/autopilot.syncmap: N persons, N contacts of which N/10 on the list

For each it prints requests and Pipedrive tokens against the minimum the work needs, wall time
against the least time the rate limits allow (on the sandbox clock, scaled by S), the runtime's
peak RSS, and the writes of a no-op re-run (must be 0). The sandbox's clock runs S times faster
and the runtime is told so (SYNCMAP_SANDBOX_TIME_SCALE), so limits bind exactly as in production,
S times sooner.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SYNCMAP = [sys.executable, "-m", "syncmap.runtime.cli"]
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
MAPPINGS = {
    "pd-to-ap": ROOT / "bench" / "mappings" / "pipedrive-to-autopilot.syncmap",
    "ap-to-pd": ROOT / "bench" / "mappings" / "autopilot-to-pipedrive.syncmap",
    "two-way": ROOT / "mappings" / "autopilot.syncmap",
}
LIST = "Pipedrive Contacts"


def limits(plan: str) -> tuple[int, int, float]:
    """(burst per 2 s, daily tokens, Autopilot requests/s) from the same data `explain` uses."""
    from syncmap.compiler.cost import load_limits

    data = load_limits()
    tier = data["pipedrive"]["plans"][plan]
    budget = data["pipedrive"]["daily_budget_base"]["value"] * tier["multiplier"]["value"]
    return int(tier["burst"]["value"]), int(budget), float(data["autopilot"]["rate_per_second"]["value"])


class Sandbox:
    def __init__(self, plan: str, scale: float, profile: str) -> None:
        args = [*SYNCMAP, "sandbox", "--pipedrive-port", "0", "--autopilot-port", "0", "--time-scale", str(scale), "--plan", plan]
        if profile != "default":
            args += ["--profile", profile]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        self.env: dict[str, str] = {}
        while len(self.env) < 4:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("the sandbox did not start")
            if "=" in line and not line.startswith("#"):
                key, _, value = line.strip().partition("=")
                self.env[key] = value
        self.pd = self.env["PIPEDRIVE_BASE_URL"]
        self.ap = self.env["AUTOPILOT_BASE_URL"].removesuffix("/v1")
        self.http = httpx.Client(timeout=600)

    def control(self, root: str, method: str, path: str, body: object = None) -> object:
        answer = self.http.request(method, f"{root}/__sandbox__/{path}", json=body)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def log(self, root: str) -> list[dict]:
        data = self.control(root, "GET", "requests")
        return data if isinstance(data, list) else data["requests"]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def seed(sbx: Sandbox, direction: str, n: int) -> dict[str, int]:
    started = time.perf_counter()
    facts: dict[str, int] = {}
    if direction in ("pd-to-ap", "two-way"):
        sbx.control(sbx.pd, "POST", "seed", {"n": n, "seed": 1})
        facts["persons"] = n
    if direction in ("ap-to-pd", "two-way"):
        sbx.control(sbx.ap, "POST", "seed", {"n": n, "seed": 2})
        headers = {"autopilotapikey": sbx.env["AUTOPILOT_API_KEY"]}
        list_id = sbx.http.post(f"{sbx.ap}/v1/list", json={"name": LIST}, headers=headers).json()["list_id"]
        contacts, path = [], "/v1/contacts"
        while True:
            page = sbx.http.get(f"{sbx.ap}{path}", headers=headers)
            if page.status_code == 429:
                time.sleep(0.05)
                continue
            body = page.json()
            contacts += body["contacts"]
            if not body.get("bookmark"):
                break
            path = f"/v1/contacts/{body['bookmark']}"
        members = contacts if direction == "ap-to-pd" else contacts[: max(1, n // 10)]
        for contact in members:
            sbx.control(sbx.ap, "POST", f"app/list/{list_id}/contact/{contact['contact_id']}")
        facts["members"] = len(members)
        facts["member_emails"] = len({c["Email"].lower() for c in members if c.get("Email")})
        complete = {c["Email"].lower() for c in members if c.get("Email") and c.get("FirstName") and c.get("LastName")}
        facts["complete_members"] = len(complete)
        facts["complete_member_emails"] = complete
    for root in (sbx.pd, sbx.ap):
        sbx.control(root, "DELETE", "requests")
    facts["seed_seconds"] = round(time.perf_counter() - started, 1)
    return facts


def run_syncmap(sbx: Sandbox, mapping: Path, state: Path, scale: float) -> tuple[float, int, dict]:
    env = {**os.environ, **sbx.env, "SYNCMAP_SANDBOX_TIME_SCALE": str(scale)}
    started = time.perf_counter()
    done = subprocess.run(
        [*SYNCMAP, "run", str(mapping), "--state", str(state), "--format", "json"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"syncmap run failed ({done.returncode}):\n{done.stderr}\n{done.stdout[-3000:]}")
    return seconds, done.returncode, json.loads(done.stdout)


def primary_emails(sbx: Sandbox) -> set[str]:
    emails, cursor = set(), None
    headers = {"x-api-token": sbx.env["PIPEDRIVE_API_TOKEN"]}
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        answer = sbx.http.get(f"{sbx.pd}/api/v2/persons", params=params, headers=headers)
        if answer.status_code == 429:  # the bench is a client too: wait for the window
            time.sleep(0.2)
            continue
        answer.raise_for_status()
        body = answer.json()
        for person in body["data"] or []:
            primary = next((e["value"] for e in person.get("emails") or [] if e.get("primary")), None)
            if primary:
                emails.add(primary.strip().lower())
        cursor = (body.get("additional_data") or {}).get("next_cursor")
        if not cursor:
            return emails


def scenario(direction: str, n: int, plan: str, scale: float, profile: str) -> dict:
    burst, budget, rate = limits(plan)
    sbx = Sandbox(plan, scale, profile)
    try:
        facts = seed(sbx, direction, n)
        # The yardstick, from the work itself (see this file's docstring and issue 8). Set-up
        # calls count too, one each, as the work needs them: Pipedrive /v1/users/me (the
        # connection check and `me`), Autopilot /account (the connection check), and for the
        # two-way mapping /v1/users (owner names), /v1/personFields and the apId field's
        # creation, the organizations (organization.name) and /lists.
        if direction == "pd-to-ap":
            emails = primary_emails(sbx)
            minimum = {"pipedrive": 1 + math.ceil(n / 500), "autopilot": 1 + math.ceil(len(emails) / 100)}
        elif direction == "ap-to-pd":
            minimum = {"pipedrive": 1 + 1 + facts["complete_members"], "autopilot": 1 + 1 + math.ceil(facts["members"] / 100)}
        else:
            emails = primary_emails(sbx)
            creates = len(facts["complete_member_emails"] - emails)
            orgs = math.ceil(max(1, n // 5) / 500)
            # person pages + one link-field write per person paired (R11) + one create per new
            # list member; roster pages + upserts + one upsert per 100 created persons (owner name)
            minimum = {
                "pipedrive": 5 + orgs - 1 + math.ceil(n / 500) + len(emails) + creates,
                "autopilot": 2 + math.ceil(facts["members"] / 100) + math.ceil(len(emails) / 100) + math.ceil(creates / 100),
            }
        for root in (sbx.pd, sbx.ap):
            sbx.control(root, "DELETE", "requests")
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp) / "state.db"
            seconds, code, summary = run_syncmap(sbx, MAPPINGS[direction], state, scale)
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            pd_log, ap_log = sbx.log(sbx.pd), sbx.log(sbx.ap)
            pd_requests, ap_requests = len(pd_log), len(ap_log)
            tokens = sum(r.get("tokens") or 0 for r in pd_log)
            by_kind = Counter(f"{r['method']} {r['path'].split('/')[3] if r['path'].startswith('/api/v2') else r['path']}" for r in pd_log)
            # The least time the limits allow, on the sandbox clock, then in real seconds.
            bound = max(pd_requests * 2.0 / burst, ap_requests / rate, 86_400.0 * max(0, math.ceil(tokens / budget) - 1)) / scale
            for root in (sbx.pd, sbx.ap):
                sbx.control(root, "DELETE", "requests")
            run_syncmap(sbx, MAPPINGS[direction], state, scale)
            rerun_writes = sum(1 for root in (sbx.pd, sbx.ap) for r in sbx.log(root) if r["method"] in WRITES)
        return {
            "direction": direction,
            "records": n,
            "plan": plan,
            "time_scale": scale,
            "profile": profile,
            **{k: v for k, v in facts.items() if not isinstance(v, set)},
            "exit": code,
            "pipedrive_requests": pd_requests,
            "pipedrive_minimum": minimum["pipedrive"],
            "autopilot_requests": ap_requests,
            "autopilot_minimum": minimum["autopilot"],
            "requests_ratio": round((pd_requests + ap_requests) / max(1, minimum["pipedrive"] + minimum["autopilot"]), 3),
            "pipedrive_tokens": tokens,
            "seconds": round(seconds, 2),
            "rate_limit_bound_seconds": round(bound, 2),
            "time_ratio": round(seconds / bound, 2) if bound else None,
            "peak_rss_mb": round(peak_mb, 1),
            "noop_rerun_writes": rerun_writes,
            "explain_predicted": summary.get("explain_predicted"),
            "pipedrive_calls": dict(by_kind.most_common(8)),
        }
    finally:
        sbx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--plan", default="advanced", help="the Pipedrive plan whose limits apply")
    parser.add_argument("--time-scale", type=float, default=50.0)
    parser.add_argument("--direction", choices=[*MAPPINGS, "all"], default="all")
    parser.add_argument("--profile", choices=["default", "strict"], default="default")
    args = parser.parse_args()
    directions = list(MAPPINGS) if args.direction == "all" else [args.direction]
    for direction in directions:
        result = scenario(direction, args.records, args.plan, args.time_scale, args.profile)
        print(json.dumps(result, indent=2))
        print(
            f"# {direction}: requests {result['pipedrive_requests'] + result['autopilot_requests']} vs minimum "
            f"{result['pipedrive_minimum'] + result['autopilot_minimum']} ({result['requests_ratio']}x, target <= 1.05); "
            f"time {result['seconds']} s vs bound {result['rate_limit_bound_seconds']} s ({result['time_ratio']}x, target <= 1.2); "
            f"peak RSS {result['peak_rss_mb']} MB (target < 200); no-op re-run writes {result['noop_rerun_writes']} (target 0)",
            flush=True,
        )


if __name__ == "__main__":
    main()

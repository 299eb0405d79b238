"""End-to-end harness: `syncmap sandbox` and `syncmap run` as real processes over real sockets.

Nothing here reaches into the sandbox's memory: tests look at both systems through their APIs
and through the sandbox's request log, as a person with curl would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"
SYNCMAP = [sys.executable, "-m", "syncmap.runtime.cli"]
TIME_SCALE = 20.0  # sandbox clocks run this much faster; the runtime's governors are told so
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
# The head of a mapping a test writes: both connections from the environment `run_env` sets.
CONNECT = """syncmap 1

connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
  base_url = env("PIPEDRIVE_BASE_URL")
}

connect autopilot {
  key = env("AUTOPILOT_API_KEY")
  base_url = env("AUTOPILOT_BASE_URL")
}
"""


class Sandbox:
    """One `syncmap sandbox` process (both APIs) and clients for its API and control routes."""

    def __init__(self, profile: str, time_scale: float = TIME_SCALE) -> None:
        self.profile = profile
        self.time_scale = time_scale  # 1: the sandbox's limits and webhook retries on the real clock
        args = [*SYNCMAP, "sandbox", "--pipedrive-port", "0", "--autopilot-port", "0", "--time-scale", str(time_scale)]
        if profile != "default":
            args += ["--profile", profile]
        # stderr goes to a file: a pipe nobody reads fills up (uvicorn logs a traceback for each
        # dropped connection) and then blocks the sandbox mid-answer.
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=ROOT)
        self.env: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while len(self.env) < 4:
            line = self.proc.stdout.readline()
            if not line:
                self.stderr.seek(0)
                raise RuntimeError(f"the sandbox did not start: {self.stderr.read()}")
            if "=" in line and not line.startswith("#"):
                name, _, value = line.strip().partition("=")
                self.env[name] = value
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not print its environment in time")
        self.pd_root = self.env["PIPEDRIVE_BASE_URL"]
        self.ap_base = self.env["AUTOPILOT_BASE_URL"]
        self.ap_root = self.ap_base.removesuffix("/v1")
        self.http = httpx.Client(timeout=30)

    def close(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.stderr.close()

    # -- control --------------------------------------------------------------------------------
    def control(self, system: str, method: str, path: str, body: Any = None) -> Any:
        root = self.pd_root if system == "pipedrive" else self.ap_root
        answer = self.http.request(method, f"{root}/__sandbox__/{path}", json=body)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def reset(self, *, pipedrive: int = 0, autopilot: int = 0, seed: int = 0) -> None:
        for system, count in (("pipedrive", pipedrive), ("autopilot", autopilot)):
            self.control(system, "POST", "reset")
            if count:
                self.control(system, "POST", "seed", {"n": count, "seed": seed})

    def requests(self, system: str) -> list[dict[str, Any]]:
        data = self.control(system, "GET", "requests")
        return data if isinstance(data, list) else data["requests"]

    def writes(self, system: str) -> list[tuple[str, str, int]]:
        return [(r["method"], r["path"], r["status"]) for r in self.requests(system) if r["method"] in WRITES]

    def clear_log(self) -> None:
        for system in ("pipedrive", "autopilot"):
            self.control(system, "DELETE", "requests")

    def faults(self, **settings: Any) -> None:
        for system in ("pipedrive", "autopilot"):
            self.control(system, "PUT", "faults", settings)

    # -- the APIs, as any client sees them -------------------------------------------------------
    def pd(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, f"{self.pd_root}{path}", headers={"x-api-token": self.env["PIPEDRIVE_API_TOKEN"]}, **kwargs)
        assert answer.status_code < 300, (path, answer.status_code, answer.text)
        return answer.json()

    def ap(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, f"{self.ap_base}{path}", headers={"autopilotapikey": self.env["AUTOPILOT_API_KEY"]}, **kwargs)
        if answer.status_code == 429:  # the sandbox's own rate limit: tests are clients too
            time.sleep(1.0 / self.time_scale + 0.05)
            return self.ap(method, path, **kwargs)
        assert answer.status_code < 300 or answer.status_code == 404, (path, answer.status_code, answer.text)
        return answer.json() if answer.status_code != 404 and answer.content else None

    def persons(self) -> list[dict[str, Any]]:
        return list(self._pd_pages("/api/v2/persons"))

    def _pd_pages(self, path: str) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            body = self.pd("GET", path, params={"limit": 500, **({"cursor": cursor} if cursor else {})})
            yield from body["data"] or []
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return

    def contacts(self) -> list[dict[str, Any]]:
        out, path = [], "/contacts"
        while True:
            body = self.ap("GET", path)
            out += body.get("contacts") or []
            if not body.get("bookmark"):
                return out
            path = f"/contacts/{body['bookmark']}"

    def list_id(self, title: str) -> str | None:
        return next((lst["list_id"] for lst in self.ap("GET", "/lists")["lists"] if lst["title"] == title), None)

    def roster(self, title: str) -> set[str]:
        list_id = self.list_id(title)
        if list_id is None:
            return set()
        ids, path = set(), f"/list/{list_id}/contacts"
        while True:
            body = self.ap("GET", path)
            if body is None:
                return ids
            ids |= {c["contact_id"] for c in body.get("contacts") or []}
            if not body.get("bookmark"):
                return ids
            path = f"/list/{list_id}/contacts/{body['bookmark']}"

    def person_fields(self) -> dict[str, str]:
        return {f["name"]: f["key"] for f in self.pd("GET", "/v1/personFields", params={"limit": 500})["data"]}

    # -- syncmap itself ----------------------------------------------------------------------------
    def run_env(self) -> dict[str, str]:
        return {**os.environ, **self.env, "SYNCMAP_SANDBOX_TIME_SCALE": str(self.time_scale)}

    def syncmap(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*SYNCMAP, *args], env=self.run_env(), cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*SYNCMAP, *args], env=self.run_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def primary(items: list[dict[str, Any]] | None) -> str | None:
    for item in items or ():
        if item.get("primary"):
            return item.get("value")
    return (items or [{}])[0].get("value") if items else None


class Server:
    """`syncmap serve` as a process on a free port, its stderr in a file (never a full pipe)."""

    def __init__(self, sbx: Sandbox, source: str | Path, log: Path, *args: str) -> None:
        assert not log.exists(), "one log per Server: its start is found by counting the lines that announce it"
        self.sbx, self.source, self.log_path = sbx, str(source), log
        self.args = args
        self.start()

    def start(self) -> None:
        self.log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()/kill()
        command = [*SYNCMAP, "serve", self.source, "--port", "0", "--state", self.sbx.state, *self.args]
        self.proc = subprocess.Popen(command, env=self.sbx.run_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        deadline = time.monotonic() + 60
        while True:
            text = self.log_path.read_text()
            found = [line for line in text.splitlines() if "listening on " in line]
            if found and len(found) > getattr(self, "_starts", 0):
                self._starts = len(found)
                address = found[-1].split("listening on ", 1)[1].split(";")[0]
                self.url = f"http://{address}"
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"syncmap serve did not start (exit {self.proc.poll()}):\n{text}")
            time.sleep(0.05)
        self.http = httpx.Client(timeout=30)
        creds = json.loads(self.sbx.syncmap("serve", self.source, "--state", self.sbx.state, "--show-credentials").stdout)
        self.auth = (creds["user"], creds["password"])
        self.token = creds["token"]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.http.close()
        self.log.close()
        return code

    def output(self) -> str:
        return self.log_path.read_text()

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", **kwargs)

    def metrics(self) -> dict[str, float]:
        """`name{labels}` -> value, from /metrics as Prometheus scrapes it."""
        text = self.http.get(f"{self.url}/metrics").text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def settled(self, timeout: float = 30) -> dict[str, float]:
        """Wait until both sandboxes have sent every delivery and the server has processed all."""
        deadline = time.monotonic() + timeout
        while True:
            self.sbx.control("pipedrive", "POST", "webhooks/drain")
            health = self.http.get(f"{self.url}/healthz").json()
            if health["queue"] == 0:
                time.sleep(0.3)  # a delivery in flight lands in the inbox first
                if self.http.get(f"{self.url}/healthz").json()["queue"] == 0:
                    return self.metrics()
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not settle: {health}\n{self.output()}")
            time.sleep(0.1)


def eventually(check: Any, timeout: float = 20, what: str = "") -> Any:
    """Poll `check()` until it returns something truthy; its last value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)

"""End-to-end harness: `syncmap sandbox` and `syncmap run` as real processes over real sockets.

Nothing here reaches into the sandbox's memory: tests look at both systems through their APIs
and through the sandbox's request log, as a person with curl would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


class Sandbox:
    """One `syncmap sandbox` process (both APIs) and clients for its API and control routes."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        args = [*SYNCMAP, "sandbox", "--pipedrive-port", "0", "--autopilot-port", "0", "--time-scale", str(TIME_SCALE)]
        if profile != "default":
            args += ["--profile", profile]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.env: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while len(self.env) < 4:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the sandbox did not start: {self.proc.stderr.read()}")
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
            time.sleep(1.0 / TIME_SCALE + 0.05)
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
        return {**os.environ, **self.env, "SYNCMAP_SANDBOX_TIME_SCALE": str(TIME_SCALE)}

    def syncmap(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*SYNCMAP, *args], env=self.run_env(), cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*SYNCMAP, *args], env=self.run_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def primary(items: list[dict[str, Any]] | None) -> str | None:
    for item in items or ():
        if item.get("primary"):
            return item.get("value")
    return (items or [{}])[0].get("value") if items else None

"""`syncmap sandbox` and `sandbox.serve` over real loopback sockets."""

from __future__ import annotations

import asyncio
import queue
import signal
import socket
import subprocess
import sys
import threading

import httpx
import pytest

from syncmap.sandbox.autopilot import create_app as create_autopilot
from syncmap.sandbox.serve import serve_app, serve_apps

CLI = [sys.executable, "-c", "from syncmap.runtime.cli import main; main()", "sandbox"]


def test_serve_apps_answers_over_sockets_and_stops() -> None:
    async def scenario() -> None:
        apps = {"a": create_autopilot(api_key="k", rate_per_second=None), "b": create_autopilot(api_key="other")}
        async with serve_apps(apps) as urls:
            assert set(urls) == {"a", "b"} and urls["a"] != urls["b"]
            assert all(u.startswith("http://127.0.0.1:") for u in urls.values())
            async with httpx.AsyncClient(base_url=urls["a"], headers={"autopilotapikey": "k"}) as http:
                assert (await http.post("/__sandbox__/seed", json={"n": 120, "seed": 1})).status_code == 200
                page = (await http.get("/v1/contacts")).json()
                assert page["total_contacts"] == 120 and len(page["contacts"]) == 100
                assert (await http.get(f"{urls['b']}/v1/contacts")).status_code == 401  # the other server, other key
                await http.put("/__sandbox__/faults", json={"p_drop": 1.0})
                with pytest.raises(httpx.RemoteProtocolError):
                    await http.get("/v1/account")
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as http:
                await http.get(f"{urls['a']}/v1/account")

    asyncio.run(scenario())


def test_serve_app_refuses_a_busy_port() -> None:
    async def scenario() -> None:
        async with serve_app(create_autopilot()) as url:
            port = int(url.rsplit(":", 1)[1])
            with pytest.raises(OSError):
                async with serve_app(create_autopilot(), port=port):
                    pass

    asyncio.run(scenario())


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_syncmap_sandbox_serves_both_until_interrupted() -> None:
    options = [
        "--pipedrive-port",
        "0",
        "--autopilot-port",
        "0",
        "--seed",
        "30",
        "--profile",
        "strict",
        "--pipedrive-token",
        "pd-token",
        "--autopilot-key",
        "ap-key",
        "--plan",
        "essential",
    ]
    proc = subprocess.Popen(CLI + options, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines, env, comments = _lines(proc), {}, []
        while len(env) < 4:
            line = lines.get(timeout=20)
            if line.startswith("#"):
                comments.append(line)
            else:
                name, _, value = line.partition("=")
                env[name] = value
        assert list(env) == ["PIPEDRIVE_BASE_URL", "PIPEDRIVE_API_TOKEN", "AUTOPILOT_BASE_URL", "AUTOPILOT_API_KEY"]
        assert env["PIPEDRIVE_API_TOKEN"] == "pd-token" and env["AUTOPILOT_API_KEY"] == "ap-key"
        assert env["AUTOPILOT_BASE_URL"].startswith("http://127.0.0.1:") and env["AUTOPILOT_BASE_URL"].endswith("/v1")
        assert any(env["PIPEDRIVE_BASE_URL"] in c for c in comments)
        assert "(plan essential, profile strict)" in comments[0] and comments[1].endswith("(profile strict)")

        autopilot = httpx.get(f"{env['AUTOPILOT_BASE_URL']}/contacts", headers={"autopilotapikey": "ap-key"})
        assert autopilot.status_code == 200 and autopilot.json()["total_contacts"] == 30
        persons = httpx.get(f"{env['PIPEDRIVE_BASE_URL']}/api/v2/persons", headers={"x-api-token": "pd-token"})
        assert persons.status_code == 200 and persons.json()["data"]
        assert httpx.get(f"{env['PIPEDRIVE_BASE_URL']}/api/v2/persons", headers={"x-api-token": "nope"}).status_code == 401
        query_token = httpx.get(f"{env['PIPEDRIVE_BASE_URL']}/api/v2/persons", params={"api_token": "pd-token"})
        assert query_token.status_code == 401  # the strict profile refuses ?api_token=

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{env['AUTOPILOT_BASE_URL']}/account")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_syncmap_sandbox_reports_a_busy_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(CLI + ["--pipedrive-port", "0", "--autopilot-port", str(port)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "cannot listen on 127.0.0.1" in done.stderr and done.stdout == ""


def test_syncmap_sandbox_rejects_an_unknown_plan() -> None:
    done = subprocess.run(CLI + ["--plan", "gold"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "gold" in done.stderr


def test_syncmap_sandbox_rejects_an_unknown_profile() -> None:
    done = subprocess.run(CLI + ["--profile", "harsh"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "harsh" in done.stderr and "strict" in done.stderr

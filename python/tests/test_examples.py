"""examples/fastapi_app.py through a real uvicorn and a real gateway (when FastAPI is importable:
Debian's python3-fastapi), and the package built offline as pip would."""

import importlib.metadata
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
from support import API_KEY, JWT_SECRET, ROOT, Gateway, WebSocket, types

HAS_FASTAPI = all(importlib.util.find_spec(m) is not None for m in ("fastapi", "uvicorn"))
AGENT_SECRET = "fastapi-agent-secret"


@pytest.fixture
def fastapi_app(gateway: Gateway) -> Iterator[str]:
    import uvicorn

    env = {"AGENTCAST_URL": gateway.url, "AGENTCAST_API_KEY": API_KEY, "AGENTCAST_AGENT_SECRET": AGENT_SECRET,
           "AGENTCAST_JWT_SECRET": JWT_SECRET}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from examples.fastapi_app import app

    class Server(uvicorn.Server):
        def install_signal_handlers(self) -> None:
            pass  # runs in a thread; the test process keeps its own handlers

    sock = socket.create_server(("127.0.0.1", 0))
    server = Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start in 10 s")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.skipif(not HAS_FASTAPI, reason="FastAPI/uvicorn not importable (apt-get install python3-fastapi)")
@pytest.mark.parametrize("fmt", ["agentcast", "ag-ui"])
def test_fastapi_webhook_through_a_gateway(fastapi_app: str, fmt: str) -> None:
    gateway = Gateway("--default-agent", "webhook", "--agent-url", f"{fastapi_app}/agentcast/webhook?format={fmt}",
                      "--agent-secret", AGENT_SECRET)
    try:
        with urllib.request.urlopen(f"{fastapi_app}/agentcast-token?user=f1", timeout=10) as res:
            token = json.load(res)["token"]
        ws = WebSocket(gateway.port, token)
        assert ws.recv() is not None
        run = ws.run("three short words")
        ws.close()
    finally:
        gateway.close()
    assert types(run) == ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                          "stream_chunk", "agent_completed"]
    assert run[-1]["data"]["final_response"] == "3 words."


@pytest.mark.skipif(not HAS_FASTAPI, reason="FastAPI/uvicorn not importable (apt-get install python3-fastapi)")
def test_fastapi_refuses_a_bad_signature_and_publishes_a_report(fastapi_app: str, gateway: Gateway) -> None:
    bad = urllib.request.Request(f"{fastapi_app}/agentcast/webhook", data=b"{}", method="POST",
                                 headers={"X-Agentcast-Timestamp": str(int(time.time())),
                                          "X-Agentcast-Signature": "sha256=" + "0" * 64})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=10)
    assert refused.value.code == 401
    start = urllib.request.Request(f"{fastapi_app}/reports/f2?topic=python", data=b"", method="POST")
    with urllib.request.urlopen(start, timeout=10) as res:
        assert res.status == 202
    deadline = time.monotonic() + 10
    while len(gateway.history("f2")) < 5:
        assert time.monotonic() < deadline, "the report run was not published within 10 s"
        time.sleep(0.05)
    events = gateway.history("f2")
    assert types(events) == ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                             "stream_chunk", "agent_completed"]
    assert events[0]["data"] == {"agent_name": "reporter", "task_description": "python"}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def test_the_package_builds_offline_as_pip_install_does(tmp_path: Path) -> None:
    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("pip or setuptools missing (apt-get install python3-pip python3-setuptools)")
    # setuptools before 70.1 builds wheels only with the separate `wheel` package (python3-wheel).
    if importlib.util.find_spec("wheel") is None and _version(importlib.metadata.version("setuptools")) < (70, 1):
        pytest.skip("this setuptools needs the wheel package to build a wheel (apt-get install python3-wheel)")
    # A copy: setuptools writes build/ and *.egg-info next to the sources it builds.
    source = tmp_path / "src"
    shutil.copytree(ROOT / "python", source,
                    ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    out = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index",
         "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    [wheel] = out.glob("agentcast-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "agentcast/py.typed" in names and "agentcast/publisher.py" in names
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Python: >=3.9" in text and "Requires-Dist" not in text

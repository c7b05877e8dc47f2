"""The python blocks of python/README.md, run against a real gateway (its URL and API key put in)."""

import os
import re
import subprocess
import sys

import pytest
from support import API_KEY, ROOT, Gateway

README = (ROOT / "python" / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
#: Blocks not run here: servers that serve forever; test_webhook.py and test_examples.py run their code.
SERVERS = ("serve_forever(", "FastAPI()")
RUNNABLE = [b for b in BLOCKS if not any(s in b for s in SERVERS)]


def test_every_block_is_run_or_a_server() -> None:
    assert len(BLOCKS) == 6 and len(RUNNABLE) == 4


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.splitlines()[0][:40] for b in RUNNABLE])
def test_block_runs(gateway: Gateway, block: str) -> None:
    code = block.replace("http://127.0.0.1:8080", gateway.url).replace("dev-api-key-123456", API_KEY)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python"), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    if "publish_batch" in block:
        assert done.stdout.startswith('400 INVALID_MESSAGE type: "welcome" is reserved')
    if "run.run_id" in block:
        assert done.stdout.startswith("r_py_")

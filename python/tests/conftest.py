import sys
from pathlib import Path
from typing import Iterator

import pytest

# The package from this checkout (python/), whether or not it is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import DroppingProxy, Gateway  # noqa: E402


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    """One gateway per test module: each test uses user ids of its own."""
    g = Gateway()
    yield g
    g.close()


@pytest.fixture
def dropping_proxy(gateway: Gateway) -> Iterator[DroppingProxy]:
    proxy = DroppingProxy(gateway.port)
    yield proxy
    proxy.close()

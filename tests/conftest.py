import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dockerd  # found through the sys.path entry just above

# `auditor audit` writes a PDF by default; rendering it takes seconds, so the suite skips it
# (tests/test_report_pdf.py renders PDFs on purpose and checks the default).
os.environ.setdefault("AUDITOR_NO_PDF", "1")


@pytest.fixture(scope="session")
def docker_host() -> str:
    """The system dockerd (.ci/run starts it); the tests that need it skip when none answers."""
    if not dockerd.answers(dockerd.SYSTEM_HOST):
        pytest.skip(f"no dockerd answers at {dockerd.SYSTEM_HOST} (start one: dockerd --iptables=false &)")
    return dockerd.SYSTEM_HOST


@pytest.fixture(scope="session")
def busybox_image(docker_host: str) -> str:
    """The locally imported busybox image (never pulled); returns its tag."""
    dockerd.ensure_busybox(docker_host)
    return dockerd.BUSYBOX_IMAGE


@pytest.fixture
def test_containers(docker_host: str) -> Iterator[str]:
    """The system dockerd; removes the containers this test run made once the test ends."""
    yield docker_host
    dockerd.remove_test_containers(docker_host)


@pytest.fixture
def second_dockerd():
    """The context manager starting another dockerd: `with second_dockerd({"icc": False}) as host:`."""
    if not dockerd.answers(dockerd.SYSTEM_HOST) and not os.path.exists("/usr/sbin/dockerd"):
        pytest.skip("dockerd is not installed")
    return dockerd.second_dockerd

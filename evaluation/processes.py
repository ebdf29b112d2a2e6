"""Starting the service for a measurement: a free loopback port, and waiting until ``/health`` answers."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 300, log: Path | None = None) -> None:
    """Until ``GET {url}/health`` answers 200; raises when ``proc`` exits first (with its log's tail) or on timeout."""
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = f":\n{log.read_text(errors='replace')[-2000:]}" if log is not None else ""
            raise RuntimeError(f"the service exited during start-up{tail}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the service did not load its models in time")

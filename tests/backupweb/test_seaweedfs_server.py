"""The tests' S3-compatible server (tests/servers/seaweedfs.py): loopback only, its own keys,
and stopped quickly however long SeaweedFS takes to shut down by itself."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.servers.seaweedfs import STOP_GRACE, SeaweedFS


def test_the_server_refuses_other_keys_and_stops_within_its_grace():
    server = SeaweedFS.start()
    try:
        bucket = server.new_bucket()
        server.client().put_object(Bucket=bucket, Key="k", Body=b"v")
        stranger = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id="someone",
            aws_secret_access_key="else",
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        with pytest.raises(ClientError):
            stranger.get_object(Bucket=bucket, Key="k")
    finally:
        started = time.monotonic()
        server.stop()
        stopped_after = time.monotonic() - started
    assert server.process.poll() is not None
    assert stopped_after < STOP_GRACE + 5
    assert not server.root.exists()

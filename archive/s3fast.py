"""The hot call of an archive in object storage: one PUT of a small blob, through obstore.

A backup stores every message with one PUT, and with boto3 each costs 2.1 ms of this process's
CPU under the GIL (measured: 295 msg/s on 2 cores with the server beside it); obstore makes
the request in Rust, without the GIL, at 0.35 ms (655 msg/s on the same machine and data).
Everything else (reads, listings, multipart uploads, the collector's moves) stays on boto3,
where the per-request cost does not matter.

obstore's runtime (one per process, started by the first request) does not survive fork(): a
forked child's first request hangs, even through a store made in the child. So once a process
has made a request, `put` in a child forked from it answers None and the caller uses boto3 (the
command line forks its backup workers); a child forked before any request, or spawned, starts
its own runtime.

The put is conditional (If-None-Match: *): a blob already stored raises `AlreadyStored`. The
ETag the server answers is returned: the caller compares it with the MD5 of what it sent, so
the server's own checksum of the stored bytes is checked before the row commits.
"""

from __future__ import annotations

import os

# The process whose obstore runtime was started (by its first request), if any.
_runtime_pid: int | None = None


class AlreadyStored(Exception):
    """An object with that key exists (the conditional put did not write)."""


class FastPutter:
    def __init__(self, bucket: str, endpoint_url: str, access_key: str, secret_key: str, region):
        import obstore
        from obstore.store import S3Store as ObjectStore

        self._obstore = obstore
        self._store = ObjectStore(
            bucket,
            endpoint=endpoint_url or None,
            access_key_id=access_key or None,
            secret_access_key=secret_key or None,
            region=region or "us-east-1",
            virtual_hosted_style_request=False,
            client_options={"allow_http": (endpoint_url or "").startswith("http://")},
        )

    def put(self, key: str, data: bytes) -> str | None:
        """PUT `data` under `key` unless an object is there; its ETag (no quotes), or None
        in a process forked from one whose runtime is started (it would hang)."""
        global _runtime_pid
        if _runtime_pid is not None and _runtime_pid != os.getpid():
            return None
        _runtime_pid = os.getpid()
        try:
            answer = self._obstore.put(self._store, key, data, mode="create")
        except self._obstore.exceptions.AlreadyExistsError:
            raise AlreadyStored(key) from None
        except self._obstore.exceptions.PreconditionError:
            raise AlreadyStored(key) from None
        return (answer.get("e_tag") or "").strip('"')


def fast_putter(bucket: str, s3: dict) -> FastPutter | None:
    """A putter for `bucket` with the ARCHIVE_S3 settings, or None where obstore cannot serve:
    not installed, or virtual-hosted addressing asked for (kept on boto3, which knows it)."""
    if s3.get("addressing_style", "path") != "path" or not s3.get("access_key"):
        return None
    try:
        return FastPutter(
            bucket, s3.get("endpoint_url", ""), s3["access_key"], s3["secret_key"], s3.get("region")
        )
    except ImportError:
        return None

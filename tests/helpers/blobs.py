"""The stored form of blobs in either backend (a file or an object), for tests that damage,
inspect or count what a store wrote, and the S3 settings of a test store."""

from __future__ import annotations

import secrets

from archive.blobstore import BlobStore
from archive.s3store import S3Store


def stored_bytes(store: BlobStore | S3Store, sha: str) -> bytes:
    """The blob exactly as the store holds it (header, compressed, maybe sealed)."""
    if isinstance(store, S3Store):
        obj = store.client.get_object(Bucket=store.bucket, Key=store.key_for(sha))
        return obj["Body"].read()
    return store.path_for(sha).read_bytes()


def replace_stored(store: BlobStore | S3Store, sha: str, data: bytes) -> None:
    """Put other bytes under a blob's name (damage done behind the store's back)."""
    if isinstance(store, S3Store):
        store.client.put_object(Bucket=store.bucket, Key=store.key_for(sha), Body=data)
    else:
        store.path_for(sha).write_bytes(data)


def delete_stored(store: BlobStore | S3Store, sha: str) -> None:
    """Remove a blob behind the store's back (a lost file or object)."""
    if isinstance(store, S3Store):
        store.client.delete_object(Bucket=store.bucket, Key=store.key_for(sha))
    else:
        store.path_for(sha).unlink()


def quarantined_hashes(store: BlobStore | S3Store) -> list[str]:
    """The hashes of what the store set aside as damaged, sorted."""
    if isinstance(store, S3Store):
        names = [key.rsplit("/", 1)[-1] for key in store.quarantined()]
    elif store.quarantine_dir.is_dir():
        names = [p.name for p in store.quarantine_dir.iterdir()]
    else:
        names = []
    return sorted(name.split(".")[0] for name in names)


def every_stored_object(seaweedfs, bucket: str) -> list[str]:
    """Every key in a bucket."""
    pages = seaweedfs.client().get_paginator("list_objects_v2")
    return [i["Key"] for page in pages.paginate(Bucket=bucket) for i in page.get("Contents", ())]


def s3_settings(settings, seaweedfs, bucket: str | None = None) -> str:
    """Point the app's ARCHIVE_URL at a fresh prefix of a bucket on the test SeaweedFS."""
    bucket = bucket or seaweedfs.new_bucket()
    settings.ARCHIVE_URL = f"s3://{bucket}/t-{secrets.token_hex(4)}"
    settings.ARCHIVE_S3 = {
        "endpoint_url": seaweedfs.endpoint,
        "access_key": seaweedfs.access_key,
        "secret_key": seaweedfs.secret_key,
        "region": "us-east-1",
        "addressing_style": "path",
    }
    return settings.ARCHIVE_URL

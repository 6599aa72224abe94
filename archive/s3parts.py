"""A multipart upload as a write-only file: how a large blob goes into object storage without
a second copy of the message in memory (`archive/s3store.py`)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

# Parts of a multipart upload (S3's minimum is 5 MiB, the last part excepted); a blob above one
# part goes up in parts, so a write holds about one part of it in memory.
PART_SIZE = 6 << 20


class PartWriter:
    """A write-only file that uploads what it is given as the parts of a multipart upload,
    each with its Content-MD5: at most one part of the blob is held in memory."""

    def __init__(self, client: Any, bucket: str, key: str, upload_id: str):
        self.client, self.bucket, self.key, self.upload_id = client, bucket, key, upload_id
        self.buffer = bytearray()
        self.parts: list[dict] = []

    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= PART_SIZE:
            # The buffer itself becomes the part: no copy of it is made here.
            part, self.buffer = self.buffer, bytearray()
            self._send(part)
        return len(data)

    def _send(self, data: bytes | bytearray) -> None:
        number = len(self.parts) + 1
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        answer = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
            ContentMD5=md5,
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def finish(self) -> None:
        if self.buffer or not self.parts:
            self._send(self.buffer)
            self.buffer = bytearray()
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    def abort(self) -> None:
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
        except Exception:  # noqa: BLE001 - the upload's own error is the one that matters
            pass

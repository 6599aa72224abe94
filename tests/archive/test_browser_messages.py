"""Every corpus message opens in the browser without a server error, and downloads exactly."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from django.urls import reverse

from archive import viewer
from archive.models import Message
from tests.archive.browser_helpers import archive_raws
from tests.corpus import corpus_messages, pick
from tests.helpers.blobs import s3_settings

BODY_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; font-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


def _streamed(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_every_corpus_message_opens_and_downloads_byte_for_byte(archive_root, folder, admin_client):
    messages = corpus_messages()
    archive_raws(folder, [m.read() for m in messages])
    rows = Message.objects.filter(folder=folder).order_by("uid")
    assert rows.count() == len(messages)
    for row, msg in zip(rows, messages, strict=True):
        page = admin_client.get(reverse("archive:message", args=[row.pk]))
        assert page.status_code == 200, msg.path
        body = admin_client.get(reverse("archive:message-body", args=[row.pk]))
        assert body.status_code == 200, msg.path
        assert body["Content-Security-Policy"] == BODY_CSP
        download = admin_client.get(reverse("archive:message-download", args=[row.pk]))
        assert download.status_code == 200, msg.path
        assert (
            hashlib.sha256(_streamed(download)).hexdigest()
            == hashlib.sha256(msg.read()).hexdigest()
        )


def test_messages_in_object_storage_open_and_download_byte_for_byte(
    archive_root, folder, admin_client, settings, seaweedfs, encryption_key
):
    s3_settings(settings, seaweedfs)
    settings.ARCHIVE_ENCRYPTION_KEY = encryption_key
    messages = [m.read() for m in pick(limit=15)] + [big_message(7 << 20)]  # last: in parts
    archive_raws(folder, messages)
    assert not [p for p in archive_root.rglob("*") if p.is_file()]
    rows = Message.objects.filter(folder=folder).order_by("uid")
    for row, raw in zip(rows, messages, strict=True):
        assert admin_client.get(reverse("archive:message", args=[row.pk])).status_code == 200
        body = admin_client.get(reverse("archive:message-body", args=[row.pk]))
        assert body.status_code == 200
        download = admin_client.get(reverse("archive:message-download", args=[row.pk]))
        assert _streamed(download) == raw


def big_message(size: int) -> bytes:
    payload = base64.encodebytes(os.urandom(size * 3 // 4))
    return b"Subject: big\r\nContent-Type: text/plain\r\n\r\n" + payload


def test_the_body_is_its_own_response_with_the_strict_policy_and_no_referrer(
    archive_root, folder, admin_client
):
    [row] = archive_raws(folder, [pick(tag="html", limit=1)[0].read()])
    page = admin_client.get(reverse("archive:message", args=[row.pk])).content.decode()
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
    assert 'referrerpolicy="no-referrer"' in page
    assert "srcdoc" not in page and "allow-scripts" not in page
    body = admin_client.get(reverse("archive:message-body", args=[row.pk]))
    assert body["Referrer-Policy"] == "no-referrer"
    assert body["X-Content-Type-Options"] == "nosniff"
    remote = admin_client.get(reverse("archive:message-body", args=[row.pk]) + "?remote=1")
    assert "img-src 'self' data: https:;" in remote["Content-Security-Policy"]
    assert "style-src 'unsafe-inline';" in remote["Content-Security-Policy"]


HOSTILE = (
    b"From: a@example.org\r\nSubject: hostile\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/related; boundary=XX\r\n\r\n--XX\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><head><meta http-equiv=refresh content='0;url=https://evil.example/'>"
    b"<style>@import url(https://evil.example/a.css);</style><script>alert(1)</script></head>"
    b"<body onload=alert(2)><img src=x onerror=alert(3)><a href='javascript:alert(4)'>j</a>"
    b"<img src='//evil.example/pixel.png'><img src='https://evil.example/remote.png'>"
    b"<p style='background:url(https://evil.example/bg.png)'>bg</p>"
    b"<form action='https://evil.example/'><input name=x></form>"
    b"<svg><script>alert(5)</script></svg><iframe src='https://evil.example/'></iframe>"
    b"<img src='cid:logo@x'> <a href='https://ok.example/page'>ok</a></body></html>\r\n"
    b"--XX\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--XX--\r\n"
)


def test_hostile_html_is_sanitized_and_cid_images_are_embedded_from_the_message(
    archive_root, folder, admin_client, client
):
    [row] = archive_raws(folder, [HOSTILE])
    html = admin_client.get(reverse("archive:message-body", args=[row.pk])).content.decode()
    for bad in ("<script", "onload", "onerror", "javascript:", "evil.example", "<form",
                "<iframe", "<svg", "http-equiv", "@import"):  # fmt: skip
        assert bad not in html, bad
    assert 'rel="noopener noreferrer"' in html and 'target="_blank"' in html
    page = admin_client.get(reverse("archive:message", args=[row.pk])).content.decode()
    assert "Load remote content" in page
    cid_src = html.split('<img src="', 1)[1].split('"', 1)[0]
    assert cid_src == "data:image/png;base64,iVBORw0KGgo="  # the part's own bytes
    inline = reverse("archive:message-inline", args=[row.pk, 2])
    assert admin_client.get(inline)["Content-Type"] == "image/png"
    assert client.get(inline).status_code == 302  # no session, no image


def test_inline_images_past_the_size_budget_stay_out_of_the_body(
    archive_root, folder, admin_client, monkeypatch
):
    images = [b"\x89PNG first", b"\x89PNG second", b"<svg onload=alert(1)/>"]
    parts = b"".join(
        b"--R\r\nContent-Type: image/" + kind + b"\r\nContent-ID: <" + str(i).encode()
        + b"@x>\r\n\r\n" + data + b"\r\n"
        for i, (kind, data) in enumerate(zip((b"png", b"png", b"svg+xml"), images, strict=True))
    )  # fmt: skip
    raw = (
        b"From: a@example.org\r\nSubject: logos\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/related; boundary=R\r\n\r\n--R\r\nContent-Type: text/html"
        b"\r\n\r\n<img src='cid:0@x' alt=a><img src='cid:1@x' alt=b><img src='cid:2@x' alt=c>"
        b"\r\n" + parts + b"--R--\r\n"
    )
    [row] = archive_raws(folder, [raw])
    monkeypatch.setattr(viewer, "INLINE_IMAGES_MAX_BYTES", len(images[0]) + 1)
    html = admin_client.get(reverse("archive:message-body", args=[row.pk])).content.decode()
    first = base64.b64encode(images[0]).decode()
    # The first fits; the second is past the budget; SVG (active content) is never embedded.
    assert f'<img src="data:image/png;base64,{first}" alt="a">' in html
    assert '<img alt="b">' in html and '<img alt="c">' in html


def test_attachments_download_as_attachments_with_safe_names_and_active_types_neutralized(
    archive_root, folder, admin_client
):
    raw = (
        b"From: a@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        b'see attached\r\n--B\r\nContent-Type: text/html; name="../../etc/passwd.html"\r\n'
        b"Content-Disposition: attachment; filename*=UTF-8''..%2F..%2Fr%C3%A9sum%C3%A9.html\r\n\r\n"
        b"<script>alert(1)</script>\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: b@example.org\r\nSubject: inner message\r\n\r\ninner body\r\n--B--\r\n"
    )
    [row] = archive_raws(folder, [raw])
    page = admin_client.get(reverse("archive:message", args=[row.pk])).content.decode()
    assert "see attached" in page and "Open as message" in page
    part = admin_client.get(reverse("archive:message-part", args=[row.pk, 2]))
    assert part["Content-Type"] == "application/octet-stream"
    assert part["X-Content-Type-Options"] == "nosniff"
    assert part["Content-Security-Policy"] == "default-src 'none'; sandbox"
    disposition = part["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''" in disposition and "/" not in disposition.split("filename*=")[1]
    ascii_name = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert "/" not in ascii_name and not ascii_name.startswith(".")
    inner = admin_client.get(reverse("archive:message", args=[row.pk]) + "?n=3")
    assert inner.status_code == 200 and "inner body" in inner.content.decode()
    assert admin_client.get(reverse("archive:message", args=[row.pk]) + "?n=1").status_code == 404


def test_an_undecodable_part_shows_replacement_characters_and_a_note(
    archive_root, folder, admin_client
):
    raw = (b"From: a@example.org\r\nSubject: bad\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           b"caf\xe9 \xff\xfe ok\r\n")  # fmt: skip
    [row] = archive_raws(folder, [raw])
    page = admin_client.get(reverse("archive:message", args=[row.pk])).content.decode()
    assert "could not be fully decoded" in page or "caf\u00e9" in page


@pytest.mark.parametrize("tag", ["charsets"])
def test_messages_in_declared_charsets_render_as_text(archive_root, folder, admin_client, tag):
    rows = archive_raws(folder, [m.read() for m in pick(tag=tag, limit=40)])
    for row in rows:
        assert admin_client.get(reverse("archive:message", args=[row.pk])).status_code == 200


def test_a_message_past_the_parsing_caps_is_too_complex_to_display_but_downloads(
    archive_root, folder, admin_client
):
    depth = 80
    raw = b"From: a@example.org\r\nSubject: deep\r\n"
    for i in range(depth):
        raw += f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
    raw += b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    [row] = archive_raws(folder, [raw])
    page = admin_client.get(reverse("archive:message", args=[row.pk])).content.decode()
    assert "too complex to display" in page.lower()
    download = admin_client.get(reverse("archive:message-download", args=[row.pk]))
    assert _streamed(download) == raw

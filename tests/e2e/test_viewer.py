"""Hostile HTML in the message viewer, in headless Chromium: nothing runs, nothing loads.

The page listens for dialogs (alert/confirm/prompt), a sink HTTP server on 127.0.0.1 records any
request a message manages to make, every request of the browser context is checked to stay on
the app's own origin, and the top page must not navigate. Each message is shown with the
sanitizer on and, to prove the sandbox and CSP hold on their own, with it off.
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from archive import views
from tests.archive.browser_helpers import archive_raws
from tests.corpus import pick
from tests.e2e.conftest import log_in
from tests.helpers.archive import make_account, make_folder

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class Sink:
    def __init__(self):
        self.hits: list[str] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                sink.hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


def hostile_html(sink: str) -> str:
    return f"""<html><head>
<meta http-equiv="refresh" content="0;url={sink}/refresh">
<link rel="stylesheet" href="{sink}/link.css"><link rel="prefetch" href="{sink}/prefetch">
<style>@import url({sink}/import.css); body {{ background: url({sink}/bg.png) }}</style>
<script>alert('script'); fetch('{sink}/fetch'); top.location = '{sink}/top';</script>
<base href="{sink}/">
</head><body onload="alert('onload')">
<img src="{sink}/img.png" onerror="alert('onerror')">
<img src="//127.0.0.1:{sink.rsplit(":", 1)[1]}/rel.png">
<img srcset="{sink}/srcset.png 1x"><video poster="{sink}/poster.png"></video>
<p style="background-image:url({sink}/style.png)">styled</p>
<table background="{sink}/table.png"><tr><td>t</td></tr></table>
<a href="javascript:alert('js-link')" id="jslink">click me</a>
<form action="{sink}/form" method="post"><input name="q" value="x">
<button id="submit">go</button></form>
<svg><script>alert('svg')</script><image href="{sink}/svg.png"/></svg>
<iframe src="{sink}/iframe"></iframe><object data="{sink}/object"></object>
<embed src="{sink}/embed"><audio src="{sink}/audio.mp3" autoplay></audio>
<img src="cid:pixel@test"> <p id="marker">hostile message body</p>
<script>document.getElementById('marker').textContent = 'script ran';</script>
</body></html>"""


def hostile_message(sink: str) -> bytes:
    html = hostile_html(sink).encode()
    png = base64.b64encode(PNG)
    return (
        b"From: attacker@example.org\r\nTo: victim@example.org\r\nSubject: hostile\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + b"\r\n"
        b"--XX\r\nContent-Type: image/png\r\nContent-ID: <pixel@test>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + png + b"\r\n--XX--\r\n"
    )


def svg_message(sink: str) -> bytes:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)'
           f'</script><image href="{sink}/svgimg.png"/></svg>').encode()  # fmt: skip
    return (
        b"From: a@example.org\r\nSubject: svg\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=S\r\n\r\n--S\r\n"
        b"Content-Type: text/html\r\n\r\n<p>see the picture</p>\r\n--S\r\n"
        b"Content-Type: image/svg+xml; name=x.svg\r\n\r\n" + svg + b"\r\n--S--\r\n"
    )


def _watch(page, live_server_url: str):
    dialogs: list[str] = []
    foreign: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    # Finished requests only: Chromium reports a request that the CSP then blocks before
    # anything is sent ("requestfailed" with "csp"); what must never happen is a fetch.
    def on_finished(request):
        if not request.url.startswith((live_server_url, "data:", "about:")):
            foreign.append(request.url)

    page.context.on("requestfinished", on_finished)
    return dialogs, foreign


@pytest.mark.parametrize("sanitizer", ["on", "off"])
def test_hostile_html_runs_nothing_and_loads_nothing(
    page, admin_user, live_server, archive_root, sink, monkeypatch, sanitizer
):
    if sanitizer == "off":
        monkeypatch.setattr(views, "sanitize_html", _no_sanitizer)
    folder = make_folder(make_account("victim"))
    corpus = [m.read() for m in pick(tag="html-active-content")]
    rows = archive_raws(folder, [hostile_message(sink.url), svg_message(sink.url), *corpus])
    dialogs, foreign = _watch(page, live_server.url)
    log_in(page)
    for row in rows:
        url = reverse("archive:message", args=[row.pk])
        page.goto(url)
        body = page.frame_locator("iframe.message-body")
        if row is rows[0]:
            assert body.get_by_text("hostile message body").is_visible()
            assert body.get_by_text("script ran").count() == 0
            if sanitizer == "on":  # cid: is rewritten by the sanitizer step
                width = body.locator("img").last.evaluate("img => img.naturalWidth")
                assert width == 1, "the cid: image is shown from the message itself"
            body.get_by_text("click me").click()
            if body.locator("button").count():
                body.locator("button").first.click()
        page.wait_for_timeout(300)
        assert page.url.endswith(url), "the top page navigated"
        for remote in ("?remote=1",):
            page.goto(url + remote)
            page.wait_for_timeout(200)
    page.wait_for_timeout(500)
    assert dialogs == []
    assert sink.hits == []
    assert foreign == []


def _no_sanitizer(source, *, allow_remote, cid_url):
    from archive.viewer import Sanitized

    return Sanitized(source, 0)


def test_remote_images_load_only_after_the_reader_asks(page, admin_user, live_server, archive_root):
    folder = make_folder(make_account("reader"))
    raw = (b"From: a@example.org\r\nSubject: newsletter\r\nContent-Type: text/html\r\n\r\n"
           b"<p>news</p><img src='https://images.example.invalid/pixel.png'>\r\n")  # fmt: skip
    [row] = archive_raws(folder, [raw])
    requested: list[str] = []
    page.context.on("request", lambda r: requested.append(r.url))
    log_in(page)
    page.goto(reverse("archive:message", args=[row.pk]))
    assert page.frame_locator("iframe.message-body").locator("p").text_content() == "news"
    assert not [u for u in requested if "example.invalid" in u]
    page.get_by_role("button", name="Load remote content").click()
    page.wait_for_load_state()
    page.frame_locator("iframe.message-body").locator("p").wait_for()
    page.wait_for_timeout(300)
    assert [u for u in requested if "images.example.invalid" in u]


def test_browsing_an_account_to_a_message_and_searching_raise_no_csp_violations(
    page, admin_user, live_server, archive_root
):
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    folder = make_folder(make_account("browsed"), "INBOX")
    archive_raws(folder, [m.read() for m in pick(tag="attachments", limit=5)])
    log_in(page)
    page.goto(reverse("archive:home"))
    page.get_by_role("link", name="browsed").click()
    page.get_by_role("link", name="INBOX").click()
    page.locator("table.messages a").first.click()
    assert page.get_by_role("heading", name="Attachments").is_visible()
    page.goto(reverse("archive:search") + "?q=the")
    assert violations == []


def logo_message() -> bytes:
    return (
        b"From: a@example.org\r\nSubject: logo\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/related; boundary=R\r\n\r\n--R\r\n"
        b"Content-Type: text/html\r\n\r\n<p>with logo</p><img src='cid:logo@x'>\r\n--R\r\n"
        b"Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64"
        b"\r\n\r\n" + base64.b64encode(PNG) + b"\r\n--R--\r\n"
    )


def test_the_sandboxed_viewer_shows_inline_images_while_signed_in_and_not_after_logout(
    page, admin_user, live_server, archive_root
):
    [row] = archive_raws(make_folder(make_account("logo")), [logo_message()])
    log_in(page)
    page.goto(reverse("archive:message", args=[row.pk]))
    image = page.frame_locator("iframe.message-body").locator("img")
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1
    src = image.get_attribute("src")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: "/login/" in url)
    # Whatever the frame loaded the image from no longer serves it.
    links = [src, reverse("archive:message-inline", args=[row.pk, 2])]
    for link in [u for u in links if not u.startswith("data:")]:
        response = page.context.request.get(live_server.url + link if link[0] == "/" else link)
        assert response.body() != PNG, link
    page.goto(reverse("archive:message", args=[row.pk]))
    assert "/login/" in page.url and page.locator("iframe.message-body").count() == 0

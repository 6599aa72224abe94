"""Header parsing: forgiving, decoded, never raising, bounded in time on hostile input."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from archive.charsets import decode_header_value
from archive.parsing import MAX_DEPTH, MAX_PARTS, parse_message
from tests.corpus import corpus_messages, pick


def test_parsing_never_raises_and_stays_fast_over_the_whole_corpus():
    started = time.monotonic()
    slowest = 0.0
    for msg in corpus_messages():
        t0 = time.monotonic()
        parsed = parse_message(msg.read())
        slowest = max(slowest, time.monotonic() - t0)
        assert "unexpected parser error" not in parsed.error, msg.path
    assert slowest < 1.0
    assert time.monotonic() - started < 30


def test_most_corpus_messages_parse_without_a_note():
    noted = [m.path for m in corpus_messages() if parse_message(m.read()).error]
    assert len(noted) < len(corpus_messages()) * 0.02, noted


def test_subjects_agree_with_pythons_email_package_on_well_formed_corpus_messages():
    import email
    import email.policy

    checked = disagree = 0
    # Every encoded-word subject plus a slice of the rest: the full corpus is not the point here.
    well_formed = pick(without=("malformed", "8bit-headers", "huge-headers"))
    sample = [m for m in well_formed if m.has("rfc2047-encoded-words")] + well_formed[::4]
    for msg in dict.fromkeys(sample):
        raw = msg.read()
        expected = email.message_from_bytes(raw, policy=email.policy.default)["subject"]
        if expected is None:
            continue
        checked += 1
        ours = parse_message(raw).subject
        clean = " ".join("".join(c if c.isprintable() else " " for c in str(expected)).split())
        disagree += ours != clean
    assert checked > 500
    assert disagree <= checked * 0.005


def test_has_attachments_matches_what_a_mail_client_shows():
    # HTML mail is left out of the first set: the tagger counts pictures embedded in the body
    # (multipart/related with a Content-ID) as attachments, mail clients do not.
    named = pick(tag="attachments", without=("malformed", "html"))
    plain = pick(without=("attachments", "malformed", "embedded-message", "report/dsn"))
    assert len(named) > 100 and len(plain) > 1000
    assert sum(parse_message(m.read()).has_attachments for m in named) >= len(named) * 0.97
    assert sum(parse_message(m.read()).has_attachments for m in plain) <= len(plain) * 0.01


def test_an_embedded_picture_of_an_html_body_is_not_an_attachment():
    raw = (
        b'Content-Type: multipart/related; boundary="r"\r\n\r\n--r\r\n'
        b"Content-Type: text/html\r\n\r\n<img src=cid:logo>\r\n--r\r\n"
        b'Content-Type: image/png; name="logo.png"\r\nContent-ID: <logo>\r\n'
        b"Content-Disposition: inline\r\n\r\niVBORw0K\r\n--r--\r\n"
    )
    assert parse_message(raw).has_attachments is False
    as_attachment = raw.replace(b"Content-Disposition: inline", b"Content-Disposition: attachment")
    assert parse_message(as_attachment).has_attachments is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"=?utf-8?q?caf=C3=A9_cr=C3=A8me?=", "café crème"),
        (b"=?UTF-8?B?5pel5pys6Kqe?=", "日本語"),
        # A multi-byte character split across two encoded words (common in Japanese mail).
        (b"=?utf-8?b?5pel5pys?= =?utf-8?b?6Kqe?=", "日本語"),
        (b"=?iso-2022-jp?B?GyRCJEskWyQzJHMbKEI=?=", "にほこん"),
        (b"=?ks_c_5601-1987?B?x9GxuQ==?=", "한국"),
        (b"=?gb2312?B?1tDOxA==?=", "中文"),
        (b"=?x-unknown?q?plain?= text", "plain text"),
        (b"=?utf-8?b?broken-base64?=", None),  # decodes to something, never raises
        (b"Hello =?iso-8859-1?q?W=F6rld?= !", "Hello Wörld !"),
        ("Grüße".encode("latin-1"), "Grüße"),  # raw 8-bit bytes in a header
        ("Grüße".encode(), "Grüße"),
        (b"=?utf-8?q?tab=09and=0Anewline?=", "tab and newline"),
    ],
)
def test_header_words_and_odd_charsets_are_decoded(raw, expected):
    decoded = decode_header_value(raw)
    assert isinstance(decoded, str)
    if expected is not None:
        assert " ".join(decoded.split()) == expected


def test_envelope_fields_of_a_japanese_corpus_message_are_readable():
    found = [m for m in pick(tag="charsets") if "iso-2022-jp" in " ".join(m.notes).lower()]
    assert found
    for msg in found:
        parsed = parse_message(msg.read())
        assert "\x1b" not in parsed.subject and "=?" not in parsed.subject, msg.path


def test_message_id_and_date_are_normalised():
    raw = (
        b"Message-ID:   garbage before <id.1@example.org> after\r\n"
        b"Date: Mon, 1 Jan 2024 23:30:00 -0500 (EST)\r\n\r\nbody"
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "<id.1@example.org>"
    assert parsed.date == datetime(2024, 1, 2, 4, 30, tzinfo=UTC)
    assert parse_message(b"Date: the day after tomorrow\r\n\r\n").date is None
    assert parse_message(b"Date: Mon, 1 Jan 99999 00:00:00 +0000\r\n\r\n").date is None


def test_a_comma_inside_an_encoded_display_name_does_not_split_the_address():
    raw = b"From: =?utf-8?q?Doe=2C_John?= <john@example.org>\r\n\r\n"
    assert parse_message(raw).from_addr == "Doe, John <john@example.org>"


def test_a_utf8_bom_and_an_mbox_from_line_before_the_headers_are_skipped():
    raw = b"\xef\xbb\xbfFrom MAILER-DAEMON Mon Jan  1 00:00:00 2024\nSubject: hi\n\nbody"
    assert parse_message(raw).subject == "hi"


# -- bombs ----------------------------------------------------------------------------------


def deep_nesting(levels: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    for i in range(levels):
        body = (
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
            + body
            + b"\r\n--b%d--\r\n" % i
        )
    return b"Subject: deep\r\n" + body


def many_parts(count: int) -> bytes:
    part = b'--p\r\nContent-Type: application/octet-stream; name="a.bin"\r\n\r\nx\r\n'
    return b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n" + part * count


def huge_header(size: int) -> bytes:
    return b"Subject: huge\r\nX-Filler: " + b"a" * size + b"\r\n\r\nbody"


def many_addresses(count: int) -> bytes:
    to = b", ".join(b"User %d <user%d@example.org>" % (i, i) for i in range(count))
    return b"Subject: crowd\r\nTo: " + to + b"\r\n\r\nbody"


def many_header_lines(count: int) -> bytes:
    return b"Subject: lines\r\n" + b"X-A: b\r\n" * count + b"\r\nbody"


@pytest.mark.parametrize(
    ("build", "note"),
    [
        (lambda: deep_nesting(5000), f"MIME nesting deeper than {MAX_DEPTH}"),
        (lambda: many_parts(100_000), f"more than {MAX_PARTS} MIME parts"),
        (lambda: huge_header(10 << 20), "header block over 100 KB"),
        (lambda: many_addresses(32_000), "header block over 100 KB"),
        (lambda: many_header_lines(1_000_000), "header block over 100 KB"),
    ],
    ids=["depth-5000", "parts-100k", "header-10MB", "to-32k-addresses", "header-lines-1M"],
)
def test_generated_bombs_are_parsed_in_bounded_time_with_a_note(build, note):
    raw = build()
    started = time.monotonic()
    parsed = parse_message(raw)
    assert time.monotonic() - started < 1.0
    assert note in parsed.error
    assert parsed.subject  # what could be parsed is kept


def test_the_time_limit_stops_a_slow_parse_with_a_note():
    parsed = parse_message(many_parts(900), time_limit=0)
    assert "time limit" in parsed.error


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'"Doe, John" <j@x.org>, plain@x.org', "Doe, John <j@x.org>, plain@x.org"),
        (b"nsb (Nathaniel Borenstein)", "Nathaniel Borenstein <nsb>"),
        (b'"a \\"q\\" b" <q@x>', 'a "q" b <q@x>'),
        (b"undisclosed-recipients:;", "undisclosed-recipients:;"),
        (b"broken <unclosed, x@y", "broken <unclosed, x@y"),
    ],
)
def test_address_lists_are_split_and_shown_as_name_and_address(raw, expected):
    assert parse_message(b"To: " + raw + b"\r\n\r\n").to_addrs == expected


def test_an_address_header_of_endless_words_is_parsed_without_recursion():
    # email.utils.getaddresses recurses per word and raises RecursionError on this.
    raw = b"To: " + b"word:" * 15_000 + b"\r\nSubject: after\r\n\r\n"
    parsed = parse_message(raw)
    assert parsed.error == "" and parsed.subject == "after" and parsed.to_addrs

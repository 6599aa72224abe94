"""The opt-in encoding of 8-bit header bytes: headers only, and only where they are 8-bit."""

from __future__ import annotations

import email
import email.policy

from jobs.engine.copying.headers8bit import encode_8bit_headers


def test_8bit_header_words_become_encoded_words_and_the_body_stays_byte_for_byte():
    raw = (
        b"From: J\xc3\xbcrgen <j@example.org>\r\nSubject: caf\xe9 ok\r\n\r\n"
        b"K\xc3\xb6rper bleibt\r\n"
    )
    encoded = encode_8bit_headers(raw)
    parsed = email.message_from_bytes(encoded, policy=email.policy.default)
    assert parsed["From"].addresses[0].display_name == "Jürgen"
    assert parsed["From"].addresses[0].addr_spec == "j@example.org"
    assert parsed["Subject"] == "café ok"  # not UTF-8: read as Latin-1
    assert encoded.endswith(b"\r\n\r\nK\xc3\xb6rper bleibt\r\n")
    assert all(b < 0x80 for b in encoded.split(b"\r\n\r\n", 1)[0])


def test_a_message_without_8bit_header_bytes_is_sent_unchanged():
    raw = b"Subject: plain\r\n\r\nK\xc3\xb6rper\r\n"
    assert encode_8bit_headers(raw) is raw

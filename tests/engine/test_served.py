"""The copy check's comparison: line-ending rewrites pass, any other changed byte is caught."""

from __future__ import annotations

from jobs.engine.copying.served import Sent, unchanged

SENT = b"Subject: Gr\xc3\xbc\xc3\x9fe\nMessage-ID: <a@x>\n\nbody\x00\n"


def test_a_copy_stored_with_crlf_and_a_nul_served_as_0x80_counts_as_unchanged():
    served = SENT.replace(b"\n", b"\r\n").replace(b"\x00", b"\x80")
    assert unchanged(Sent.of(1, SENT), served)


def test_a_header_byte_turned_into_x_with_the_size_kept_is_caught_and_named():
    served = SENT.replace(b"\xc3\xbc", b"XX")
    sent = Sent.of(1, SENT)
    assert len(served) == len(SENT) and not unchanged(sent, served)
    assert sent.name == "“Grüße”"

"""Messages for the search tests: a small RFC 5322 message with optional Cc and attachment."""

from __future__ import annotations


def mail_raw(subject: str, body: str, frm="alice@example.org", to="bob@example.org", cc="",
         attachment: str = "", day: int = 1) -> bytes:  # fmt: skip
    head = (f"From: {frm}\r\nTo: {to}\r\n" + (f"Cc: {cc}\r\n" if cc else "") +
            f"Subject: {subject}\r\nDate: Mon, {day:02d} Jan 2024 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n")  # fmt: skip
    if not attachment:
        return (head + f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()
    return (
        head + "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--B\r\n"
        f'Content-Type: application/pdf; name="{attachment}"\r\n'
        f'Content-Disposition: attachment; filename="{attachment}"\r\n\r\n%PDF-1.4\r\n--B--\r\n'
    ).encode()

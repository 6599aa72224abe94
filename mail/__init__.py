"""Mail protocol clients, at the bottom of the import graph: no Django models, nothing of the
project above it.

- `outbound.py`: the one policy for every outbound connection (the address actually connected to
  is checked against internal ranges), and the deadline that bounds a whole attempt.
- `tls.py`: certificate verification, pinning and fingerprints.
- `clients.py`: imaplib/IMAPClient/poplib classes that open their socket through `outbound`.
- `connect.py`: connect and log in (IMAP, POP3; password or OAuth2 via `sasl.py`), with every
  failure turned into one sentence (`errors.py`).
- `probe.py`: the connection test behind the account form and `manage.py test_account`.
- `imap.py`: the read-only IMAP session (list, status, examine, search, fetch); `imap_wire.py`
  holds its raw command channel and fast response parsers. `pop3.py`: UIDL, LIST, RETR.
"""

"""The engines: plain Python that takes accounts, options and a progress callback, one package or
module per job kind. Nothing here imports Celery, views or the run bookkeeping (`jobs.runner`).

- `backup/`: back up an account into the archive (the IMAP fetch loop is `backup/folder.py`,
  POP3 is `backup/pop3.py`, large backups in worker processes `backup/processes.py`).
- `sync/`: copy one mailbox into another (`sync/plan.py` maps the folders, `sync/folder.py`
  copies one folder).
- `restore.py`: put archived messages back into a mailbox. `verify.py`: re-read the archive and
  compare it with the server. `export.py`: write part of the archive to a zip or mbox file.
- Shared: `copying/` (the destination side of sync and restore: APPEND, fingerprints, folder
  mapping, reports), `progress.py`, `reconnect.py` (backoff after a dropped connection),
  `drops.py` (which errors are drops, messages that keep breaking the connection),
  `parallel.py` (folders on several connections), `batching.py`, `prefetch.py`, `limits.py`.
"""

"""The audit log: an append-only record of who did what, when and from where.

Views and services call `audit.record(request_or_user, action, target, **details)`; see
`audit/log.py`. Imported lazily so `import audit` works before the app registry is ready.
"""

from __future__ import annotations

from typing import Any


def record(who: Any, action: str, target: Any = None, **details: Any):
    from audit.log import record as _record

    return _record(who, action, target, **details)

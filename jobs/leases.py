"""One run per account across all workers: a row per account with a holder and an expiry.

The holder renews the lease with its heartbeat; a lease whose holder died simply expires, so a
crashed worker blocks its account for at most settings.JOBS_STALE_SECONDS.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from jobs.models import AccountLease

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _ttl() -> dt.timedelta:
    return dt.timedelta(seconds=settings.JOBS_STALE_SECONDS)


def acquire(account_id: int, run_id: int) -> bool:
    """Take (or keep) the account's lease for this run; False while another live run holds it."""
    try:
        with transaction.atomic():
            AccountLease.objects.get_or_create(
                account_id=account_id, defaults={"expires_at": EPOCH}
            )
    except IntegrityError:
        pass  # created by a concurrent caller: the conditional update below decides
    now = timezone.now()
    free = Q(run__isnull=True) | Q(expires_at__lt=now) | Q(run_id=run_id)
    taken = AccountLease.objects.filter(free, account_id=account_id).update(
        run_id=run_id, expires_at=now + _ttl()
    )
    return taken == 1


def renew(account_id: int, run_id: int) -> bool:
    """Extend our lease; False if it was lost (expired and taken by another run)."""
    now = timezone.now()
    return (
        AccountLease.objects.filter(account_id=account_id, run_id=run_id).update(
            expires_at=now + _ttl()
        )
        == 1
    )


def release(account_id: int, run_id: int) -> None:
    AccountLease.objects.filter(account_id=account_id, run_id=run_id).update(
        run=None, expires_at=EPOCH
    )


def holder(account_id: int) -> int | None:
    """The run holding a live lease on the account, if any."""
    live = AccountLease.objects.filter(account_id=account_id, expires_at__gte=timezone.now())
    lease = live.first()
    return lease.run_id if lease else None

"""Sign-ins, sign-outs, failed attempts and lockouts go to the audit log."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.log import record


@receiver(user_logged_in, dispatch_uid="audit-login")
def _logged_in(sender, request, user, **kwargs) -> None:
    record(_with_user(request, user), "auth.login", user)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record(_with_user(request, user), "auth.logout", user)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # `credentials` is already cleansed by Django (the password is "****"); keep the name only.
    username = str(credentials.get("username", ""))[:150]
    reason = kwargs.get("reason", "")
    record(request, "auth.login_failed", username, username=username, reason=reason)


def _with_user(request, user):
    """The request when there is one (for the address), else the user alone."""
    if request is None or not getattr(getattr(request, "user", None), "is_authenticated", False):
        return user
    return request


try:  # django-axes: a lockout after too many failures is an event of its own
    from axes.signals import user_locked_out

    @receiver(user_locked_out, dispatch_uid="audit-locked-out")
    def _locked_out(sender, request, username=None, ip_address=None, **kwargs) -> None:
        record(request, "auth.locked_out", username or "", username=username or "")
except ImportError:  # pragma: no cover - axes is a dependency; kept optional for tooling
    pass

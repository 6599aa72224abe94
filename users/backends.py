"""django-axes' lockout check for web sign-ins only.

Axes refuses `authenticate()` calls that carry no request; those come from code, not from a
browser (management commands, `ensure_admin`'s checks, tests), and have no address to throttle,
so they go straight on to the model backend instead of failing.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class WebSignInThrottle(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

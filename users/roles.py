"""The three roles and what each may do: plain values every other module builds on.

`backupweb.access` decides with them, `users.models` stores them on the profile; this module
imports neither.
"""

from __future__ import annotations

from django.db import models

ADMINISTRATOR = "administrator"
OPERATOR = "operator"
VIEWER = "viewer"
STAFF = (ADMINISTRATOR, OPERATOR)  # everyone who manages accounts and jobs


class Role(models.TextChoices):
    ADMINISTRATOR = ADMINISTRATOR, "Administrator"
    OPERATOR = OPERATOR, "Operator"
    VIEWER = VIEWER, "Viewer"


ROLE_HELP = {
    Role.ADMINISTRATOR: "Everything, including users, grants and the audit log.",
    Role.OPERATOR: "Accounts, jobs, imports and restores; no user management.",
    Role.VIEWER: "Browses, searches and downloads the archives of the granted accounts only.",
}

"""Every URL pattern, walked as each role and as an anonymous visitor.

Path arguments are filled with real ids of objects that belong to the `other` account, which no
viewer was granted: administrators and operators reach them, viewers get a bare 404 (or 403 for
pages their role never uses), anonymous visitors are sent to the login page, and only
administrators manage users or read the audit log. A URL pattern without an expectation below
fails the test: a new view must say who may use it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from archive.models import Folder, ImportRun
from jobs.models import BulkMigration, Job, JobRun
from tests.archive.browser_helpers import archive_raws
from tests.helpers.security import make_account, make_user

SECRET_SUBJECT = "Quarterly figures 4711"
WORDS = "quarterly figures"
RAW = (
    f"From: boss@example.org\r\nTo: team@example.org\r\nSubject: {SECRET_SUBJECT}\r\n"
    "Message-ID: <walk@example.org>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
    f"{SECRET_SUBJECT} body\r\n--b\r\nContent-Type: application/pdf\r\n"
    'Content-Disposition: attachment; filename="plan.pdf"\r\n\r\n%PDF-1.4\r\n--b--\r\n'
).encode()

# Who may use each URL (by name). ALLOWED means "reaches the view" (any status but 401, 403,
# 404 or a login redirect); DENIED_404 means "a viewer gets 404"; the others are role rules.
PUBLIC = "public"  # anyone, signed in or not
EVERYONE = "everyone"  # every signed-in role; anonymous visitors go to the login page
STAFF = "staff"  # administrators and operators; viewers 403
ADMINS = "admins"  # administrators; operators and viewers 403
ARCHIVE = "archive"  # administrators and operators; a viewer outside its grants 404
METRICS = "metrics"  # staff; viewers and anonymous 401 (bearer token realm)
SCHEMA = "schema"  # every signed-in role; anonymous 401 (a token also opens it)
API = "api"  # tokens only (tests/api/test_access_walk.py): a session alone gets 401

EXPECT = {
    "dashboard": EVERYONE,  # viewers are sent on to their archive
    "healthz": PUBLIC,
    "metrics": METRICS,
    "login": PUBLIC,
    "logout": EVERYONE,
    "accounts:list": STAFF, "accounts:new": STAFF, "accounts:new-test": STAFF,
    "accounts:import": STAFF, "accounts:import-template": STAFF, "accounts:detail": STAFF,
    "accounts:edit": STAFF, "accounts:edit-test": STAFF, "accounts:test": STAFF,
    "accounts:pin": STAFF, "accounts:delete": STAFF, "accounts:oauth-callback": STAFF,
    "accounts:oauth": STAFF, "accounts:oauth-start": STAFF, "accounts:oauth-device": STAFF,
    "accounts:oauth-device-poll": STAFF, "accounts:oauth-sign-out": STAFF,
    "jobs:list": STAFF, "jobs:create": STAFF, "jobs:detail": STAFF, "jobs:edit": STAFF,
    "jobs:duplicate": STAFF, "jobs:delete": STAFF, "jobs:run-now": STAFF,
    "jobs:notify-test": STAFF, "jobs:add-daily": STAFF, "jobs:history": STAFF,
    "jobs:active": STAFF, "jobs:run-detail": STAFF, "jobs:run-progress": STAFF,
    "jobs:run-cancel": STAFF, "jobs:run-retry": STAFF, "jobs:run-acknowledge": STAFF,
    "jobs:preflight": STAFF,
    "jobs:dry-run": STAFF, "jobs:restore-new": STAFF, "jobs:bulk-list": STAFF,
    "jobs:bulk-new": STAFF, "jobs:bulk-template": STAFF, "jobs:bulk-detail": STAFF,
    "jobs:bulk-rows": STAFF, "jobs:bulk-start": STAFF,
    "archive:home": EVERYONE, "archive:search": EVERYONE,
    "archive:account": ARCHIVE, "archive:folder": ARCHIVE, "archive:message": ARCHIVE,
    "archive:message-print": ARCHIVE, "archive:message-body": ARCHIVE,
    "archive:message-source": ARCHIVE, "archive:message-download": ARCHIVE,
    "archive:message-part": ARCHIVE, "archive:conversation": ARCHIVE,
    "archive:export": ARCHIVE, "archive:message-inline": ARCHIVE,
    "jobs:export-background": ARCHIVE, "jobs:export-run": ARCHIVE,
    "jobs:export-download": ARCHIVE,
    "archive:import": STAFF, "archive:import-server": STAFF, "archive:import-run": STAFF,
    "users:list": ADMINS, "users:new": ADMINS, "users:edit": ADMINS, "users:password": ADMINS,
    "users:reset-two-factor": ADMINS, "users:delete": ADMINS, "users:unlock": ADMINS,
    "users:my-password": EVERYONE, "users:two-factor": EVERYONE,
    "users:tokens": EVERYONE, "users:token-revoke": EVERYONE,
    "api-schema": SCHEMA, "api-docs": EVERYONE,
    "audit:list": ADMINS, "audit:csv": ADMINS,
    "sitesettings:edit": ADMINS, "sitesettings:notify-test": ADMINS,
    "sitesettings:mail-test": ADMINS,
}  # fmt: skip
# Query strings some views need to reach their object.
QUERY = {
    "archive:export": "scope=account&fmt=eml&account={account}",
    "jobs:export-background": "scope=account&fmt=eml&account={account}",
}


def url_patterns(patterns=None, prefix: str = "", namespace: str = ""):
    """(name, route, pattern) for every URL pattern, namespaced like reverse() wants."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            full = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from url_patterns(entry.url_patterns, prefix + str(entry.pattern), full)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield name, prefix + str(entry.pattern), entry


# The API's endpoints are walked with tokens by tests/api/test_access_walk.py (which fails for
# one without an expectation); here, that a session cookie alone opens none of them.
EXPECT.update({name: API for name, _, _ in url_patterns() if name.startswith("api:")})


@pytest.fixture
def world(db, archive_root):
    """The cast plus a whole archive, job, run, import and bulk migration of `other`."""
    granted, other = make_account("granted"), make_account("other")
    folder = Folder.objects.create(account=other, name="INBOX", raw_name="INBOX", uidvalidity=1)
    message = archive_raws(folder, [RAW])[0]
    job = Job.objects.create(name="Backup other", account=other)
    run = JobRun.objects.create(job=job, account=other, state=JobRun.State.SUCCEEDED)
    ids = {
        "account": other.pk,
        "folder": folder.pk,
        "message": message.pk,
        "job": job.pk,
        "run": run.pk,
        "import": ImportRun.objects.create(account=other, source="upload").pk,
        "bulk": BulkMigration.objects.create(name="bulk").pk,
        "transfer": Job.objects.create(
            name="Sync other", kind=Job.Kind.SYNC, account=other, destination=other
        ).pk,
        "export": _export_run(other).pk,
    }
    users = {
        "administrator": make_user("alice", "administrator"),
        "operator": make_user("oscar", "operator"),
        "viewer-granted": make_user("vera", "viewer", [granted]),
        "viewer-without": make_user("victor", "viewer"),
    }
    ids["user"] = users["viewer-without"].pk
    return {"ids": ids, "users": users, "granted": granted, "other": other}


def _export_run(account) -> JobRun:
    """A finished background export of `account` (its file expired: the download says 410)."""
    options = {"scope": "account", "fmt": "eml", "account_ids": [account.pk], "label": "other"}
    job = Job.objects.create(
        name="Export other", kind=Job.Kind.EXPORT, account=account, options=options
    )
    return JobRun.objects.create(job=job, account=account, state=JobRun.State.SUCCEEDED)


def fill(name: str, route: str, ids: dict) -> dict:
    """Path arguments for a route, with ids of the `other` account's objects."""
    kwargs = {}
    for arg in ("pk", "account_pk", "index", "content_type_id", "object_id", "id", "app_label"):
        if f"<int:{arg}>" in route or f"<path:{arg}>" in route or f"<{arg}>" in route:
            kwargs[arg] = _value(name, arg, ids)
    return kwargs


def _value(name: str, arg: str, ids: dict):
    if arg == "index":
        return 2  # the attachment part
    if arg == "account_pk":
        return ids["account"]
    if arg in ("object_id", "id", "content_type_id"):
        return str(ids["user"])
    section, _, view = name.partition(":")
    for key, prefixes in (
        ("folder", ("folder",)),
        ("message", ("message", "conversation")),
        ("run", ("run-",)),
        ("import", ("import-run",)),
        ("bulk", ("bulk-",)),
        ("transfer", ("preflight", "dry-run")),
        ("export", ("export-run", "export-download")),
    ):
        if view.startswith(prefixes):
            return ids[key]
    return {"accounts": ids["account"], "archive": ids["account"], "users": ids["user"]}.get(
        section, ids["job"]
    )


def request(client: Client, name: str, route: str, ids: dict):
    url = reverse(name, kwargs=fill(name, route, ids))
    if name in QUERY:
        url += "?" + QUERY[name].format(account=ids["account"])
    return url, client.get(url)


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(
        (reverse("login"), "/admin/login/")
    )


def reached(response) -> bool:
    return response.status_code not in (401, 403, 404) and not is_login_redirect(response)


def expected(rule: str, role: str, response) -> bool:
    staff = role in ("administrator", "operator")
    if rule in (API, SCHEMA):
        return expected_api(rule, role, response)
    if role == "anonymous":
        if rule == PUBLIC:
            return reached(response)
        if rule == METRICS:
            return response.status_code == 401
        return is_login_redirect(response)
    if rule in (PUBLIC, EVERYONE):
        return reached(response)
    if rule == METRICS:
        return reached(response) if staff else response.status_code == 401
    if rule == ADMINS:
        return reached(response) if role == "administrator" else response.status_code == 403
    if rule == STAFF:
        return reached(response) if staff else response.status_code == 403
    if rule == ARCHIVE:
        return reached(response) if staff else response.status_code == 404
    raise AssertionError(f"unknown rule {rule}")


def expected_api(rule: str, role: str, response) -> bool:
    if rule == API:
        return response.status_code == 401
    return response.status_code == 401 if role == "anonymous" else reached(response)


ROLES = ("administrator", "operator", "viewer-granted", "viewer-without", "anonymous")


def test_every_url_pattern_has_an_access_expectation():
    names = {name for name, _, _ in url_patterns() if not name.startswith("admin:")}
    missing = sorted(names - set(EXPECT))
    assert not missing, f"URL patterns without an access expectation in {__file__}: {missing}"
    assert not sorted(set(EXPECT) - names), "expectations for URL patterns that no longer exist"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_what_it_may(world, role):
    client = Client(raise_request_exception=True)
    if role != "anonymous":
        client.force_login(world["users"][role])
    wrong = []
    for name, route, _ in url_patterns():
        if name.startswith("admin:"):
            continue
        url, response = request(client, name, route, world["ids"])
        if not expected(EXPECT[name], role, response):
            wrong.append(f"{name} {url} -> {response.status_code}")
        elif role.startswith("viewer") or role == "anonymous":
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert SECRET_SUBJECT.encode() not in body, f"{name} leaked content to {role}"
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_only_administrators_get_into_the_admin_site(world, role):
    client = Client()
    if role != "anonymous":
        client.force_login(world["users"][role])
    for name, route, _ in url_patterns():
        if not name.startswith("admin:") or name.endswith(":None") or "(?P" in route:
            continue
        if name in ("admin:login", "admin:logout"):  # the admin's own sign-in pages
            continue
        if role == "administrator" and name.endswith(("_config", "_qrcode")):
            continue  # django-otp's device pages raise for a device that does not exist
        url, response = request(client, name, route, world["ids"])
        if role == "administrator":
            # (read-only admins such as the audit log's answer 403 to "add")
            assert response.status_code < 500, url
        else:
            assert response.status_code in (302, 404) and response.status_code != 200, url
            if response.status_code == 302:
                assert is_login_redirect(response), (url, response["Location"])


def test_a_viewer_reaches_the_granted_archive_and_its_downloads(world):
    folder = Folder.objects.create(
        account=world["granted"], name="INBOX", raw_name="INBOX", uidvalidity=1
    )
    mine = archive_raws(folder, [RAW.replace(b"walk@", b"mine@")])[0]
    vera = Client()
    vera.force_login(world["users"]["viewer-granted"])
    for name, args in (
        ("archive:account", [world["granted"].pk]),
        ("archive:folder", [folder.pk]),
        ("archive:message", [mine.pk]),
        ("archive:message-download", [mine.pk]),
        ("archive:message-part", [mine.pk, 2]),
    ):
        assert vera.get(reverse(name, args=args)).status_code == 200, name
    victor = Client()
    victor.force_login(world["users"]["viewer-without"])
    assert victor.get(reverse("archive:message", args=[mine.pk])).status_code == 404


def test_a_viewers_search_and_export_stay_inside_the_grants(world):
    vera = Client()
    vera.force_login(world["users"]["viewer-granted"])
    page = vera.get(reverse("archive:search"), {"q": WORDS})
    assert page.status_code == 200 and SECRET_SUBJECT.encode() not in page.content
    alice = Client()
    alice.force_login(world["users"]["administrator"])
    assert SECRET_SUBJECT.encode() in alice.get(reverse("archive:search"), {"q": WORDS}).content
    response = vera.get(reverse("archive:export"), {"scope": "search", "q": WORDS})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert SECRET_SUBJECT.encode() not in body


def test_dashboard_sends_viewers_to_their_archive(world):
    vera = Client()
    vera.force_login(world["users"]["viewer-granted"])
    response = vera.get(reverse("dashboard"))
    assert response.status_code == 302 and response["Location"] == reverse("archive:home")
    assert get_user_model().objects.count() == 4

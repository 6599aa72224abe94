"""Every API endpoint and method, walked with each actor's token and without one.

Path arguments are ids of the `other` account's objects, which no viewer was granted. Anonymous
callers and expired or revoked tokens get 401 everywhere; a viewer's token gets 403 on what
its role never uses and 404 on archive objects outside its grants; an operator's token reaches
accounts, jobs and runs but not users or the audit log (403); an administrator's token reaches
everything. Changes are sent only where they must be refused, and nothing changes. An endpoint
without an expectation below fails the test: a new endpoint must say who may use it.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Account
from jobs.models import Job, JobRun
from tests.api.conftest import SECRET_SUBJECT
from tests.helpers.api import api_client
from tests.security.test_access_walk import url_patterns

VISIBLE = "visible"  # every role reads it, narrowed to what it may see
STAFF = "staff"  # administrators and operators; viewers 403
ADMINS = "admins"  # administrators; operators and viewers 403
ARCHIVE = "archive"  # staff; a viewer outside its grants 404

# (rule for reading, rule for changing) per endpoint.
EXPECT = {
    "api:accounts": (VISIBLE, STAFF),
    "api:account": (ARCHIVE, STAFF),
    "api:account-test": (STAFF, STAFF),
    "api:jobs": (STAFF, STAFF), "api:job": (STAFF, STAFF), "api:job-run": (STAFF, STAFF),
    "api:runs": (STAFF, STAFF), "api:run": (STAFF, STAFF), "api:run-cancel": (STAFF, STAFF),
    "api:archive-folders": (ARCHIVE, None), "api:archive-messages": (ARCHIVE, None),
    "api:message": (ARCHIVE, None), "api:message-source": (ARCHIVE, None),
    "api:message-part": (ARCHIVE, None),
    "api:search": (VISIBLE, None), "api:export": (ARCHIVE, None),
    "api:users": (ADMINS, ADMINS), "api:user": (ADMINS, ADMINS),
    "api:user-grants": (ADMINS, ADMINS), "api:audit": (ADMINS, ADMINS),
}  # fmt: skip
QUERY = {"api:search": "q=quarterly", "api:export": "scope=account&account={account}"}
ROLES = {"alice": "administrator", "oscar": "operator", "vera": "viewer", "victor": "viewer"}
ACTORS = ("alice", "oscar", "vera", "victor", "expired", "revoked", "anonymous")
WRITES = ("post", "put", "patch", "delete")


def api_patterns():
    for name, route, pattern in url_patterns():
        if name.startswith("api:"):
            yield name, route, pattern.callback.cls


def methods_of(view_class) -> list[str]:
    return [m for m in ("get", *WRITES) if hasattr(view_class, m)]


# Which object's id fills an endpoint's <pk>.
PK_OF = {
    "api:account": "account", "api:account-test": "account", "api:archive-folders": "account",
    "api:job": "job", "api:job-run": "job", "api:run": "run", "api:run-cancel": "run",
    "api:archive-messages": "folder", "api:message": "message", "api:message-source": "message",
    "api:message-part": "message", "api:user": "user", "api:user-grants": "user",
}  # fmt: skip


def url_for(name: str, route: str, ids: dict) -> str:
    kwargs = {"pk": ids[PK_OF[name]]} if "<int:pk>" in route else {}
    if "<int:index>" in route:
        kwargs["index"] = 2  # the attachment part
    url = reverse(name, kwargs=kwargs)
    if name in QUERY:
        url += "?" + QUERY[name].format(account=ids["account"])
    return url


def expected_status(actor: str, rule: str) -> int | None:
    """The status `actor` must get under `rule`; None: it reaches the view (2xx or 3xx)."""
    if actor not in ROLES:
        return 401
    role = ROLES[actor]
    if rule == VISIBLE:
        return None
    if rule == ADMINS:
        return None if role == "administrator" else 403
    if rule == STAFF:
        return None if role != "viewer" else 403
    if rule == ARCHIVE:
        return None if role != "viewer" else 404
    raise AssertionError(rule)


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_every_api_endpoint_has_an_access_expectation():
    names = {name for name, _, _ in api_patterns()}
    assert names == set(EXPECT)


@pytest.mark.parametrize("actor", ACTORS)
def test_each_token_reads_exactly_what_its_user_may(world, actor):
    client = api_client(world["tokens"][actor])
    wrong = []
    for name, route, view_class in api_patterns():
        if "get" not in methods_of(view_class):
            continue
        url = url_for(name, route, world["ids"])
        response = client.get(url)
        want = expected_status(actor, EXPECT[name][0])
        if (want is None and response.status_code >= 400) or (
            want and response.status_code != want
        ):
            wrong.append(f"GET {url} -> {response.status_code}, wanted {want or 'success'}")
        if ROLES.get(actor) not in ("administrator", "operator"):
            assert SECRET_SUBJECT.encode() not in body_of(response), f"{url} leaked to {actor}"
    assert not wrong, f"as {actor}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("actor", ACTORS)
def test_changes_are_refused_to_every_token_whose_user_may_not_make_them(world, actor):
    client = api_client(world["tokens"][actor])
    before = (Account.objects.count(), Job.objects.count(), JobRun.objects.count())
    wrong = []
    for name, route, view_class in api_patterns():
        rule = EXPECT[name][1]
        want = expected_status(actor, rule) if rule else None
        if want is None:
            continue  # allowed: the functional tests make these changes
        url = url_for(name, route, world["ids"])
        for method in methods_of(view_class):
            if method == "get":
                continue
            response = getattr(client, method)(url, {}, content_type="application/json")
            if response.status_code != want:
                wrong.append(f"{method.upper()} {url} -> {response.status_code}, wanted {want}")
    assert not wrong, f"as {actor}:\n" + "\n".join(wrong)
    assert (Account.objects.count(), Job.objects.count(), JobRun.objects.count()) == before
    world["run"].refresh_from_db()
    assert not world["run"].cancel_requested


def test_anonymous_and_dead_tokens_are_told_to_authenticate_with_a_bearer_token(world):
    for actor in ("anonymous", "expired", "revoked"):
        response = api_client(world["tokens"][actor]).get(reverse("api:accounts"))
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_signed_in_session_alone_does_not_open_the_api(world):
    client = api_client()
    client.force_login(world["users"]["alice"])
    assert client.get(reverse("api:accounts")).status_code == 401

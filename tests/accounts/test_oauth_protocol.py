"""accounts/oauth.py and the SASL helpers against the local provider, and their small rules."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts import oauth, oauth_tokens
from accounts.models import Account
from mail import errors
from mail.sasl import choose_mechanism, initial_response
from tests.servers.oauth import CLIENT_ID, CLIENT_SECRET, OAuthProvider, signed_in_account


def provider_for(server: OAuthProvider, **changes) -> oauth.Provider:
    values = {
        "key": "generic",
        "label": "Test provider",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorization_url": server.endpoint("authorize"),
        "token_url": server.endpoint("token"),
        "device_url": server.endpoint("device"),
        "revocation_url": server.endpoint("revoke"),
        "userinfo_url": server.endpoint("userinfo"),
        "scopes": ("openid", "email", "mail"),
        **changes,
    }
    return oauth.Provider(**values)


def test_the_authorization_url_carries_a_fresh_state_and_an_s256_challenge(oauth_provider):
    provider = provider_for(oauth_provider, extra_params={"access_type": "offline"})
    first = oauth.authorization_request(provider, "https://b.example/cb", "ann@example.org")
    second = oauth.authorization_request(provider, "https://b.example/cb")
    query = {k: v[0] for k, v in parse_qs(urlsplit(first.url).query).items()}
    assert query["state"] == first.state != second.state
    assert query["code_challenge"] == oauth.pkce_challenge(first.code_verifier)
    assert first.code_verifier not in first.url  # only its hash travels
    assert query["access_type"] == "offline" and query["login_hint"] == "ann@example.org"
    assert query["scope"] == "openid email mail" and query["client_id"] == CLIENT_ID
    assert CLIENT_SECRET not in first.url and CLIENT_SECRET not in repr(provider)


def test_a_revoked_refresh_token_is_an_invalid_grant(oauth_provider):
    provider = provider_for(oauth_provider)
    reply = oauth_provider.issue("ann", "mail")
    tokens = oauth.refresh(provider, reply["refresh_token"])
    assert tokens.access_token and tokens.refresh_token != reply["refresh_token"]  # rotated
    with pytest.raises(oauth.InvalidGrant, match="invalid_grant"):
        oauth.refresh(provider, reply["refresh_token"])  # the rotated-away one
    assert tokens.access_token not in repr(tokens)


def test_a_wrong_client_secret_is_an_error_but_not_a_lost_sign_in(oauth_provider):
    provider = provider_for(oauth_provider, client_secret="wrong")
    with pytest.raises(oauth.OAuthError) as failure:
        oauth.refresh(provider, oauth_provider.issue("ann", "mail")["refresh_token"])
    assert failure.value.code == "invalid_client"
    assert not isinstance(failure.value, oauth.InvalidGrant)


def test_the_identity_comes_from_the_id_token_else_from_userinfo(oauth_provider):
    provider = provider_for(oauth_provider)
    with_id = oauth_provider.issue("ann@example.org", "openid email", nonce="n-1")
    tokens = oauth.Tokens(with_id["access_token"], time.time() + 60, id_token=with_id["id_token"])
    assert oauth.identity(provider, tokens, "n-1") == "ann@example.org"
    with pytest.raises(oauth.OAuthError, match="another sign-in"):
        oauth.identity(provider, tokens, "n-2")
    bare = oauth_provider.issue("bob@example.org", "mail")  # no openid: no id_token
    assert oauth.identity(provider, oauth.Tokens(bare["access_token"], 0)) == "bob@example.org"


def test_the_device_flow_waits_until_approved(oauth_provider):
    provider = provider_for(oauth_provider)
    device = oauth.start_device_flow(provider)
    with pytest.raises(oauth.AuthorizationPending):
        oauth.poll_device_flow(provider, device.device_code)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            oauth_provider.approve_device(device.user_code, "carol@example.org")

    tokens = oauth.wait_for_device(provider, device, sleep=sleep)
    assert tokens.refresh_token and len(slept) == 2


def test_an_unreachable_provider_is_a_transient_error(db, oauth_dovecot, oauth_provider, settings):
    from tests.servers.oauth import configure_generic

    configure_generic(settings, oauth_provider)
    account = signed_in_account(oauth_dovecot, oauth_provider, oauth_dovecot.add_user())
    refused = account.get_access_token()
    settings.OAUTH_GENERIC_TOKEN_URL = "http://127.0.0.1:9/token"  # nothing listens there
    with pytest.raises(errors.TransientError, match="cannot be reached"):
        oauth_tokens.access_token(account, failed=refused)
    assert not Account.objects.get(pk=account.pk).needs_reauth


def test_xoauth2_and_oauthbearer_payloads_follow_their_specs():
    xoauth2 = initial_response("XOAUTH2", "ann@example.org", "tok", "imap.example", 993)
    assert xoauth2 == b"user=ann@example.org\x01auth=Bearer tok\x01\x01"
    bearer = initial_response("OAUTHBEARER", "a,b=c", "tok", "imap.example", 993)
    assert bearer == b"n,a=a=2Cb=3Dc,\x01host=imap.example\x01port=993\x01auth=Bearer tok\x01\x01"


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        ([b"IMAP4REV1", b"AUTH=PLAIN", b"AUTH=XOAUTH2", b"AUTH=OAUTHBEARER"], "XOAUTH2"),
        (["IMAP4rev1", "AUTH=OAUTHBEARER", "AUTH=XOAUTH2"], "OAUTHBEARER"),
        ([b"IMAP4REV1", b"AUTH=PLAIN"], "XOAUTH2"),
    ],
)
def test_the_mechanism_is_the_first_oauth_one_the_server_lists(capabilities, expected):
    assert choose_mechanism(capabilities) == expected


def test_the_id_token_claims_are_read_and_junk_is_ignored():
    claims = {"email": "dan@example.org"}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert oauth.id_token_claims(f"e30.{body}.") == claims
    assert oauth.id_token_claims("not-a-jwt") == {}

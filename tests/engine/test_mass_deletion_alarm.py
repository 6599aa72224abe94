"""Where the mass-deletion alarm starts: more than the account's share or count, any folder gone."""

from __future__ import annotations

from jobs.engine.backup.alarm import Thresholds, warning

DEFAULTS = Thresholds()


def test_exactly_the_share_is_quiet_and_one_more_message_warns():
    assert warning({"INBOX": 20}, [], {}, 100, DEFAULTS) == ""
    assert warning({"INBOX": 21}, [], {}, 100, DEFAULTS).startswith(
        "Possible mass deletion: 21 of 100 messages (21%)"
    )


def test_more_than_the_count_warns_even_under_the_share():
    assert warning({"INBOX": 500}, [], {}, 100_000, DEFAULTS) == ""
    assert "501 of 100,000 messages (0%)" in warning({"INBOX": 501}, [], {}, 100_000, DEFAULTS)


def test_a_whole_folder_gone_always_warns_even_an_empty_one():
    text = warning({"Old": 0}, ["Old"], {}, 1000, DEFAULTS)
    assert text == (
        "Possible mass deletion: 0 of 1,000 messages (0%) gone from the server since the last "
        "run; folders gone: Old (Old: 0)"
    )


def test_the_accounts_thresholds_replace_the_defaults():
    class Account:
        mass_deletion_percent, mass_deletion_count = 50, 10

    limits = Thresholds.of(Account())
    assert limits == Thresholds(50, 10)
    assert warning({"INBOX": 10}, [], {}, 100, limits) == ""
    assert warning({"INBOX": 11}, [], {}, 100, limits) != ""

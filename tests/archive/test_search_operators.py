"""The search box's operators (from:, before:, larger:, is:, -word, OR...) find the right messages.

Marked `postgres`: `make test` runs these again under a real PostgreSQL.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from archive import search
from archive.models import Message
from archive.query_language import QueryError, parse
from jobs.views_transfer import search_result_ids
from tests.helpers.api import api_client, make_token

pytestmark = [pytest.mark.postgres]


def found(text: str) -> list[str]:
    """The subjects the box's text finds, sorted (the other account has a second budget)."""
    return sorted(h.message.subject for h in search.search(parse(text)).hits)


def test_address_subject_and_filename_operators_look_in_their_field(corpus_of_four):
    assert found("from:dave") == ["Café crème"]
    assert found("from:dave@example.org") == ["Café crème"]
    assert found("cc:carol") == ["Holiday plans"]
    assert found("to:bob invoice") == ["Invoice"]
    assert found("subject:invoice") == ["Invoice"]
    assert found('subject:"quarterly budget"') == ["Quarterly budget", "Quarterly budget"]
    assert found("filename:rechnung") == ["Invoice"]
    assert found("from:zebra") == []


def test_folder_and_account_operators_take_names(corpus_of_four, folder):
    assert found("zebra account:bob") == ["Quarterly budget"]
    assert found("zebra account:ALICE") == ["Holiday plans", "Quarterly budget"]
    assert found("zebra folder:inbox") == ["Holiday plans", "Quarterly budget", "Quarterly budget"]
    assert found("zebra folder:Archive") == []


def test_after_is_on_or_after_a_day_and_before_is_before_it(corpus_of_four):
    assert found("zebra after:2024-01-05") == ["Holiday plans"]
    assert found("zebra before:2024-01-10") == ["Quarterly budget", "Quarterly budget"]
    assert found("crossing after:2024-01-10 before:2024-01-11") == ["Holiday plans"]
    assert found("crossing after:2024-01-11") == []


def test_larger_and_smaller_bound_the_message_size(corpus_of_four):
    invoice = Message.objects.get(subject="Invoice").size
    assert found(f"the larger:{invoice}") == ["Invoice"]
    assert found(f"the smaller:{invoice}") == ["Holiday plans", "Quarterly budget"]
    assert parse("larger:5M").size_min == 5 * 1024 * 1024
    assert parse("smaller:1.5k").size_max == 1536


def test_has_and_is_operators_and_their_negations_filter(corpus_of_four):
    assert found("the has:attachment") == ["Invoice"]
    assert found("the -has:attachment") == ["Holiday plans", "Quarterly budget"]
    Message.objects.filter(subject="Holiday plans").update(
        deleted_on_server_at=timezone.now(), flags=["\\Flagged"]
    )
    assert found("zebra is:deleted") == ["Holiday plans"]
    assert found("zebra -is:deleted") == ["Quarterly budget", "Quarterly budget"]
    assert found("zebra is:flagged") == ["Holiday plans"]
    assert found("zebra -is:flagged") == ["Quarterly budget", "Quarterly budget"]
    assert found("is:flagged") == ["Holiday plans"]


def test_a_minus_word_or_phrase_excludes_the_messages_that_have_it(corpus_of_four):
    assert found("zebra -office") == ["Holiday plans", "Quarterly budget"]  # bob's has no office
    assert found('crossing -"zebra crossing"') == ["Holiday plans"]
    assert found("zebra -office -account") == ["Holiday plans"]


def test_or_between_words_finds_messages_with_either(corpus_of_four):
    assert found("invoice OR façade") == ["Café crème", "Invoice"]
    assert found("crossing office OR meet") == ["Holiday plans", "Quarterly budget"]
    assert found("invoice OR zebra -office") == ["Holiday plans", "Invoice", "Quarterly budget"]
    assert found("invoice OR zebra account:alice -office") == ["Holiday plans", "Invoice"]


def test_operators_combine(corpus_of_four):
    assert found("from:alice has:attachment after:2024-01-15 invoice") == ["Invoice"]
    assert found("from:alice account:alice before:2024-01-15 -has:attachment zebra") == [
        "Holiday plans",
        "Quarterly budget",
    ]


def test_an_unknown_operator_and_a_lowercase_or_are_plain_words():
    assert parse("color:red").words == "color:red"
    assert parse("this or that").words == "this or that"
    assert parse('"is:flagged"').flag == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("before:2024-13-01", "before:2024-13-01 is not a date"),
        ("after:yesterday", "after:yesterday is not a date"),
        ("larger:5X", "larger:5X is not a size"),
        ("larger:99999999999999999999G", "is not a size"),
        ("before:0001-01-01", "Nothing is dated before"),
        ("smaller:-5", "smaller:-5 is not a size"),
        ("-zebra", "needs a word to search for"),
        ("zebra -from:dave", "can be excluded"),
    ],
)
def test_a_bad_date_size_or_exclusion_is_a_clear_error(text, message):
    with pytest.raises(QueryError, match=message):
        parse(text)


def test_the_search_page_takes_operators_documents_them_and_shows_errors(
    corpus_of_four, admin_client
):
    url = reverse("archive:search")
    html = admin_client.get(url, {"q": "from:dave"}).content.decode()
    assert "Café crème" in html and "Search operators" in html and "larger:5M" in html
    response = admin_client.get(url, {"q": "zebra before:soon"})
    assert response.status_code == 200 and "before:soon is not a date" in response.content.decode()
    html = admin_client.get(url, {"q": "zebra", "subject": "holiday"}).content.decode()
    assert "Holiday plans" in html and "Quarterly budget" not in html


def test_the_api_search_takes_operators_and_refuses_bad_ones(corpus_of_four, admin_user):
    client = api_client(make_token(admin_user))
    url = reverse("api:search")
    found_ = client.get(url, {"q": "zebra account:alice -office"}).json()["results"]
    assert [m["subject"] for m in found_] == ["Holiday plans"]
    response = client.get(url, {"q": "larger:lots"})
    assert response.status_code == 400 and "not a size" in response.content.decode()


def test_a_restore_of_search_results_takes_the_same_operators(corpus_of_four, folder):
    holiday = Message.objects.get(subject="Holiday plans").pk
    assert search_result_ids(folder.account_id, "zebra -office") == [holiday]
    assert search_result_ids(folder.account_id, "zebra before:nonsense") == []

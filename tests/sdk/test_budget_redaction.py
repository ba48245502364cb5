"""Budgets (rolling windows) and redaction round-trips."""

from __future__ import annotations

import pytest
from edgekit.runtime.errors import BudgetExceededError, ConfigError, UnknownNameError
from edgekit.sdk.cloud import Budget, BudgetCaps
from edgekit.sdk.redaction import Redactor, StreamRestorer, luhn_valid


def test_per_minute_cap_rolls():
    now = [0.0]
    budget = Budget(BudgetCaps(escalations_per_minute=2), clock=lambda: now[0])
    budget.reserve()
    budget.reserve()
    with pytest.raises(BudgetExceededError, match="escalations_per_minute=2"):
        budget.reserve()
    now[0] = 61
    budget.reserve()


def test_per_day_cap():
    now = [0.0]
    budget = Budget(BudgetCaps(escalations_per_day=3), clock=lambda: now[0])
    for i in range(3):
        now[0] = i * 100
        budget.reserve()
    with pytest.raises(BudgetExceededError, match="last 24 h"):
        budget.reserve()
    now[0] = 86_400 + 1  # the first one left the window
    budget.reserve()


def test_token_cap():
    budget = Budget(BudgetCaps(cloud_tokens_per_day=100))
    budget.reserve()
    budget.record_tokens(120)
    with pytest.raises(BudgetExceededError, match="cloud_tokens_per_day=100"):
        budget.reserve()
    assert budget.usage()["cloud_tokens_last_day"] == 120


def test_bad_cap():
    with pytest.raises(ConfigError, match="escalations_per_day=-1"):
        BudgetCaps(escalations_per_day=-1)


SAMPLE = (
    "I'm jane.roe+work@mail.example.org, phone +44 20 7946 0958 or (415) 555-0100. "
    "Card 4111-1111-1111-1111, server 10.20.30.40 and fe80::1ff:fe23:4567:890a. "
    "What is 4839201 * 37? On 2024-05-01 at 12:30, order 1234567890123."
)


def test_redact_finds_each_kind_and_leaves_numbers():
    text, redaction = Redactor().redact(SAMPLE)
    for secret in [
        "jane.roe+work@mail.example.org",
        "+44 20 7946 0958",
        "(415) 555-0100",
        "4111-1111-1111-1111",
        "10.20.30.40",
        "fe80::1ff:fe23:4567:890a",
    ]:
        assert secret not in text
    assert redaction.kinds() == {"email": 1, "phone": 2, "card": 1, "ip": 2}
    for kept in ["4839201 * 37", "2024-05-01", "12:30", "1234567890123"]:
        assert kept in text  # arithmetic, dates, times, non-Luhn numbers stay
    assert redaction.restore(text) == SAMPLE


def test_card_needs_luhn():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    text, redaction = Redactor().redact("card 4111 1111 1111 1112")
    assert redaction.count == 0


def test_same_value_same_placeholder_across_messages():
    msgs = [
        {"role": "user", "content": "mail a@b.co"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "again a@b.co and c@d.co"},
    ]
    out, redaction = Redactor().redact_messages(msgs)
    assert out[0]["content"] == "mail [EMAIL_1]"
    assert out[2]["content"] == "again [EMAIL_1] and [EMAIL_2]"
    assert msgs[0]["content"] == "mail a@b.co"  # input untouched


def test_stream_restore_across_split_placeholders():
    _, redaction = Redactor().redact("a@b.co and 10.0.0.1")
    cloud = "Sent to [EMAIL_1] from [IP_1]. [not a placeholder]"
    for size in range(1, 8):
        chunks = [cloud[i : i + size] for i in range(0, len(cloud), size)]
        restored = "".join(Redactor().iter_restore(chunks, redaction))
        assert restored == "Sent to a@b.co from 10.0.0.1. [not a placeholder]"
    restorer = StreamRestorer(redaction)
    assert restorer.feed("x [EMA") == "x "
    assert restorer.flush() == "[EMA"


def test_kinds_subset_and_unknown():
    text, _ = Redactor(kinds=["email"]).redact("a@b.co 10.0.0.1")
    assert text == "[EMAIL_1] 10.0.0.1"
    with pytest.raises(UnknownNameError, match="known redaction kinds: card, email, iban, ip, phone"):
        Redactor(kinds=["ssn"])

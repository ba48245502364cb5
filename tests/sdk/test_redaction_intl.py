"""Redaction of internationalized e-mail addresses and of IBANs: what is found, what is left, and the way back."""

from __future__ import annotations

import unicodedata

import pytest
from edgekit.sdk import CloudConfig, HybridClient, Policy
from edgekit.sdk.policy.base import BASE_FAMILIES
from edgekit.sdk.policy.policy import RouterRule
from edgekit.sdk.redaction import KINDS, Redactor, iban_valid

from .faulty_cloud import Fault, FaultyCloud

IDN_EMAILS = [
    "josé@exämple.de",  # Latin with diacritics, local part and domain
    "用户@例子.广告",  # Chinese local part, domain and TLD
    "संपर्क@डाटामेल.भारत",  # Devanagari: vowel signs are combining marks, not \w
    "пример@пример.рф",  # Cyrillic
    "Müller.Lüdenscheidt@bücher.example",  # dotted unicode local part, ASCII TLD
    "θσερ@εχαμπλε.ψομ",  # Greek
    "bob@xn--80ak6aa92e.xn--p1ai",  # the A-label (punycode) form of a Cyrillic domain
    "me@例子。广告",  # an ideographic full stop separates labels (RFC 3490 §3.1)
    unicodedata.normalize("NFD", "josé@exämple.de"),  # decomposed: e + U+0301
]


@pytest.mark.parametrize("email", IDN_EMAILS)
def test_internationalized_email_is_redacted_and_restored(email):
    text = f"Please write to {email} today."
    out, redaction = Redactor().redact(text)
    assert out == "Please write to [EMAIL_1] today."
    assert redaction.mapping == {"[EMAIL_1]": email}
    assert redaction.restore(out) == text


@pytest.mark.parametrize(
    "text",
    [
        "user@localhost is the default",  # no dotted domain
        "a@b.c is too short a TLD",
        "the price is 5@3.99 each",
        "@алиса привет",  # a mention, no local part
        "v1.2@home",
        "用户@例子",  # no TLD
    ],
)
def test_not_an_email(text):
    out, redaction = Redactor(kinds=["email"]).redact(text)
    assert out == text and redaction.count == 0


def test_email_at_the_end_of_a_sentence_keeps_the_full_stop():
    out, redaction = Redactor().redact("Schreib an josé@exämple.de.")
    assert out == "Schreib an [EMAIL_1]." and redaction.mapping["[EMAIL_1]"] == "josé@exämple.de"


# -- IBAN ---------------------------------------------------------------------------------------------------------
IBANS = [
    "DE89 3704 0044 0532 0130 00",  # the ISO 13616 example, paper format
    "DE89370400440532013000",  # electronic format
    "GB82 WEST 1234 5698 7654 32",  # letters in the BBAN
    "FR14 2004 1010 0505 0001 3M02 606",
    "NO93 8601 1117 947",  # the shortest (15 characters)
    "BE71 0961 2345 6769",  # length a multiple of four
    "de89370400440532013000",  # lowercase
]


@pytest.mark.parametrize("value", IBANS)
def test_iban_is_redacted_and_restored(value):
    text = f"Transfer it to {value}, thanks."
    out, redaction = Redactor().redact(text)
    assert out == "Transfer it to [IBAN_1], thanks."
    assert redaction.kinds() == {"iban": 1} and redaction.restore(out) == text


@pytest.mark.parametrize(
    "value",
    [
        "DE88 3704 0044 0532 0130 00",  # one check digit off
        "DE89 3704 0044 0532 0130 01",  # one BBAN digit off: the check digits no longer fit
        "GB82 WEST 1234 5698 7654 3",  # one character short for GB
        "XX89 3704 0044 0532 0130 00",  # no such country
        "AB12 3456 7890 1234",
        "order XY12345678901234",
    ],
)
def test_not_an_iban(value):
    assert not iban_valid(value)
    out, redaction = Redactor(kinds=["iban"]).redact(f"see {value} here")
    assert out == f"see {value} here" and redaction.count == 0


def test_iban_followed_by_a_word_or_a_number_is_cut_at_its_own_end():
    # the pattern takes "and" / "1234" as a last group; the IBAN is the valid part before it
    for after in ("and more", "1234 is the reference"):
        text = f"BE71 0961 2345 6769 {after}"
        out, redaction = Redactor().redact(text)
        assert out == f"[IBAN_1] {after}" and redaction.restore(out) == text


def test_iban_wins_over_phone_and_card():
    text = "IBAN DE89 3704 0044 0532 0130 00 or call +49 30 1234567"
    out, redaction = Redactor().redact(text)
    assert out == "IBAN [IBAN_1] or call [PHONE_1]"
    assert redaction.restore(out) == text


def test_stream_restore_of_an_iban_placeholder_split_across_chunks():
    text = "to DE89 3704 0044 0532 0130 00 and josé@exämple.de"
    _, redaction = Redactor().redact(text)
    cloud = "Sent [IBAN_1]'s statement to [EMAIL_1]."
    for size in range(1, 6):
        chunks = [cloud[i : i + size] for i in range(0, len(cloud), size)]
        assert "".join(Redactor().iter_restore(chunks, redaction)) == (
            "Sent DE89 3704 0044 0532 0130 00's statement to josé@exämple.de."
        )


def test_iban_is_a_default_kind():
    assert "iban" in KINDS and "email" in KINDS


def test_hybrid_client_keeps_idn_email_and_iban_on_the_device(tiny_local):
    policy = Policy(families=BASE_FAMILIES, router_rules=(RouterRule("all", "min_chars", value=0),), post_models={})
    question = "Send 用户@例子.广告 the statement of DE89 3704 0044 0532 0130 00."
    with FaultyCloud(Fault("ok", pieces=("Sent to [EMAIL_1] for [IBAN_1].",))) as cloud:
        client = HybridClient(tiny_local, CloudConfig(cloud.url, "m", api_key_env=None), policy)
        answer = client.ask(question)
        (request,) = cloud.requests
    sent = request["body"]["messages"][-1]["content"]
    assert sent == "Send [EMAIL_1] the statement of [IBAN_1]."
    assert answer.text == "Sent to 用户@例子.广告 for DE89 3704 0044 0532 0130 00."
    assert answer.redacted == {"email": 1, "iban": 1}

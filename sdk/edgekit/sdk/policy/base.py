"""The hand-written part of the policy: task families and router rules.

``edgekit calibrate`` keeps these and fits the models; they are the defaults
when no policy file is given. Families are classified by the first matching
pattern (case-insensitive); ``answer_kind`` says where the answer span is.
The patterns are written for the labelled set's phrasing and ordinary
questions alike (a test checks they classify the shipped set as labelled).
"""

from __future__ import annotations

from .policy import FamilyRule, Policy, RouterRule

__all__ = ["BASE_FAMILIES", "BASE_ROUTER_RULES", "DEFAULT_FEATURES", "base_policy"]

_UNITS = (
    r"kilometers?|meters?|centimeters?|millimeters?|kilograms?|grams?|milligrams?|tonnes?|tons?|hours?|minutes?"
    r"|seconds?|days?|weeks?|months?|years?|decades?|century|centuries|feet|foot|inch|inches|yards?|liters?"
    r"|milliliters?|dozen|miles?|pounds?|ounces?"
)
# a number as digits or, up to twenty, as a word: "seven plus five" is as much arithmetic as "7 + 5"
_NUMBER = (
    r"(-?\d[\d.,]*|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)"
)

BASE_FAMILIES = (
    # First, since it is anchored: a question that opens with an auxiliary verb wants a yes or a no, whatever it
    # is about ("Is 91 a prime number?"), and its answer span is that word, not a number.
    FamilyRule("yesno", r"^\s*(is|are|was|were|do|does|did|can|could|will|would|has|have|should)\b", "yesno"),
    FamilyRule(
        "arithmetic",
        # operators as symbols or words: "48271 times 9343" is as much arithmetic as "48271 * 9343"
        rf"^\s*(what is|what's|how much is|calculate|compute|evaluate)\s+{_NUMBER}"
        rf"(\s*([-+*/x×÷]|times|multiplied by|divided by|plus|minus)\s*{_NUMBER})+\s*[?.]?\s*$",
        "number",
    ),
    FamilyRule(
        "conversion",
        rf"\b(convert|how many \w+ (are|is|make)|is how many|in \w+ are there)\b.*\b({_UNITS})\b",
        "number",
    ),
    FamilyRule(
        "fact",
        r"\b(capital|chemical symbol|planet|ocean|who wrote|who painted|who was|who invented|who discovered"
        r"|legs|continents|currency|language|temperature|freezing point|boiling point|tallest|hardest|largest"
        r"|longest|gas|mammal|smallest|mountain|river|desert|which year|colou?r|animal|sides|organ|bones|metal)\b",
        "entity",
    ),
    FamilyRule(
        "reasoning",
        r"\b(has|had|holds|buys|gave|left|each|sequence|larger|smaller|twice|half|old|costs?|shared)\b",
        "number",
    ),
)

BASE_ROUTER_RULES = (
    # A 135M model with a 2k context cannot do much with a prompt this long; the runtime's
    # context_policy="signal" would refuse it anyway, after tokenizing it.
    RouterRule("long_prompt", "min_chars", value=6000),
)

# Features of the fitted models. The fallback model ("default", used for "general" questions
# without an expected answer kind) leaves out the answer-span features.
_PRE = ("question_chars", "n_digits", "n_numbers", "max_number_len", "has_arith_op")
_POST_GENERIC = ("mean_logprob", "min_logprob", "mean_entropy", "max_window_entropy", "gen_tokens", "truncated")
_POST_ANSWER = ("answer_logprob", "answer_first_logprob", "has_answer")

DEFAULT_FEATURES = {
    "router": _PRE,
    "post": _PRE + _POST_GENERIC + _POST_ANSWER,
    "post_default": _PRE + _POST_GENERIC,
}


def base_policy() -> Policy:
    """Families and router rules without fitted models: escalates only on rules and context overflow."""
    return Policy(families=BASE_FAMILIES, router_rules=BASE_ROUTER_RULES)

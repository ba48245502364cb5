"""Escalation policy: signals, answer spans, the decision function and its file."""

from .answer_span import AnswerSpan, find_answer
from .policy import Decision, FamilyRule, LogisticModel, Policy, RouterRule, default_policy_path
from .signals import POST_SIGNALS, PRE_SIGNALS, post_signals, pre_signals, question_of

__all__ = [
    "Policy",
    "Decision",
    "LogisticModel",
    "FamilyRule",
    "RouterRule",
    "default_policy_path",
    "PRE_SIGNALS",
    "POST_SIGNALS",
    "pre_signals",
    "post_signals",
    "question_of",
    "find_answer",
    "AnswerSpan",
]

"""The escalation policy: a small file, a fully specified decision function.

The policy decides in two stages (and the Java and web demos reproduce it from
the same file; tests/vectors/policy_vectors.json holds shared test vectors):

1. **Before generation** (router), on the last user message ``q``:
   a. ``family`` = the first ``families[i].name`` whose ``pattern`` matches ``q``
      (case-insensitive search), else ``"general"``;
   b. privacy ``"local-only"`` → local, rule ``privacy:local-only`` (never escalates, at any stage);
   c. the first ``router.rules[i]`` that matches ``q`` → cloud, rule ``router:rule:<name>``;
   d. the router model of the family (``router.models[family]``, else ``router.models["default"]``,
      else none) on the pre-generation signals: p ≥ its threshold → cloud, rule ``router:model:<family>``;
   e. the hidden-state ``probe`` (version 2 files only; prompt_probe.py): after prefill, on the prompt's
      final hidden state ``h``, ``p = 1 / (1 + exp(-(bias + weights . h)))`` ≥ its threshold → cloud, rule
      ``router:probe`` (no token is generated);
   f. else generate locally.
   While generating (files with an ``early`` section; early.py): after each token j <= ``early.max_tokens``,
   the early model on the pre signals and the answer prefix's signals: p >= its threshold → stop and escalate,
   rule ``early:model:<family>``.
2. **After generation**, on pre + post signals:
   a. ``context_overflow == 1`` → cloud, rule ``post:context_overflow``;
   b. the ``answer_probe`` (version 3 files only; answer_probe.py), on the mean ``m`` of the final hidden states
      that drew a free-text answer's tokens: signal ``answer_probe = bias + weights . m``, ``answer_probe_missing
      = 0``, and the models are ``answer_probe.models``; without that state (a tool call, no state, another
      width) ``answer_probe = 0``, ``answer_probe_missing = 1``, and the models are ``post.models``;
   c. the post model of the family in those models (same lookup): p ≥ threshold → cloud, rule
      ``post:model:<family>``;
   d. else keep the local answer, rule ``post:accept``.

A model is a standardised logistic regression::

    z_i   = (x_i - mean_i) / std_i                      for each name in `features`
    score = bias + sum_i weights_i * z_i
    p     = 1 / (1 + exp(-score))                       escalate when p >= threshold

Router rules (``kind``): ``regex`` (``pattern``, case-insensitive search),
``keywords`` (``words``: any whole word, case-insensitive), ``min_chars``
(``value``: len(q) >= value), ``min_digits`` (``value``: digits in q >= value),
``family`` (``families``: the classified family is one of them). Patterns use
the subset of regex that Python ``re``, Java and JavaScript read alike
(classes, ``\\d \\s \\b``, alternation, quantifiers; no lookbehind or named groups).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from edgekit.runtime.errors import ConfigError
from edgekit.runtime.registry import Registry

from .answer_probe import MISSING_SIGNAL, PROBE_SIGNAL, AnswerProbe
from .early import EarlyStop
from .logistic import LogisticModel
from .operating import OperatingCurve, check_target
from .prompt_probe import PromptProbe

__all__ = [
    "POLICY_FORMAT",
    "POLICY_VERSION",
    "POLICY_VERSIONS",
    "PRIVACY_MODES",
    "LogisticModel",
    "FamilyRule",
    "RouterRule",
    "Decision",
    "Policy",
    "RULE_KINDS",
    "default_policy_path",
]

POLICY_FORMAT = "edgekit-policy"
# Version 2 adds the optional hidden-state "probe". A file without a probe is still written as version 1, so
# readers that predate the probe (they refuse versions they do not know) keep reading it, and a file with one is
# never read by them as if it had none. Version 3 adds the optional "answer_probe" (post models that read the
# answer's mean hidden state), on the same terms. The Java and web demos read every version.
POLICY_VERSION = 3
POLICY_VERSIONS = (1, 2, 3)
PRIVACY_MODES = ("allow", "local-only")
GENERAL = "general"


@dataclass(frozen=True)
class FamilyRule:
    name: str
    pattern: str
    answer_kind: str | None = None  # "number", "entity", "yesno" or None

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ConfigError(f"policy family {self.name!r}: bad regex {self.pattern!r} ({exc})") from None

    def matches(self, question: str) -> bool:
        return re.search(self.pattern, question, re.IGNORECASE) is not None


@dataclass(frozen=True)
class RouterRule:
    name: str
    kind: str
    pattern: str | None = None
    words: tuple[str, ...] = ()
    value: float | None = None
    families: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        RULE_KINDS.get(self.kind)  # raises UnknownNameError listing the known kinds
        if self.kind == "regex":
            try:
                re.compile(self.pattern or "")
            except re.error as exc:
                raise ConfigError(f"router rule {self.name!r}: bad regex {self.pattern!r} ({exc})") from None
            if not self.pattern:
                raise ConfigError(f"router rule {self.name!r}: kind regex needs a pattern")
        if self.kind in ("min_chars", "min_digits") and self.value is None:
            raise ConfigError(f"router rule {self.name!r}: kind {self.kind} needs a value")

    def matches(self, question: str, family: str) -> bool:
        return RULE_KINDS.get(self.kind)(self, question, family)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.pattern is not None:
            out["pattern"] = self.pattern
        if self.words:
            out["words"] = list(self.words)
        if self.value is not None:
            out["value"] = self.value
        if self.families:
            out["families"] = list(self.families)
        return out


RULE_KINDS: Registry[Callable[[RouterRule, str, str], bool]] = Registry("router rule kind")
RULE_KINDS.add("regex", lambda r, q, f: re.search(r.pattern or "", q, re.IGNORECASE) is not None)
RULE_KINDS.add(
    "keywords",
    lambda r, q, f: any(re.search(r"\b" + re.escape(w) + r"\b", q, re.IGNORECASE) for w in r.words),
)
RULE_KINDS.add("min_chars", lambda r, q, f: len(q) >= (r.value or 0))
RULE_KINDS.add("min_digits", lambda r, q, f: sum(ch.isdigit() for ch in q) >= (r.value or 0))
RULE_KINDS.add("family", lambda r, q, f: f in r.families)


@dataclass(frozen=True)
class Decision:
    """What the policy decided, and why."""

    escalate: bool
    stage: str  # "privacy", "router", "early", "post"
    rule: str  # e.g. "router:rule:long_prompt", "post:model:arithmetic", "post:accept"
    family: str
    probability: float | None = None
    threshold: float | None = None
    signals: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "escalate": self.escalate,
            "stage": self.stage,
            "rule": self.rule,
            "family": self.family,
            "probability": self.probability,
            "threshold": self.threshold,
            "signals": dict(self.signals),
        }


def default_policy_path() -> Path:
    return Path(str(resources.files("edgekit.sdk.policy") / "default_policy.json"))


def _models(data: Mapping[str, Any] | None, where: str) -> dict[str, LogisticModel]:
    if not data:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"policy {where} must be an object of family -> model")
    return {str(k): LogisticModel.from_dict(v) for k, v in data.items()}


@dataclass(frozen=True)
class Policy:
    """Escalation policy. ``Policy.default()`` loads the shipped, calibrated file;
    ``Policy.load(path)`` a file written by ``edgekit calibrate``; ``Policy()`` has
    no models (it only escalates on router rules and context overflow)."""

    families: tuple[FamilyRule, ...] = ()
    router_rules: tuple[RouterRule, ...] = ()
    router_models: dict[str, LogisticModel] = field(default_factory=dict)
    post_models: dict[str, LogisticModel] = field(default_factory=dict)
    privacy: str = "allow"
    generation: dict[str, Any] = field(default_factory=dict)  # local generation options the models were fitted with
    meta: dict[str, Any] = field(default_factory=dict)  # what it was fitted on, CV metrics (informative only)
    probe: PromptProbe | None = None  # escalates before generation on the prompt's hidden state
    operating: OperatingCurve | None = None  # measured thresholds for a stated accuracy or escalation budget
    early: EarlyStop | None = None  # may stop local generation after each of its first tokens and escalate
    answer_probe: AnswerProbe | None = None  # post models that also read the answer's mean hidden state

    def __post_init__(self) -> None:
        if self.privacy not in PRIVACY_MODES:
            raise ConfigError(f"privacy={self.privacy!r} is unknown; use one of: {', '.join(PRIVACY_MODES)}")
        reading = sorted(f for f, m in self.post_models.items() if PROBE_SIGNAL in m.features)
        if reading:
            raise ConfigError(
                f"policy post models {', '.join(reading)} read the answer probe's score, which only the models of "
                '"answer_probe" read; re-run `edgekit calibrate`'
            )

    # -- decisions ------------------------------------------------------------------
    def classify(self, question: str) -> str:
        for family in self.families:
            if family.matches(question):
                return family.name
        return GENERAL

    def answer_kind(self, family: str) -> str | None:
        for rule in self.families:
            if rule.name == family:
                return rule.answer_kind
        return None

    def _model(self, models: Mapping[str, LogisticModel], family: str) -> LogisticModel | None:
        return models.get(family) or models.get("default")

    def route(
        self,
        question: str,
        pre: Mapping[str, float],
        prompt_hidden: Any = None,
    ) -> Decision:
        """Stage 1: escalate before generation?

        ``prompt_hidden``: the prompt's final hidden state for the probe, or a function that computes it
        (called only when the decision gets to the probe, so a question a rule escalates is never prefilled).
        """
        family = self.classify(question)
        signals = dict(pre)
        if self.privacy == "local-only":
            return Decision(False, "privacy", "privacy:local-only", family, signals=signals)
        for rule in self.router_rules:
            if rule.matches(question, family):
                return Decision(True, "router", f"router:rule:{rule.name}", family, signals=signals)
        model = self._model(self.router_models, family)
        local = Decision(False, "router", "router:local", family, signals=signals)
        if model is not None:
            p = model.probability(signals)
            if p >= model.threshold:
                return Decision(True, "router", f"router:model:{family}", family, p, model.threshold, signals)
            local = Decision(False, "router", "router:local", family, p, model.threshold, signals)
        if self.probe is None:
            return local
        hidden = prompt_hidden() if callable(prompt_hidden) else prompt_hidden
        if hidden is None:
            raise ConfigError(
                "the policy has a hidden-state probe but the local model gave no prompt hidden state (a bundle "
                "exported without the last_hidden output, or an ExecuTorch bundle); re-export the bundle with this "
                "edgekit or use a policy without a probe"
            )
        p = self.probe.probability(hidden)
        signals["probe"] = p
        if p >= self.probe.threshold:
            return Decision(True, "router", "router:probe", family, p, self.probe.threshold, signals)
        return replace(local, signals=signals)

    def early_decision(self, family: str, signals: Mapping[str, float]) -> Decision:
        """While generating, after token ``prefix_tokens`` of the answer: stop and escalate now?

        ``signals``: the question's and the answer prefix's (early.py). Rule ``early:model:<family>`` when it
        stops; ``early:continue`` when it does not (no early model, privacy local-only, past its first
        ``max_tokens`` tokens, or p below its threshold)."""
        go_on = Decision(False, "early", "early:continue", family, signals=dict(signals))
        if self.early is None or self.privacy == "local-only":
            return go_on
        if signals.get("prefix_tokens", 0.0) > self.early.max_tokens:
            return go_on
        model = self.early.model
        p = model.probability(signals)
        if p >= model.threshold:
            return Decision(True, "early", f"early:model:{family}", family, p, model.threshold, dict(signals))
        return replace(go_on, probability=p, threshold=model.threshold)

    def stop_early(self, family: str, signals: Mapping[str, float]) -> Decision | None:
        """``early_decision`` when it stops generation, else None."""
        decision = self.early_decision(family, signals)
        return decision if decision.escalate else None

    def at_operating_point(
        self, target_accuracy: float | None = None, max_escalation_rate: float | None = None
    ) -> Policy:
        """This policy with every post threshold set for a stated target (operating.py); itself when none."""
        if target_accuracy is None and max_escalation_rate is None:
            return self
        if self.operating is None:
            check_target(target_accuracy, max_escalation_rate)
            raise ConfigError(
                "this policy has no measured operating curve, so it cannot aim at a target accuracy or escalation "
                "rate; re-run `edgekit calibrate` with this edgekit (or leave the target out)"
            )
        point = self.operating.choose(target_accuracy, max_escalation_rate)
        post = {name: replace(model, threshold=point.threshold) for name, model in self.post_models.items()}
        probe = self.answer_probe
        if probe is not None:
            models = {name: replace(model, threshold=point.threshold) for name, model in probe.models.items()}
            probe = replace(probe, models=models)
        return replace(self, post_models=post, answer_probe=probe)

    def decide(self, family: str, signals: Mapping[str, float], answer_hidden: Any = None) -> Decision:
        """Stage 2: escalate after seeing the local answer's signals (pre + post)?

        ``answer_hidden``: the mean of the final hidden states that drew the answer's tokens
        (``Result.answer_hidden_mean``; ``answer_probe.probe_state`` gives None for a tool call), read by the
        policy's answer probe when it has one."""
        signals = dict(signals)
        models = self.post_models
        if self.answer_probe is not None:
            read = self.answer_probe.signals(answer_hidden)
            signals.update(read)
            if not read[MISSING_SIGNAL]:
                models = self.answer_probe.models
        if self.privacy == "local-only":
            return Decision(False, "privacy", "privacy:local-only", family, signals=signals)
        if signals.get("context_overflow", 0.0) >= 1.0:
            return Decision(True, "post", "post:context_overflow", family, signals=signals)
        model = self._model(models, family)
        if model is None:
            return Decision(False, "post", "post:accept", family, signals=signals)
        p = model.probability(signals)
        if p >= model.threshold:
            return Decision(True, "post", f"post:model:{family}", family, p, model.threshold, signals)
        return Decision(False, "post", "post:accept", family, p, model.threshold, signals)

    # -- file -------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The oldest file version that holds this policy (older readers keep reading what they can)."""
        return 3 if self.answer_probe is not None else 2 if self.probe is not None else 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": POLICY_FORMAT,
            "version": self.version,
            "privacy": self.privacy,
            "families": [{"name": f.name, "pattern": f.pattern, "answer_kind": f.answer_kind} for f in self.families],
            "router": {
                "rules": [r.to_dict() for r in self.router_rules],
                "models": {k: m.to_dict() for k, m in self.router_models.items()},
            },
            "post": {"models": {k: m.to_dict() for k, m in self.post_models.items()}},
            "generation": dict(self.generation),
            "meta": dict(self.meta),
        }
        if self.probe is not None:
            out["probe"] = self.probe.to_dict()
        if self.answer_probe is not None:
            out["answer_probe"] = self.answer_probe.to_dict()
        if self.operating is not None:
            out["operating"] = self.operating.to_dict()
        if self.early is not None:
            out["early"] = self.early.to_dict()
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Any, where: str = "policy") -> Policy:
        if not isinstance(data, dict) or data.get("format") != POLICY_FORMAT:
            raise ConfigError(f'{where}: not an edgekit policy file (no "format": "{POLICY_FORMAT}")')
        version = data.get("version")
        if isinstance(version, bool) or version not in POLICY_VERSIONS:
            raise ConfigError(
                f"{where}: policy version {version!r} is not supported (this edgekit reads "
                f"{', '.join(map(str, POLICY_VERSIONS))}); re-run `edgekit calibrate`"
            )
        if "probe" in data and version < 2:
            raise ConfigError(f'{where}: a "probe" needs policy version 2, the file says {version}')
        if "answer_probe" in data and version < 3:
            raise ConfigError(f'{where}: an "answer_probe" needs policy version 3, the file says {version}')
        try:
            families = tuple(
                FamilyRule(str(f["name"]), str(f["pattern"]), f.get("answer_kind")) for f in data.get("families") or []
            )
            router = data.get("router") or {}
            rules = tuple(
                RouterRule(
                    name=str(r["name"]),
                    kind=str(r["kind"]),
                    pattern=r.get("pattern"),
                    words=tuple(r.get("words") or ()),
                    value=r.get("value"),
                    families=tuple(r.get("families") or ()),
                )
                for r in router.get("rules") or []
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{where}: malformed families or router rules ({type(exc).__name__}: {exc})") from None
        return cls(
            families=families,
            router_rules=rules,
            router_models=_models(router.get("models"), "router.models"),
            post_models=_models((data.get("post") or {}).get("models"), "post.models"),
            privacy=str(data.get("privacy", "allow")),
            generation=dict(data.get("generation") or {}),
            meta=dict(data.get("meta") or {}),
            probe=PromptProbe.from_dict(data["probe"], where) if data.get("probe") is not None else None,
            operating=OperatingCurve.from_dict(data["operating"], where) if data.get("operating") else None,
            early=EarlyStop.from_dict(data["early"], where) if data.get("early") else None,
            answer_probe=AnswerProbe.from_dict(data["answer_probe"], where) if data.get("answer_probe") else None,
        )

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> Policy:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"policy file {str(path)!r} does not exist; write one with `edgekit calibrate`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"policy file {str(path)!r} is not valid JSON ({exc})") from None
        policy = cls.from_dict(data, where=str(path))
        return replace(policy, **overrides) if overrides else policy

    @classmethod
    def default(cls, **overrides: Any) -> Policy:
        """The calibrated policy shipped for the default model (edgekit/sdk/policy/default_policy.json)."""
        return cls.load(default_policy_path(), **overrides)

    def with_privacy(self, privacy: str) -> Policy:
        return replace(self, privacy=privacy)

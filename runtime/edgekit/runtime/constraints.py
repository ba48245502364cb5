"""Constrained decoding: the output follows a JSON Schema, a regex or a Lark grammar.

The engine is llguidance (guidance-ai/llguidance), the one llama.cpp, vLLM and onnxruntime-genai use. It is
applied once above the backend seam, so ONNX and ExecuTorch bundles constrain the same way:

1. before each draw, ``GrammarMatcher.allowed`` gives the tokens the grammar permits next; the sampler sets
   every other logit to -inf (after logit bias and penalties, before temperature and truncation);
2. after the draw, the matcher consumes the token;
3. once the grammar can take no more bytes (``LLMatcher.is_stopped``), generation ends with finish reason
   ``stop``. Where the grammar could end or go on, the mask allows eos and the model decides.

llguidance is imported on the first constrained call only, so plain generation pays nothing for it. Its view
of the vocabulary (``LLTokenizer``, built from the token bytes of the bundle's tokenizer: token_bytes.py) is built
once per loaded model.
Grammars come from the kind's entry in ``_GRAMMARS``; an invalid schema, regex or grammar is a
``ConstraintError`` naming the kind and llguidance's reason, raised before any compute.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, RuntimeGenerationError
from .token_bytes import TokenBytes, prepends_space, token_bytes

if TYPE_CHECKING:  # imported lazily at run time (the first constrained call)
    import llguidance

__all__ = ["Constraint", "ConstraintKind", "ConstraintError", "GrammarVocabulary", "GrammarMatcher"]


class ConstraintKind(str, Enum):
    """What a ``Constraint.source`` holds."""

    JSON_SCHEMA = "json_schema"  # a JSON Schema (as JSON text); the output is one JSON value it accepts
    REGEX = "regex"  # the whole output matches the regex (Rust regex syntax, anchored at both ends)
    LARK = "lark"  # a Lark grammar (llguidance's dialect: docs/syntax.md of guidance-ai/llguidance)
    JSON_OBJECT = "json_object"  # any JSON object (OpenAI's response_format json_object); source is ""

    def __str__(self) -> str:
        return self.value


class ConstraintError(RuntimeGenerationError, ConfigError):
    """A constraint cannot be used: bad kind or source, or llguidance refused the schema/regex/grammar.

    Both a ``RuntimeGenerationError`` (what ``generate``/``stream`` raise for bad options, before compute) and
    a ``ConfigError``; ``kind`` and ``detail`` let a caller (the HTTP server) name the field without parsing.
    """

    def __init__(self, kind: str, detail: str):
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind} constraint is invalid: {detail}")


@dataclass(frozen=True)
class Constraint:
    """What the generated text must match. Build one with the class methods (``Constraint.json_schema(...)``)."""

    kind: ConstraintKind
    source: str = ""  # the schema as JSON text, the regex, or the Lark grammar ("" for json_object)

    def __post_init__(self) -> None:
        try:
            kind = ConstraintKind(self.kind)
        except ValueError:
            known = ", ".join(k.value for k in ConstraintKind)
            raise ConstraintError(str(self.kind), f"unknown constraint kind; use one of {known}") from None
        object.__setattr__(self, "kind", kind)
        if not isinstance(self.source, str):
            raise ConstraintError(kind.value, f"source must be a string, not {type(self.source).__name__}")
        _CHECKS[kind](self.source)

    @classmethod
    def json_schema(cls, schema: Mapping[str, Any] | str) -> Constraint:
        """A JSON Schema, as a mapping or as JSON text (property order is kept: it is the output's order)."""
        if isinstance(schema, Mapping):
            try:
                text = json.dumps(schema, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ConstraintError(ConstraintKind.JSON_SCHEMA.value, f"the schema is not JSON ({exc})") from None
            return cls(ConstraintKind.JSON_SCHEMA, text)
        return cls(ConstraintKind.JSON_SCHEMA, schema)

    @classmethod
    def regex(cls, pattern: str) -> Constraint:
        return cls(ConstraintKind.REGEX, pattern)

    @classmethod
    def lark(cls, grammar: str) -> Constraint:
        return cls(ConstraintKind.LARK, grammar)

    @classmethod
    def json_object(cls) -> Constraint:
        return cls(ConstraintKind.JSON_OBJECT, "")

    def grammar(self) -> str:
        """llguidance's grammar for this constraint (its JSON grammar format), compiled once per constraint."""
        return _grammar(self.kind, self.source)


# -- source checks that need no llguidance (cheap, at construction) ---------------------------------------
def _check_schema(source: str) -> None:
    try:
        schema = json.loads(source)
    except ValueError as exc:
        raise ConstraintError(ConstraintKind.JSON_SCHEMA.value, f"the schema is not valid JSON ({exc})") from None
    if not isinstance(schema, dict):
        raise ConstraintError(
            ConstraintKind.JSON_SCHEMA.value, f"the schema must be a JSON object, not {type(schema).__name__}"
        )


def _check_nonempty(kind: ConstraintKind) -> Callable[[str], None]:
    def check(source: str) -> None:
        if not source.strip():
            raise ConstraintError(kind.value, "the source is empty")

    return check


def _check_empty(source: str) -> None:
    if source:
        raise ConstraintError(ConstraintKind.JSON_OBJECT.value, "json_object takes no source; use json_schema")


_CHECKS: dict[ConstraintKind, Callable[[str], None]] = {
    ConstraintKind.JSON_SCHEMA: _check_schema,
    ConstraintKind.REGEX: _check_nonempty(ConstraintKind.REGEX),
    ConstraintKind.LARK: _check_nonempty(ConstraintKind.LARK),
    ConstraintKind.JSON_OBJECT: _check_empty,
}

# -- grammars ---------------------------------------------------------------------------------------------
# No free whitespace between JSON tokens: a small model allowed any whitespace there can keep emitting it until
# max_new_tokens, so the object never closes (vLLM's llguidance backend has the same switch,
# ``disable_any_whitespace``, in vllm/v1/structured_output/backend_guidance.py). A schema can still turn it on
# with llguidance's own ``"x-guidance": {"whitespace_flexible": true}``, which is applied after these defaults.
_JSON_DEFAULTS: dict[str, Any] = {"whitespace_flexible": False}


def _llg() -> Any:
    """The llguidance module, imported on first use (plain generation never imports it)."""
    try:
        import llguidance
    except ImportError:  # a base dependency: only a broken install gets here
        raise RuntimeGenerationError(
            "constrained decoding needs llguidance, a base dependency of edgekit: pip install 'llguidance==1.9.1'"
        ) from None
    return llguidance


def _from_schema(source: str) -> str:
    return str(_llg().LLMatcher.grammar_from_json_schema(source, defaults=_JSON_DEFAULTS))


def _from_json_object(source: str) -> str:
    # any JSON object: the schema vLLM's llguidance backend uses for response_format json_object
    return str(_llg().LLMatcher.grammar_from_json_schema('{"type": "object"}', defaults=_JSON_DEFAULTS))


def _from_regex(source: str) -> str:
    return str(_llg().LLMatcher.grammar_from_regex(source))


def _from_lark(source: str) -> str:
    return str(_llg().LLMatcher.grammar_from_lark(source))


_GRAMMARS: dict[ConstraintKind, Callable[[str], str]] = {
    ConstraintKind.JSON_SCHEMA: _from_schema,
    ConstraintKind.REGEX: _from_regex,
    ConstraintKind.LARK: _from_lark,
    ConstraintKind.JSON_OBJECT: _from_json_object,
}


@lru_cache(maxsize=64)  # a server sends the same schema again and again; compiling is pure
def _grammar(kind: ConstraintKind, source: str) -> str:
    try:
        return _GRAMMARS[kind](source)
    except ValueError as exc:  # grammar_from_json_schema: the schema is not a JSON object
        raise ConstraintError(kind.value, _one_line(str(exc))) from None


_SOURCE_ECHO = re.compile(r"^\s*(\d+\s*\|.*|[\s^~]*)$")  # llguidance's "  1 | start: foo" and "     ^" lines


def _one_line(message: str) -> str:
    """llguidance's multi-line diagnostics as one line (the CLI prints errors on one line)."""
    lines = [line.strip() for line in message.splitlines() if not _SOURCE_ECHO.match(line)]
    return "; ".join(line.rstrip(":") for line in lines if line) or "rejected by llguidance"


# -- per model and per call -------------------------------------------------------------------------------
class _Encoder:
    """What ``llguidance.TokenizerWrapper`` wraps: the token bytes, and the runtime's tokenizer to tokenize with.

    The attributes are the ones ``TokenizerWrapper.__init__`` reads (llguidance/_tokenizer.py); llguidance calls
    the wrapper to tokenize text (``tokenize_str``, forced tokens). It also puts the 0xFF marker before each of
    ``special_token_ids`` unless there already (python_ext/src/py.rs): token_bytes.py has put it there.
    """

    bos_token_id = None  # kept by llguidance and never read (python_ext/src/py.rs, PyTokenizer)

    def __init__(self, tokenizer: Any, vocabulary: TokenBytes, eos_id: int):
        self._tokenizer = tokenizer
        self.tokens = vocabulary.tokens
        self.special_token_ids = vocabulary.special_ids
        self.eos_token_id = eos_id

    def __call__(self, text: str) -> list[int]:
        # str only: TokenizerWrapper probes with bytes, and the TypeError tokenizers raises sends it str from then on
        # add_special_tokens=False, as llguidance's own copy encodes (toktrie_hf_tokenizers ByteTokenizerEnv)
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)


class GrammarVocabulary:
    """llguidance's view of a bundle's vocabulary (``LLTokenizer``), built on first use and then shared.

    Building it walks the whole vocabulary (llguidance's docs: ~1 s for a large tokenizer), so it happens once
    per loaded model, and only if a constraint is ever used. ``width`` is the logits width: masks have that
    many entries even when the model's embedding is padded past the tokenizer.

    It is built from the token bytes of ``hf_tokenizer`` (the runtime's parsed ``tokenizers.Tokenizer``, which
    also tokenizes for it: token_bytes.py) rather than from tokenizer.json, which llguidance would parse and keep
    a second time. Without ``hf_tokenizer`` the file is parsed here, once, on the first constrained call.
    """

    def __init__(
        self,
        tokenizer_json: Path,
        width: int,
        tokenizer_vocab: int,
        eos_ids: Sequence[int],
        hf_tokenizer: Any = None,
    ):
        self.tokenizer_json = Path(tokenizer_json)
        self.width = int(width)
        self.n_vocab = max(int(width), int(tokenizer_vocab))  # llguidance refuses a size below the tokenizer's
        self.eos_ids = [int(i) for i in eos_ids]
        self._hf_tokenizer = hf_tokenizer
        self._lock = threading.Lock()
        self._tokenizer: llguidance.LLTokenizer | None = None

    def tokenizer(self) -> llguidance.LLTokenizer:
        with self._lock:
            if self._tokenizer is None:
                try:
                    self._tokenizer = self._build(_llg())
                except (OSError, ValueError) as exc:
                    raise RuntimeGenerationError(
                        f"constrained decoding cannot read the tokenizer {str(self.tokenizer_json)!r} "
                        f"({_one_line(str(exc))}); re-export the bundle"
                    ) from None
            return self._tokenizer

    def _build(self, llg: Any) -> llguidance.LLTokenizer:
        hf = self._hf_tokenizer if self._hf_tokenizer is not None else _read_tokenizer(self.tokenizer_json)
        eos = self.eos_ids or None
        if prepends_space(hf):  # llguidance's copy would encode without that space: let it keep its own copy
            text = self.tokenizer_json.read_text(encoding="utf-8")
            own: llguidance.LLTokenizer = llg.LLTokenizer(text, n_vocab=self.n_vocab, eos_token=eos)
            return own
        vocabulary = token_bytes(hf, self.n_vocab)
        encoder = _Encoder(hf, vocabulary, self.eos_ids[0] if eos else vocabulary.eos_id)
        wrapper = llg.TokenizerWrapper(encoder)
        # given a wrapper, llguidance takes no n_vocab (token_bytes pads) and applies eos_token itself
        # (LLTokenizer.py_new in python_ext/src/py.rs)
        built: llguidance.LLTokenizer = llg.LLTokenizer(wrapper, eos_token=eos)
        # llguidance copied the bytes into its token trie and keeps the wrapper only to tokenize with
        wrapper.tokens = encoder.tokens = []
        return built

    def matcher(self, constraint: Constraint) -> GrammarMatcher:
        """A fresh matcher for one call; an invalid schema/regex/grammar raises ``ConstraintError`` here."""
        if not isinstance(constraint, Constraint):
            raise ConstraintError(
                "constraint", f"use an edgekit.runtime.constraints.Constraint, not {type(constraint).__name__}"
            )
        return GrammarMatcher(constraint, self.tokenizer(), self.width)


def _read_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for bad JSON
        raise ValueError(str(exc)) from None


class GrammarMatcher:
    """One call's grammar state (llguidance's ``LLMatcher``); never share one across calls."""

    def __init__(self, constraint: Constraint, tokenizer: llguidance.LLTokenizer, width: int):
        self.constraint = constraint
        self.width = width
        # log_level=0: library code never prints; errors are read back with get_error()
        self._matcher = _llg().LLMatcher(tokenizer, constraint.grammar(), log_level=0)
        self._raise_if_error()

    def _raise_if_error(self) -> None:
        if self._matcher.is_error():
            raise ConstraintError(self.constraint.kind.value, _one_line(self._matcher.get_error()))

    def allowed(self) -> np.ndarray:
        """Boolean mask over the logits: True where the grammar permits the token next."""
        bits = np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8)
        # one bit per token, token i at bit i % 32 of 32-bit word i // 32, little-endian (llguidance's numpy.py)
        mask = np.unpackbits(bits, bitorder="little").view(np.bool_)
        self._raise_if_error()
        if mask.shape[0] < self.width:
            mask = np.concatenate([mask, np.zeros(self.width - mask.shape[0], dtype=np.bool_)])
        mask = mask[: self.width]
        if not mask.any():
            raise ConstraintError(
                self.constraint.kind.value,
                "the grammar allows no token here (not even eos); check that it can be completed",
            )
        return mask

    def consume(self, token_id: int) -> None:
        if not self._matcher.consume_token(int(token_id)):
            self._raise_if_error()
            raise ConstraintError(self.constraint.kind.value, f"token {token_id} does not fit the grammar")

    @property
    def finished(self) -> bool:
        """True once the grammar can take no more bytes: the output is complete."""
        return bool(self._matcher.is_stopped())

"""Prefill, decode, stop rules and streaming, written once above the backend seam.

The loop (ExecuTorch's ``runner/generation.py`` and onnxruntime-genai's
``model-generate.py`` have the same shape): prefill the prompt in chunks,
then sample → detokenize → check stops → forward one token, until eos, a stop
string, max_new_tokens or the end of the context. Each step yields a
``Piece``; the last one carries the ``Result``.

Rules worth knowing:
- eos ids end generation and are not part of ``token_ids`` or the text;
- a stop string ends generation; the text is cut before it, the token that
  completed it stays in ``token_ids``;
- while the tail of the text could still become a stop string it is held back
  from the stream (streamed text never contains a stop string);
- streamed text never splits a UTF-8 character (tokenizer.IncrementalDetokenizer);
  the concatenated stream equals ``Result.text``;
- the penalties see prompt + output (repetition penalty, as transformers does) or the
  output only (frequency/presence counts, as OpenAI defines them);
- with ``top_logprobs`` > 0 each ``TokenInfo`` also carries the most likely alternatives of
  the raw logits (``TokenInfo.top_logprobs``);
- with a constraint (constraints.py) the sampler only draws tokens the grammar allows, the
  matcher consumes each one, and a grammar that can take no more ends generation with
  finish reason ``stop`` (the whole text is kept: no stop string was cut);
- the hidden state after prefill and after the last forward (``cache.last_hidden``, when the
  backend has one) are copied into ``Result.prompt_hidden`` / ``Result.answer_hidden``, and the
  states that drew the generated tokens are summed into ``Result.answer_hidden_mean``: one vector
  add per token (576 floats for SmolLM2-135M), no copy.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .backends.base import Backend, Cache
from .confidence import summarize
from .constraints import GrammarMatcher
from .results import FinishReason, Piece, Result, Timings, TokenAlternative, TokenInfo
from .sampler import Sampler
from .tokenizer import Tokenizer

__all__ = ["DecodeRequest", "run_generation", "stop_holdback"]


@dataclass(frozen=True)
class DecodeRequest:
    prompt_ids: Sequence[int]
    max_new_tokens: int
    eos_ids: frozenset[int]
    stop: tuple[str, ...] = ()
    prefill_chunk: int = 256
    load_ms: float = 0.0
    started: float = 0.0  # time.perf_counter() when the call began (for first_token_ms)
    context_overflow: bool = False
    dropped_messages: int = 0


def stop_holdback(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of a stop string."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best


def _find_stop(text: str, stops: Sequence[str], start: int) -> int:
    """Earliest index >= start where a stop string begins, or -1."""
    hits = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(hits) if hits else -1


def run_generation(
    backend: Backend,
    cache: Cache,
    tokenizer: Tokenizer,
    sampler: Sampler,
    request: DecodeRequest,
    matcher: GrammarMatcher | None = None,
) -> Iterator[Piece]:
    clock = time.perf_counter
    started = request.started or clock()
    prompt = np.asarray(request.prompt_ids, dtype=np.int64)
    stops = tuple(s for s in request.stop if s)
    max_len = max((len(s) for s in stops), default=0)

    # -- prefill (chunked: bounds activation memory for long prompts) ----------------------
    t0 = clock()
    chunk = max(1, int(request.prefill_chunk))
    logits = None
    for begin in range(0, len(prompt), chunk):
        logits = backend.forward(prompt[begin : begin + chunk], cache, logits_to_keep=1)
    prefill_ms = (clock() - t0) * 1e3
    assert logits is not None  # the caller never passes an empty prompt
    prompt_hidden = _hidden_copy(cache)
    hidden_sum = None if prompt_hidden is None else np.zeros_like(prompt_hidden)

    detok = tokenizer.detokenizer(context_ids=request.prompt_ids)
    seen: set[int] = set(request.prompt_ids)  # repetition penalty looks at prompt + output, as transformers does
    counts: Counter[int] = Counter()  # frequency/presence penalties count the output only (OpenAI's definition)
    alternatives = _Alternatives(tokenizer)
    token_ids: list[int] = []
    tokens: list[TokenInfo] = []
    text = ""
    emitted = 0
    finish = FinishReason.LENGTH
    cut = False  # a stop string ended the text (held-back text is then dropped, not flushed)
    first_token_ms = 0.0
    decode_start = clock()

    while True:
        allowed = matcher.allowed() if matcher is not None else None
        draw = sampler.step(logits[-1], seen, counts, allowed)
        token_id = draw.token
        if not tokens and not token_ids:
            first_token_ms = (clock() - started) * 1e3
            decode_start = clock()
        if token_id in request.eos_ids:
            finish = FinishReason.EOS
            break
        token_ids.append(token_id)
        if hidden_sum is not None:  # the state of the forward that drew this token
            hidden_sum += cache.last_hidden[-1]  # type: ignore[index]
        seen.add(token_id)
        counts[token_id] += 1
        piece_text = detok.add(token_id)
        top = alternatives.render(draw.top) if draw.top else ()
        best_id, best_logprob = draw.unconstrained_top or (None, None)  # set under a constraint only
        info = TokenInfo(token_id, piece_text, draw.logprob, draw.entropy, top, best_id, best_logprob)
        if matcher is not None:
            matcher.consume(token_id)
        tokens.append(info)
        before = len(text)
        text += piece_text
        safe = len(text)
        if stops:
            hit = _find_stop(text, stops, max(0, before - max_len + 1)) if piece_text else -1
            if hit >= 0:
                text = text[:hit]
                yield Piece(text[emitted:], info)
                emitted = len(text)
                finish = FinishReason.STOP
                cut = True
                break
            safe -= stop_holdback(text, stops)
        if safe > emitted:
            yield Piece(text[emitted:safe], info)
            emitted = safe
        else:
            yield Piece("", info)
        if matcher is not None and matcher.finished:  # the grammar is complete: nothing more can follow
            finish = FinishReason.STOP
            break
        if len(token_ids) >= request.max_new_tokens:
            finish = FinishReason.LENGTH
            break
        if cache.length + 1 > backend.max_context:
            finish = FinishReason.CONTEXT
            break
        logits = backend.forward(np.array([token_id], dtype=np.int64), cache, logits_to_keep=1)

    if not cut:
        tail = detok.flush()
        text += tail
        if len(text) > emitted:
            yield Piece(text[emitted:], None)
            emitted = len(text)
    end = clock()
    timings = Timings(
        load_ms=request.load_ms,
        prefill_ms=prefill_ms,
        decode_ms=(end - decode_start) * 1e3 if token_ids else 0.0,
        first_token_ms=first_token_ms,
        total_ms=(end - started) * 1e3,
        prompt_tokens=len(prompt),
        generated_tokens=len(token_ids),
    )
    answer_hidden = _hidden_copy(cache)
    result = Result(
        text=text,
        token_ids=token_ids,
        finish_reason=finish,
        prompt_tokens=len(prompt),
        tokens=tokens,
        confidence=summarize(tokens),
        timings=timings,
        context_overflow=request.context_overflow,
        dropped_messages=request.dropped_messages,
        prompt_hidden=prompt_hidden,
        answer_hidden=answer_hidden,
        answer_hidden_mean=answer_hidden if hidden_sum is None or not token_ids else hidden_sum / len(token_ids),
    )
    yield Piece("", None, result)


def _hidden_copy(cache: Cache) -> np.ndarray | None:
    """The last position's hidden state of the cache's last forward, float32 [hidden], or None."""
    hidden = cache.last_hidden
    return None if hidden is None else np.array(hidden[-1], dtype=np.float32)


class _Alternatives:
    """Text and bytes of candidate tokens, decoded once per id per call."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self._known: dict[int, tuple[str, tuple[int, ...]]] = {}

    def render(self, top: Sequence[tuple[int, float]]) -> tuple[TokenAlternative, ...]:
        out = []
        for token_id, logprob in top:
            known = self._known.get(token_id)
            if known is None:
                text = self.tokenizer.decode([token_id], skip_special_tokens=False)
                known = self._known[token_id] = (text, _token_bytes(self.tokenizer, token_id, text))
            out.append(TokenAlternative(token_id, known[0], logprob, known[1]))
        return tuple(out)


_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")  # SentencePiece byte-fallback pieces (Llama, Gemma)


def _token_bytes(tokenizer: Tokenizer, token_id: int, text: str) -> tuple[int, ...]:
    """The bytes a token stands for. A token that is only part of a UTF-8 character decodes to U+FFFD on its
    own; its real byte comes from the vocabulary piece: ``<0xNN>`` (byte fallback) or GPT-2's byte-to-unicode
    alphabet (ByteLevel BPE, openai/gpt-2 ``encoder.py``)."""
    if "\ufffd" not in text:
        return tuple(text.encode("utf-8"))
    piece = tokenizer.id_to_token(token_id) or ""
    match = _BYTE_FALLBACK.fullmatch(piece)
    if match:
        return (int(match.group(1), 16),)
    table = _gpt2_unicode_to_byte()
    if piece and all(ch in table for ch in piece):
        return tuple(table[ch] for ch in piece)
    return tuple(text.encode("utf-8"))


_UNICODE_TO_BYTE: dict[str, int] = {}


def _gpt2_unicode_to_byte() -> dict[str, int]:
    if not _UNICODE_TO_BYTE:
        printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
        shifted = 0
        for b in range(256):
            if b in printable:
                _UNICODE_TO_BYTE[chr(b)] = b
            else:
                _UNICODE_TO_BYTE[chr(256 + shifted)] = b
                shifted += 1
    return _UNICODE_TO_BYTE

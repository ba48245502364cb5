"""LocalModel: a loaded bundle that generates (the object ``edgekit.runtime.load`` returns).

Thread safety: one backend session is shared (onnxruntime's ``Run`` is
thread-safe); every call takes its own KV cache from a small pool and owns
its sampler, so concurrent calls give the same results as sequential ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .backends.base import Backend, Cache
from .chat import ChatTemplate, validate_messages
from .confidence import summarize
from .constraints import Constraint, GrammarMatcher, GrammarVocabulary
from .context import ContextPolicy, fit_prompt
from .errors import RuntimeGenerationError
from .generation import DecodeRequest, run_generation
from .manifest import Manifest
from .results import FinishReason, Piece, Result, Timings
from .sampler import Sampler, SamplingOptions
from .tokenizer import Tokenizer

__all__ = ["LocalModel"]


class _CachePool:
    """Idle KV caches kept for reuse (allocation is cheap but not free; buffers are max_context long)."""

    def __init__(self, backend: Backend, keep: int = 2):
        self.backend = backend
        self.keep = keep
        self._idle: list[Cache] = []
        self._lock = threading.Lock()

    def acquire(self) -> Cache:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self.backend.new_cache()

    def release(self, cache: Cache) -> None:
        cache.reset()
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(cache)


def _checked_text(text: str, where: str) -> str:
    """``text`` if it is encodable text; a lone surrogate (half of a split emoji, or bytes decoded with
    ``surrogateescape``) would reach the tokenizer as a TypeError, so it is refused here in one line."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        raise RuntimeGenerationError(
            f"{where} is not valid text: lone surrogate U+{bad:04X} at character {exc.start}; pass real text "
            "(e.g. decode bytes with errors='replace')"
        ) from None
    return text


class LocalModel:
    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        backend: Backend,
        tokenizer: Tokenizer,
        load_ms: float = 0.0,
        prefill_chunk: int = 256,
    ):
        self.folder = Path(folder)
        self.manifest = manifest
        self.backend = backend
        self.tokenizer = tokenizer
        self.load_ms = load_ms
        self.prefill_chunk = prefill_chunk
        self.chat_template = (
            ChatTemplate(manifest.chat_template, tokenizer.bos_token, tokenizer.eos_token)
            if manifest.chat_template
            else None
        )
        self._pool = _CachePool(backend)
        # llguidance's view of the vocabulary, built on the first constrained call (constraints.py)
        self._grammar_vocabulary = GrammarVocabulary(
            self.folder / manifest.tokenizer.file, backend.vocab_size, tokenizer.vocab_size, tokenizer.eos_ids
        )

    # -- prompt building ----------------------------------------------------------------
    @property
    def max_context(self) -> int:
        return self.backend.max_context

    def render_chat(self, messages: Sequence[dict[str, Any]], add_generation_prompt: bool = True) -> str:
        if self.chat_template is None:
            raise RuntimeGenerationError(
                f"bundle {self.manifest.model.name or str(self.folder)!r} has no chat template, so it cannot "
                "take a messages list; pass a plain string prompt"
            )
        return self.chat_template.render(messages, add_generation_prompt=add_generation_prompt)

    def _encoder(self, chat: bool | None) -> Callable[[Any], list[int]]:
        def encode(source: Any) -> list[int]:
            if isinstance(source, str):
                use_chat = self.chat_template is not None if chat is None else chat
                if use_chat:
                    return self.tokenizer.encode(self.render_chat([{"role": "user", "content": source}]))
                return self.tokenizer.encode(source)
            if chat is False:
                raise RuntimeGenerationError("chat=False needs a plain string prompt, not a messages list")
            return self.tokenizer.encode(self.render_chat(source))

        return encode

    def count_tokens(self, text_or_messages: str | Sequence[dict[str, Any]], chat: bool | None = None) -> int:
        """Prompt tokens that ``generate`` would feed for this input (same templating rules)."""
        return len(self._encoder(chat)(self._check_prompt(text_or_messages)))

    @staticmethod
    def _check_prompt(prompt: Any) -> Any:
        if isinstance(prompt, str):
            return _checked_text(prompt, "prompt")
        if isinstance(prompt, (list, tuple)):
            messages = validate_messages(prompt)
            for i, message in enumerate(messages):
                if isinstance(message.get("content"), str):
                    _checked_text(message["content"], f"message {i} content")
            return messages
        raise RuntimeGenerationError(
            f"prompt must be a string or a list of {{'role', 'content'}} messages, not {type(prompt).__name__}"
        )

    # -- generation -----------------------------------------------------------------------
    def stream(
        self,
        prompt_or_messages: str | Sequence[dict[str, Any]],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        min_p: float | None = None,
        repetition_penalty: float | None = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        logit_bias: Mapping[int, float] | None = None,
        top_logprobs: int = 0,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        context_policy: str | ContextPolicy = "error",
        chat: bool | None = None,
        constraint: Constraint | None = None,
    ) -> Iterator[Piece]:
        """Yield ``Piece``s as tokens are generated; the last one has ``.result``.

        Options left as None take the bundle's generation_defaults. Bad options
        raise ``RuntimeGenerationError`` before any compute (a ``SamplingOptionError``,
        naming the option, for the sampling ones). ``frequency_penalty``,
        ``presence_penalty`` (OpenAI's, in [-2, 2]), ``logit_bias`` (token id -> bias
        in [-100, 100]) and ``top_logprobs`` (alternatives per token, 0..20) have no
        bundle default. ``constraint`` (``Constraint.json_schema(...)``, ``.regex``, ``.lark``,
        ``.json_object()``) makes the output follow it; an invalid one raises ``ConstraintError``
        here, before any compute.
        """
        started = time.perf_counter()
        defaults = self.manifest.generation_defaults
        sampling = SamplingOptions(
            temperature=defaults.temperature if temperature is None else temperature,
            top_k=defaults.top_k if top_k is None else top_k,
            top_p=defaults.top_p if top_p is None else top_p,
            min_p=defaults.min_p if min_p is None else min_p,
            repetition_penalty=defaults.repetition_penalty if repetition_penalty is None else repetition_penalty,
            frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty,
            logit_bias=() if logit_bias is None else logit_bias,
            top_logprobs=top_logprobs,
            seed=seed,
        )
        sampling.check_vocabulary(self.backend.vocab_size)
        new_tokens = defaults.max_new_tokens if max_new_tokens is None else max_new_tokens
        if not isinstance(new_tokens, int) or isinstance(new_tokens, bool) or new_tokens < 1:
            raise RuntimeGenerationError(f"max_new_tokens={new_tokens!r} is invalid: use a positive integer")
        stops = _stop_tuple(stop)
        policy = ContextPolicy.parse(context_policy)
        source = self._check_prompt(prompt_or_messages)
        matcher = self._grammar_vocabulary.matcher(constraint) if constraint is not None else None
        return self._stream(source, sampling, new_tokens, stops, policy, chat, started, matcher)

    def _stream(
        self,
        source: str | Sequence[dict[str, Any]],
        sampling: SamplingOptions,
        new_tokens: int,
        stops: tuple[str, ...],
        policy: ContextPolicy,
        chat: bool | None,
        started: float,
        matcher: GrammarMatcher | None = None,
    ) -> Iterator[Piece]:
        fitted = fit_prompt(
            source, self._encoder(chat), new_tokens, self.max_context, policy, bos_id=self.tokenizer.bos_id
        )
        if fitted.refused:
            yield Piece("", None, self._refused_result(len(fitted.ids), started))
            return
        request = DecodeRequest(
            prompt_ids=fitted.ids,
            max_new_tokens=new_tokens,
            eos_ids=frozenset(self.tokenizer.eos_ids),
            stop=stops,
            prefill_chunk=self.prefill_chunk,
            load_ms=self.load_ms,
            started=started,
            context_overflow=fitted.overflow,
            dropped_messages=fitted.dropped_messages,
        )
        cache = self._pool.acquire()
        try:
            yield from run_generation(self.backend, cache, self.tokenizer, Sampler(sampling), request, matcher)
        finally:
            self._pool.release(cache)

    def generate(self, prompt_or_messages: str | Sequence[dict[str, Any]], **options: Any) -> Result:
        """Generate to completion; same options as ``stream``."""
        result = None
        for piece in self.stream(prompt_or_messages, **options):
            result = piece.result or result
        assert result is not None
        return result

    def _refused_result(self, prompt_tokens: int, started: float) -> Result:
        total = (time.perf_counter() - started) * 1e3
        return Result(
            text="",
            token_ids=[],
            finish_reason=FinishReason.CONTEXT,
            prompt_tokens=prompt_tokens,
            tokens=[],
            confidence=summarize([]),
            timings=Timings(self.load_ms, 0.0, 0.0, 0.0, total, prompt_tokens, 0),
            context_overflow=True,
        )

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> LocalModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        name = self.manifest.model.name or "?"
        return f"LocalModel({name!r}, backend={self.manifest.backend!r}, max_context={self.max_context})"


def _stop_tuple(stop: str | Sequence[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    if not all(isinstance(s, str) for s in stop):
        raise RuntimeGenerationError(f"stop={stop!r} is invalid: use a string or a list of strings")
    return tuple(s for s in stop if s)

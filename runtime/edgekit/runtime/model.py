"""LocalModel: a loaded bundle that generates (the object ``edgekit.runtime.load`` returns).

Thread safety: one backend session is shared (onnxruntime's ``Run`` is
thread-safe); every call takes its own KV cache from a small pool and owns
its sampler, so concurrent calls give the same results as sequential ones.
"""

from __future__ import annotations

import json
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
from .errors import RuntimeGenerationError, ToolError
from .generation import DecodeRequest, run_generation
from .manifest import Manifest
from .results import FinishReason, Piece, Result, Timings
from .sampler import Sampler, SamplingOptions
from .spinning import SpinDecision
from .tokenizer import Tokenizer
from .tool_check import checked_call
from .tool_examples import ToolExample, ToolExamples, example_turns
from .tool_grammar import tool_constraint
from .tool_prompt import has_tool_turns, prepare_messages
from .tool_stream import tool_pieces
from .tools import Tool, ToolChoice, ToolChoiceMode, parse_tool_choice, parse_tools

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
        spinning: SpinDecision | None = None,
    ):
        self.folder = Path(folder)
        self.spinning = spinning  # whether onnxruntime's threads spin, and why (spinning.py)
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
        # a batching backend takes its caches back itself (batching.py): keep none idle here
        self._pool = _CachePool(backend, keep=0 if backend.pools_caches else 2)
        # llguidance's view of the vocabulary, built on the first constrained call (constraints.py)
        self._grammar_vocabulary = GrammarVocabulary(
            self.folder / manifest.tokenizer.file,
            backend.vocab_size,
            tokenizer.vocab_size,
            tokenizer.eos_ids,
            hf_tokenizer=tokenizer.hf_tokenizer,
        )

    # -- prompt building ----------------------------------------------------------------
    @property
    def grammar_vocabulary(self) -> GrammarVocabulary:
        """llguidance's view of the vocabulary (also what checks a cloud's tool calls, tool_check.py)."""
        return self._grammar_vocabulary

    @property
    def max_context(self) -> int:
        return self.backend.max_context

    def render_chat(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> str:
        if self.chat_template is None:
            raise RuntimeGenerationError(
                f"bundle {self.manifest.model.name or str(self.folder)!r} has no chat template, so it cannot "
                "take a messages list; pass a plain string prompt"
            )
        return self.chat_template.render(messages, add_generation_prompt=add_generation_prompt, tools=tools)

    def _encoder(
        self, chat: bool | None, tools: Sequence[Mapping[str, Any]] | None = None
    ) -> Callable[[Any], list[int]]:
        def encode(source: Any) -> list[int]:
            if isinstance(source, str):
                use_chat = self.chat_template is not None if chat is None else chat
                if use_chat:
                    return self.tokenizer.encode(self.render_chat([{"role": "user", "content": source}], tools=tools))
                return self.tokenizer.encode(source)
            if chat is False:
                raise RuntimeGenerationError("chat=False needs a plain string prompt, not a messages list")
            return self.tokenizer.encode(self.render_chat(source, tools=tools))

        return encode

    def _tool_prompt(
        self, source: Any, tools: Sequence[Tool], chat: bool | None, examples: ToolExamples | None = None
    ) -> tuple[Any, list[dict[str, Any]] | None]:
        """The prompt with the tools, earlier calls and tool results in it (tool_prompt.py), and the tools to
        hand the template (None when it does not read them). ``examples``: the pool whose examples most like
        the last user turn are shown before it (tool_examples.py)."""
        is_messages = isinstance(source, (list, tuple)) and all(isinstance(m, Mapping) for m in source)
        if not tools and not (is_messages and has_tool_turns(source)):
            return source, None
        if tools and (chat is False or self.chat_template is None):
            raise ToolError(
                "tools", [t.name for t in tools], "tools need the bundle's chat template; drop chat=False or the tools"
            )
        if isinstance(source, str):
            source = [{"role": "user", "content": source}]
        elif not is_messages:
            return source, None  # _check_prompt names what is wrong with it
        if examples is not None and tools:
            source = self._with_examples(list(source), examples, tools)
        takes_tools = self.chat_template is not None and self.chat_template.takes_tools
        turns = prepare_messages(source, tools, takes_tools)
        return turns, ([t.to_openai() for t in tools] if takes_tools and tools else None)

    def check_tool_examples(
        self, examples: ToolExamples | Sequence[Any], tools: Sequence[Tool | Mapping[str, Any]]
    ) -> ToolExamples:
        """``examples`` as a pool, every example of one of ``tools`` checked against its schema now (``ToolError``
        names the first bad one), as ``stream`` would check them at the first request."""
        pool = ToolExamples.of(examples)
        if pool is None:
            raise ToolError("tool_examples", examples, "use a ToolExamples pool or a list of examples")
        typed = parse_tools(tools)
        pool.checked(typed, self._example_check(typed))
        return pool

    def _example_check(self, tools: Sequence[Tool]) -> Callable[[ToolExample, str], ToolExample]:
        def check(example: ToolExample, where: str) -> ToolExample:
            raw = {"function": {"name": example.name, "arguments": json.dumps(dict(example.arguments))}}
            call = checked_call(raw, tools, self._grammar_vocabulary, where)
            return ToolExample(example.utterance, call.name, call.parsed_arguments())

        return check

    def _with_examples(
        self, messages: list[Any], examples: ToolExamples, tools: Sequence[Tool]
    ) -> list[dict[str, Any]]:
        """``messages`` with the chosen examples as turns just before the last user turn. Every example of an offered
        tool is checked against its schema first (one the schema refuses would teach a call the grammar forbids)."""
        last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
        if last is None or not isinstance(messages[last].get("content"), str):
            return messages
        chosen = examples.select(messages[last]["content"], checked=examples.checked(tools, self._example_check(tools)))
        return [*messages[:last], *example_turns(chosen), *messages[last:]]

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
        tools: Sequence[Tool | Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | ToolChoice | None = None,
        parallel_tool_calls: bool = False,
        tool_examples: ToolExamples | Sequence[Any] | None = None,
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

        ``tools`` (OpenAI's ``tools`` array, or ``Tool`` objects) and ``tool_choice`` (``"auto"``, ``"none"``,
        ``"required"``, ``{"type": "function", "function": {"name": ...}}``) let the model call them: the
        output is held to a call grammar (tool_grammar.py), and a call ends the stream with a result whose
        ``tool_calls`` holds it (finish reason ``tool_calls``; tool_stream.py). Messages may hold assistant
        turns with ``tool_calls`` and ``tool`` turns with the results. Bad tools raise ``ToolError``.
        One call per answer unless ``parallel_tool_calls=True``: small models, once free to go on, tend to
        chain calls nobody asked for. ``tool_examples`` (a ``ToolExamples`` pool, or a list of ``{"utterance",
        "call": {"name", "arguments"}}``) shows the examples most like the request as earlier turns
        (tool_examples.py); each shown call is checked against its tool's schema.
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
        tool_set = parse_tools(tools)
        choice = parse_tool_choice(tool_choice, tool_set)
        if not isinstance(parallel_tool_calls, bool):
            raise ToolError("parallel_tool_calls", parallel_tool_calls, "use true or false")
        shown = tool_set if choice.mode is not ToolChoiceMode.NONE else ()  # none: the tools stay out of the prompt
        pool = ToolExamples.of(tool_examples)
        source, template_tools = self._tool_prompt(prompt_or_messages, shown, chat, pool)
        source = self._check_prompt(source)
        calls = tool_constraint(tool_set, choice, parallel_tool_calls)
        if calls is not None and constraint is not None:
            raise ToolError(
                "constraint", constraint.kind.value, "a call grammar and a constraint cannot be combined; pass one"
            )
        constraint = calls if calls is not None else constraint
        matcher = self._grammar_vocabulary.matcher(constraint) if constraint is not None else None
        stream = self._stream(source, sampling, new_tokens, stops, policy, chat, started, matcher, template_tools)
        return tool_pieces(stream, tool_set) if calls is not None else stream

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
        template_tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> Iterator[Piece]:
        fitted = fit_prompt(
            source,
            self._encoder(chat, template_tools),
            new_tokens,
            self.max_context,
            policy,
            bos_id=self.tokenizer.bos_id,
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

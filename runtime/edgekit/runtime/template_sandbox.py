"""A jinja2 sandbox that is bounded as well as safe: limits on time, size, loops and nesting.

``jinja2.sandbox.ImmutableSandboxedEnvironment`` stops a template from reaching
Python internals, and bounds one thing: ``range()`` to ``MAX_RANGE`` (100,000)
items. It does not bound time (nested loops), memory (``'A' * 10**8``, a string
doubled thirty times) or nesting (a macro calling itself). A chat template
ships inside the bundle, so each of these is a way for a bundle to hang or kill
the process that loads it. jinja2 offers the hooks; this module uses them
(https://jinja.palletsprojects.com/en/stable/sandbox/#operator-intercepting):

- ``intercepted_binops`` + ``call_binop``: ``*``, ``**``, ``+`` and ``%`` are
  checked *before* they run (result length of a repetition, concatenation or
  ``%``-format width, bit length of an integer product or power). An
  intercepted operator is also never constant-folded at compile time.
- ``call``: every call the template makes (functions, methods, macros,
  recursive loops) checks the deadline, the nesting depth and, for the str
  methods that grow a string (padding, ``replace``, ``join``, ``format``
  widths), the size of the result before it is built.
- every filter is wrapped with the same checks; ``range`` and ``lipsum`` are
  replaced by bounded versions.
- ``code_generator_class``: the compiled template passes every ``{% for %}``
  iterable through a counter (one budget of iterations per render, deadline
  checked on each step), and ``~`` and captured blocks (``{% set %}``,
  macros, ``{% filter %}``) join through a size check.

The output itself is streamed (``Template.generate``) and stopped past the cap
by ``render_bounded``. Every limit raises ``TemplateLimitError`` naming the limit
and the fix.
"""

from __future__ import annotations

import contextvars
import functools
import re
import string
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import TemplateLimitError

__all__ = ["TemplateLimits", "BoundedSandboxedEnvironment", "render_bounded", "FIX"]

FIX = "fix chat_template in edgekit.json (or re-export the bundle), or skip the template (--raw, chat=False)"

LOOP_FILTER = "edgekit_counted_loop"  # the filter the compiled template wraps each {% for %} iterable in


@dataclass(frozen=True)
class TemplateLimits:
    """Bounds on one render. Real chat templates (SmolLM2, Llama 3, Qwen 2.5, Gemma) stay far below every one."""

    max_output_chars: int = 1_000_000  # the rendered prompt; a model context of 128k tokens is ~500k characters
    max_value_len: int = 1_000_000  # any one string/list the template builds
    max_loop_iterations: int = 1_000_000  # summed over every loop of one render
    max_range: int = 100_000  # jinja2.sandbox.MAX_RANGE, kept
    max_call_depth: int = 64  # macros calling macros, recursive loops
    max_int_bits: int = 4096  # integer products and powers
    timeout_s: float = 2.0  # wall clock for one render


DEFAULT_LIMITS = TemplateLimits()


class _Budget:
    """The running counters of one render."""

    def __init__(self, limits: TemplateLimits):
        self.limits = limits
        self.deadline = time.monotonic() + limits.timeout_s
        self.iterations = 0
        self.depth = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"the chat template ran longer than {self.limits.timeout_s:g} s; {FIX}")

    def step(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.max_loop_iterations:
            raise TemplateLimitError(
                f"the chat template ran more than {self.limits.max_loop_iterations:,} loop iterations; {FIX}"
            )
        self.check_time()


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("edgekit_template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    # outside render_bounded (jinja2 folding a constant filter call at compile time): the default limits
    return budget if budget is not None else _Budget(DEFAULT_LIMITS)


def _too_big(what: str, size: int | float) -> TemplateLimitError:
    limit = _budget().limits.max_value_len
    shown = f"{size:,}" if isinstance(size, int) else "too many"
    return TemplateLimitError(
        f"the chat template built {what} of size {shown} (limit {limit:,} characters or items); {FIX}"
    )


def _check_len(n: int | float, what: str) -> None:
    if n > _budget().limits.max_value_len:
        raise _too_big(what, n)


def _check_value(value: Any, what: str) -> Any:
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        _check_len(len(value), what)
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_int(value, what)
    return value


def _check_int(value: int, what: str) -> None:
    bits = _budget().limits.max_int_bits
    if abs(value).bit_length() > bits:
        raise TemplateLimitError(f"the chat template built an integer of more than {bits} bits with {what}; {FIX}")


def _is_sized(x: Any) -> bool:
    return isinstance(x, (str, list, tuple))


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# --- operators -------------------------------------------------------------------------------------------

_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent_format(fmt: str, args: Any) -> None:
    """``'%0999999999d' % 1`` builds a gigabyte; refuse widths/precisions past the value limit."""
    limit = _budget().limits.max_value_len
    star = False
    for match in _PERCENT_FIELD.finditer(fmt):
        for group in match.groups():
            if group == "*":
                star = True
            elif group and int(group) > limit:
                raise _too_big("a %-format field", int(group))
    if star:
        values = args if isinstance(args, tuple) else (args,)
        for value in values:
            if _is_int(value) and value > limit:
                raise _too_big("a %-format field", value)


def _check_binop(op: str, left: Any, right: Any) -> None:
    if op == "*":
        if _is_sized(left) and _is_int(right):
            _check_len(len(left) * max(right, 0), "a value with '*'")
        elif _is_sized(right) and _is_int(left):
            _check_len(len(right) * max(left, 0), "a value with '*'")
        elif _is_int(left) and _is_int(right):
            bits = _budget().limits.max_int_bits
            if abs(left).bit_length() + abs(right).bit_length() > bits + 1:
                raise TemplateLimitError(f"the chat template built an integer of more than {bits} bits with '*'; {FIX}")
    elif op == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            if abs(left).bit_length() * right > _budget().limits.max_int_bits + 64:
                raise TemplateLimitError(
                    f"the chat template built an integer of more than {_budget().limits.max_int_bits} bits "
                    f"with '**'; {FIX}"
                )
    elif op == "+":
        if _is_sized(left) and _is_sized(right):
            _check_len(len(left) + len(right), "a value with '+'")
    elif op == "%":
        if isinstance(left, str):
            _check_percent_format(left, right)


# --- calls -------------------------------------------------------------------------------------------------

_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


def _int_args(args: Iterable[Any], kwargs: dict[str, Any]) -> Iterator[int]:
    for value in list(args) + list(kwargs.values()):
        if _is_int(value):
            yield value


def _replaced_len(text: str, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    hits = text.count(old) if old else len(text) + 1
    if _is_int(count) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _joined_len(sep: str, items: list[Any]) -> int:
    return sum(len(x) if isinstance(x, str) else 32 for x in items) + len(sep) * max(len(items) - 1, 0)


def _check_format_spec(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    limit = _budget().limits.max_value_len
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _, _, spec, _ in fields:
        if not spec:
            continue
        for number in re.findall(r"\d+", spec):
            if int(number) > limit:
                raise _too_big("a format() field", int(number))
        if "{" in spec:  # nested width: '{:{w}}'.format(x, w=10**9)
            for value in _int_args(args, kwargs):
                if value > limit:
                    raise _too_big("a format() field", value)


def _check_str_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Pre-checks for the str methods whose result can be far larger than their inputs; returns the args."""
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    wrapped = getattr(method, "__wrapped__", None)  # the sandbox's str.format wrapper
    if wrapped is not None and isinstance(getattr(wrapped, "__self__", None), str) and name in ("format", "format_map"):
        _check_format_spec(wrapped.__self__, args, kwargs)
        return args
    if not isinstance(owner, str):
        return args
    limit = _budget().limits.max_value_len
    if name in _PADDING_METHODS:
        for value in _int_args(args, kwargs):
            if value > limit:
                raise _too_big(f"a string with .{name}()", value)
    elif name == "replace" and len(args) >= 2:
        _check_len(_replaced_len(owner, *args[:3]), "a string with .replace()")
    elif name == "join" and args:
        items = list(args[0]) if not isinstance(args[0], str) else args[0]
        _check_len(len(items), "a list")
        _check_len(_joined_len(owner, list(items)), "a string with .join()")
        args = (items,) + tuple(args[1:])
    return args


# --- filters and globals ---------------------------------------------------------------------------------


def _filter_precheck(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """``args[0]`` is the piped value (after any context/environment argument); the rest are parameters."""
    limit = _budget().limits.max_value_len
    value, params = (args[0], args[1:]) if args else (None, ())
    for number in _int_args(params, kwargs):
        if number > limit:
            raise _too_big(f"a value with |{name}", number)
    if name == "replace" and isinstance(value, str) and len(params) >= 2:
        _check_len(_replaced_len(value, *params[:3]), "a string with |replace")
    elif name == "join" and value is not None and not isinstance(value, str):
        items = list(value)
        _check_len(len(items), "a list")
        sep = params[0] if params and isinstance(params[0], str) else kwargs.get("d", "")
        _check_len(_joined_len(sep if isinstance(sep, str) else "", items), "a string with |join")
        args = (items,) + tuple(args[1:])
    elif name == "indent" and isinstance(value, str):
        width = params[0] if params else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else width if _is_int(width) else 4
        _check_len(len(value) + (value.count("\n") + 1) * pad, "a string with |indent")
    elif name == "format" and isinstance(value, str):
        _check_percent_format(value, tuple(params) or kwargs)
    return args


def _bounded_filter(name: str, func: Any) -> Any:
    pass_arg = getattr(func, "jinja_pass_arg", None)
    lead = 0 if pass_arg is None else 1  # context / eval_ctx / environment comes first

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _budget().check_time()
        args = args[:lead] + _filter_precheck(name, args[lead:], kwargs)
        return _check_value(func(*args, **kwargs), f"a value with |{name}")

    return bounded


@jinja2.pass_context  # never folded at compile time: a counter belongs to one render
def _counted_filter(context: Any, iterable: Any) -> Iterator[Any]:
    return _counted(iterable)


def _counted(iterable: Any) -> Iterator[Any]:
    budget = _budget()
    for item in iterable:
        budget.step()
        yield item


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    limit = _budget().limits.max_range
    try:
        size: int | float = len(rng)
    except OverflowError:
        size = float("inf")
    if size > limit:
        shown = f"{size:,}" if isinstance(size, int) else "more than sys.maxsize"
        raise TemplateLimitError(f"the chat template asked for range() of {shown} items (limit {limit:,}); {FIX}")
    return rng


def _make_bounded_lipsum(lipsum: Any) -> Any:
    @functools.wraps(lipsum)
    def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:  # noqa: A002
        if not (_is_int(n) and _is_int(min) and _is_int(max)) or n * max > 10_000:
            raise _too_big("lipsum()", n * max if _is_int(n) and _is_int(max) else float("inf"))
        return lipsum(n=n, html=html, min=min, max=max)

    return bounded_lipsum


def _bounded_concat(parts: Iterable[Any]) -> str:
    """``environment.concat``: joins captured blocks and macro bodies; also the ``~`` operator (below)."""
    parts = parts if isinstance(parts, list) else list(parts)
    total = 0
    limit = _budget().limits.max_value_len
    for part in parts:
        total += len(part) if isinstance(part, str) else 0
        if total > limit:
            raise _too_big("a block of text", total)
    return "".join(parts)


def _bounded_str_join(parts: tuple[Any, ...]) -> str:
    strings = [p if isinstance(p, str) else str(p) for p in parts]
    _check_len(sum(map(len, strings)), "a string with '~'")
    return "".join(strings)


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``{% for x in it %}`` as ``for x in counted(it)`` and ``a ~ b`` through a size check."""

    def visit_Template(self, node: jinja2.nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(jinja2.nodes.For):
            iterable = loop.iter
            if not (isinstance(iterable, jinja2.nodes.Filter) and iterable.name == LOOP_FILTER):
                loop.iter = jinja2.nodes.Filter(iterable, LOOP_FILTER, [], [], None, None, lineno=iterable.lineno)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: jinja2.nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_str_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandboxedEnvironment(ImmutableSandboxedEnvironment):
    """``ImmutableSandboxedEnvironment`` plus the bounds above. Render with ``render_bounded``."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(_bounded_concat)
    bounded_str_join = staticmethod(_bounded_str_join)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.globals["range"] = _bounded_range
        if "lipsum" in self.globals:
            self.globals["lipsum"] = _make_bounded_lipsum(self.globals["lipsum"])
        self.bound_filters()
        self.filters[LOOP_FILTER] = _counted_filter

    def bound_filters(self) -> None:
        """Wrap every filter (call again after adding filters)."""
        for name, func in list(self.filters.items()):
            if name != LOOP_FILTER and not getattr(func, "_edgekit_bounded", False):
                wrapped = _bounded_filter(name, func)
                wrapped._edgekit_bounded = True
                self.filters[name] = wrapped

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return _check_value(super().call_binop(context, operator, left, right), f"'{operator}'")

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja2's signature)
        budget = _budget()
        budget.check_time()
        args = _check_str_method(__obj, args, kwargs)
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (_counted(args[0]),) + tuple(args[1:])
        budget.depth += 1
        try:
            if budget.depth > budget.limits.max_call_depth:
                raise TemplateLimitError(
                    f"the chat template nested calls (macros, recursive loops) deeper than "
                    f"{budget.limits.max_call_depth}; {FIX}"
                )
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        return _check_value(result, "a call")


def render_bounded(template: jinja2.Template, limits: TemplateLimits = DEFAULT_LIMITS, **variables: Any) -> str:
    """Render ``template`` (from a ``BoundedSandboxedEnvironment``) streaming, within ``limits``."""
    token = _BUDGET.set(_Budget(limits))
    try:
        budget = _budget()
        out: list[str] = []
        size = 0
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > limits.max_output_chars:
                raise TemplateLimitError(
                    f"the chat template's output exceeded the {limits.max_output_chars:,}-character limit; {FIX}"
                )
            out.append(chunk)
            budget.check_time()
        return "".join(out)
    finally:
        _BUDGET.reset(token)

"""Chat templates: the bundle's Jinja template rendered in a sandbox.

A chat template ships inside the bundle, so it is untrusted code. It is
rendered in ``jinja2.sandbox.ImmutableSandboxedEnvironment`` with the helpers
transformers gives templates (``transformers/utils/chat_template_utils.py``,
``_cached_compile_jinja_template``): ``raise_exception``, ``strftime_now``,
``tojson`` (no HTML escaping), a ``namespace`` that refuses underscore names,
``dict``, ``loopcontrols`` and the ``{% generation %}`` tag; variables
``messages``, ``add_generation_prompt``, ``bos_token``, ``eos_token``,
``tools``, ``documents``. A template reaching for Python internals
(``''.__class__.__mro__``) raises ``BundleError``; jinja2 < 3.1.6 has known
sandbox escapes (the reason transformers refuses it), so it is refused too.

The sandbox is also *bounded* (``template_sandbox.py``): a template that loops
too long, builds a huge string, nests macros too deep or outputs more than
``TemplateLimits.max_output_chars`` raises ``TemplateLimitError``; any other
failure inside the template (``{{ 1/0 }}``) is a ``BundleError``. Nothing a
template does ends in anything but an ``EdgekitError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import BundleError, EdgekitError, RuntimeGenerationError

if TYPE_CHECKING:
    import jinja2.nodes
    import jinja2.parser

    from .template_sandbox import BoundedSandboxedEnvironment, TemplateLimits

__all__ = ["ChatTemplate", "Message", "validate_messages"]

Message = Mapping[str, Any]

_MIN_JINJA = (3, 1, 6)


def _jinja_version_ok(version: str) -> bool:
    parts = []
    for part in version.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts) >= _MIN_JINJA


def _environment() -> BoundedSandboxedEnvironment:
    import jinja2
    import jinja2.ext
    import jinja2.nodes

    if not _jinja_version_ok(jinja2.__version__):
        raise BundleError(
            f"jinja2 {jinja2.__version__} has known sandbox escapes; chat templates need jinja2>=3.1.6: "
            "pip install -U 'jinja2>=3.1.6'"
        )

    class GenerationTag(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}`` (transformers' assistant-mask tag): render the body."""

        tags = {"generation"}

        def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

        def _render(self, caller: Callable[[], str]) -> str:
            return caller()

    class TemplateNamespace(jinja2.utils.Namespace):
        # Same guard as transformers: no dunder/underscore attributes on a namespace.
        def __init__(*args: Any, **kwargs: Any) -> None:
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name: str, value: Any) -> None:
            TemplateNamespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name: object) -> None:
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"namespace attribute {name!r} starts with an underscore")

    def raise_exception(message: str) -> NoReturn:
        error = jinja2.exceptions.TemplateError(message)
        # The template's own refusal, told apart from its bugs in render(); setattr: TemplateError does not declare it.
        setattr(error, "edgekit_refusal", True)  # noqa: B010
        raise error

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: int | str | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(fmt)

    from .template_sandbox import BoundedSandboxedEnvironment

    env = BoundedSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.bound_filters()  # tojson gets the same size checks as the built-in filters
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = lambda *a, **k: dict(*a, **k)
    env.globals["namespace"] = TemplateNamespace
    return env


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    """Plain-dict copy of a messages list, or RuntimeGenerationError naming the bad entry."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise RuntimeGenerationError(
            f"messages must be a non-empty list of {{'role': ..., 'content': ...}} dicts; got {type(messages).__name__}"
        )
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise RuntimeGenerationError(
                f"messages[{i}] is a {type(message).__name__}, not a dict with 'role' and 'content'"
            )
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not role:
            raise RuntimeGenerationError(f"messages[{i}] has no 'role' string (use 'system', 'user' or 'assistant')")
        if not isinstance(content, str):
            raise RuntimeGenerationError(f"messages[{i}] ('{role}') has no 'content' string")
        out.append(json.loads(json.dumps(dict(message))))  # plain data only: no objects reach the template
    return out


class ChatTemplate:
    """A compiled, sandboxed chat template."""

    def __init__(
        self,
        source: str,
        bos_token: str | None = None,
        eos_token: str | None = None,
        limits: TemplateLimits | None = None,
    ):
        import jinja2
        import jinja2.meta

        from .template_sandbox import DEFAULT_LIMITS

        self.limits = limits or DEFAULT_LIMITS
        self.source = source
        self.bos_token = bos_token or ""
        self.eos_token = eos_token or ""
        try:
            environment = _environment()
            self._template = environment.from_string(source)
            # a template that reads `tools` renders tool definitions itself (Hugging Face templates take tools=)
            self.takes_tools = "tools" in jinja2.meta.find_undeclared_variables(environment.parse(source))
        except jinja2.exceptions.TemplateSyntaxError as exc:
            raise BundleError(
                f"the bundle's chat template is not valid Jinja (line {exc.lineno}: {exc.message}); "
                "fix chat_template in edgekit.json or re-export"
            ) from None
        except RecursionError:  # a template nested thousands of levels deep in its source
            raise BundleError(
                "the bundle's chat template is nested too deeply to compile; fix chat_template in edgekit.json "
                "or re-export"
            ) from None
        except (jinja2.exceptions.TemplateError, ValueError, TypeError) as exc:  # e.g. an unknown filter name
            raise BundleError(
                f"the bundle's chat template cannot be compiled ({type(exc).__name__}: {exc}); "
                "fix chat_template in edgekit.json or re-export"
            ) from None

    def render(
        self,
        messages: Sequence[Message],
        add_generation_prompt: bool = True,
        tools: Sequence[Mapping[str, Any]] | None = None,
        **extra: Any,
    ) -> str:
        import jinja2

        from .template_sandbox import FIX, render_bounded

        plain = validate_messages(messages)
        try:
            return render_bounded(
                self._template,
                self.limits,
                messages=plain,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                tools=json.loads(json.dumps(list(tools))) if tools else None,  # plain data only
                documents=None,
                **extra,
            )
        except jinja2.exceptions.SecurityError as exc:
            raise BundleError(
                f"the bundle's chat template tried an unsafe operation and was stopped by the sandbox ({exc}); "
                "do not use this bundle, or replace its chat_template"
            ) from None
        except jinja2.exceptions.TemplateError as exc:
            if getattr(exc, "edgekit_refusal", False):  # raise_exception(): the template refuses these messages
                raise RuntimeGenerationError(f"the chat template refused the messages: {exc}") from None
            raise BundleError(
                f"the bundle's chat template failed while rendering ({type(exc).__name__}: {exc}); {FIX}"
            ) from None
        except EdgekitError:
            raise  # TemplateLimitError and friends already say what and how to fix
        except RecursionError:
            raise BundleError(f"the bundle's chat template recursed too deeply while rendering; {FIX}") from None
        except MemoryError:
            raise BundleError(f"the bundle's chat template ran out of memory while rendering; {FIX}") from None
        except Exception as exc:  # noqa: BLE001 - the template is untrusted code: any failure in it is the bundle's
            raise BundleError(
                f"the bundle's chat template failed while rendering ({type(exc).__name__}: {exc}); {FIX}"
            ) from None

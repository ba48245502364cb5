"""The one error tree of edgekit.

Every error that a user can cause (bad input, a broken bundle, an unreachable
cloud) is an ``EdgekitError``: the CLI prints its message on one line and exits
non-zero, never with a traceback. Messages say what failed, the value, and the
fix. Programming errors stay ordinary Python exceptions.

The tree below is every public ``EdgekitError`` subclass in the three roots
(a private one, such as the hybrid client's internal no-cloud signal, is not
drawn): a child's parent is its first base class, "also a X" names its other
bases, and ``[module]`` names the module of a class defined outside this file,
next to the code that raises it. tests/core/test_error_tree.py checks the
drawing against the code.

    EdgekitError
    ├── ConfigError                 a typed option or spec has a bad value
    │   ├── UnknownNameError        a registry lookup failed (lists known names)
    │   │   └── OptionChoiceError   an export target option outside its choices [exporters.target_options]
    │   └── InputEncodingError      text given to a command is not UTF-8 [sdk.cli.text_input]
    ├── DependencyError             an optional extra (export, executorch, bench) is absent; raised by
    │                               export, the runtime's ExecuTorch backend, bench and eval alike
    ├── ExportError                 edgekit export could not produce a bundle
    │   ├── SourceError             model path/GGUF/hub id missing, unreadable, truncated
    │   ├── UnsupportedError        architecture, recipe or target combination refused
    │   └── QualityGateError        validation missed the floor under --strict/--min-agreement
    ├── BundleError                 a bundle cannot be loaded
    │   ├── SchemaError             edgekit.json missing, malformed, unknown schema version
    │   ├── IntegrityError          a file is missing, truncated or fails its sha256
    │   ├── TemplateLimitError      the chat template ran past a time/size/loop/nesting limit
    │   └── InsufficientMemoryError the bundle will not fit in available memory
    ├── RuntimeGenerationError      generation failed (bad options, context overflow policy=error)
    │   ├── ContextOverflowError
    │   ├── SamplingOptionError     a sampling option is out of range (also a ConfigError)
    │   ├── ToolError               a tool definition or tool_choice is unusable (also a ConfigError)
    │   └── ConstraintError         a constraint's kind or source is unusable (also a ConfigError)
    │                               [runtime.constraints]
    ├── EscalationError             the cloud side failed (the hybrid client falls back locally)
    │   ├── CloudTimeoutError
    │   │   └── CloudDeadlineError  the whole call, retries included, ran past its deadline
    │   │                           [sdk.cloud.deadline]
    │   ├── CloudHTTPError          non-2xx answer (status kept)
    │   ├── CloudProtocolError      malformed JSON, stream cut mid-way
    │   ├── CircuitOpenError
    │   └── BudgetExceededError
    ├── TuneError                   edgekit tune could not produce a tuned model folder [exporters.tune.errors]
    │   ├── TuneDataError           training data malformed, too long or too small to split
    │   │                           [exporters.tune.errors]
    │   └── TuneMemoryError         the run's estimated peak memory is above what is available
    │                               [exporters.tune.errors]
    ├── EngineUnavailable           a bench peer cannot run here (its row is skipped) [sdk.bench.engines]
    └── WorkerError                 a bench engine's worker process failed [sdk.bench.runner]
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "EdgekitError",
    "ConfigError",
    "UnknownNameError",
    "ExportError",
    "SourceError",
    "UnsupportedError",
    "DependencyError",
    "QualityGateError",
    "BundleError",
    "SchemaError",
    "IntegrityError",
    "InsufficientMemoryError",
    "TemplateLimitError",
    "RuntimeGenerationError",
    "ContextOverflowError",
    "SamplingOptionError",
    "ToolError",
    "EscalationError",
    "CloudTimeoutError",
    "CloudHTTPError",
    "CloudProtocolError",
    "CircuitOpenError",
    "BudgetExceededError",
]


class EdgekitError(Exception):
    """Root of every user-facing edgekit error."""


class ConfigError(EdgekitError):
    """An option or spec field has a value edgekit cannot use."""


class UnknownNameError(ConfigError):
    """A name was looked up in a registry that does not hold it."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known {kind}s: {', '.join(self.known) or '(none)'}")


class ExportError(EdgekitError):
    """edgekit export could not produce a bundle."""


class SourceError(ExportError):
    """The model source is missing, unreadable, truncated or unreachable."""


class UnsupportedError(ExportError):
    """An architecture, recipe or target combination is not supported."""


class DependencyError(EdgekitError):
    """An optional dependency group is not installed."""

    def __init__(self, what: str, extra: str, missing: str | None = None):
        self.extra = extra
        detail = f" (missing module {missing!r})" if missing else ""
        super().__init__(f"{what} needs the '{extra}' extra{detail}: pip install 'edgekit[{extra}]'")


class QualityGateError(ExportError):
    """Validation of the exported model missed the requested quality floor."""


class BundleError(EdgekitError):
    """A bundle cannot be loaded."""


class SchemaError(BundleError):
    """edgekit.json is missing, malformed, or of an unknown schema version."""


class IntegrityError(BundleError):
    """A bundle file is missing, truncated or does not match its sha256."""


class TemplateLimitError(BundleError):
    """The bundle's chat template ran past a limit on time, output size, loop iterations or nesting."""


class InsufficientMemoryError(BundleError):
    """The bundle needs more memory than the device has available."""


class RuntimeGenerationError(EdgekitError):
    """Generation could not run with the given input or options."""


class ContextOverflowError(RuntimeGenerationError):
    """Prompt plus requested output exceed the bundle's max context."""


class SamplingOptionError(RuntimeGenerationError, ConfigError):
    """A sampling option has a value the sampler cannot use.

    Both a ``RuntimeGenerationError`` (what ``generate``/``stream`` raise for bad options) and a
    ``ConfigError`` (a typed option with a bad value); ``option``, ``value`` and ``allowed`` let a caller such
    as the HTTP server or the CLI name the field without parsing the message.
    """

    def __init__(self, option: str, value: object, allowed: str):
        self.option = option
        self.value = value
        self.allowed = allowed
        super().__init__(f"{option}={value!r} is invalid: {allowed}")


class ToolError(RuntimeGenerationError, ConfigError):
    """A tool definition, tool_choice or tool message cannot be used (tool calling, tools.py).

    ``field`` is where the bad value sits in OpenAI's request shape (``tools[1].function.name``) so the HTTP
    server can name it; the message says what failed, the value and the fix.
    """

    def __init__(self, field: str, value: object, rule: str):
        self.field = field
        self.value = value
        self.rule = rule
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{field}={shown} is invalid: {rule}")


class EscalationError(EdgekitError):
    """The cloud side of the hybrid client failed."""


class CloudTimeoutError(EscalationError):
    """The cloud did not answer within the configured timeout."""


class CloudHTTPError(EscalationError):
    """The cloud answered with a non-success HTTP status."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


class CloudProtocolError(EscalationError):
    """The cloud's answer was malformed (bad JSON, stream cut mid-way)."""


class CircuitOpenError(EscalationError):
    """The circuit breaker is open after repeated cloud failures."""


class BudgetExceededError(EscalationError):
    """An escalation or cloud-token budget cap has been reached."""

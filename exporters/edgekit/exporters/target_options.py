"""Typed options of an export target (``-o KEY=VALUE`` on the CLI, ``ExportSpec.options`` in Python).

Each target declares one frozen dataclass, a subclass of ``TargetOptions``,
whose fields carry their type, default, help and allowed values
(``option(...)``). Everything else comes from that declaration: parsing
``KEY=VALUE`` text by the field's type, checking values, the error that lists
the known options, and the listing in ``edgekit export --help``.

A field whose default is None means "not given": the target then applies its
own default, which may depend on the recipe or the model (say so in
``default_text``).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgekit.runtime.errors import ConfigError, UnknownNameError
from edgekit.runtime.registry import Registry

__all__ = [
    "TargetOptions",
    "OptionInfo",
    "OptionChoiceError",
    "ValueType",
    "VALUE_TYPES",
    "option",
    "split_pairs",
]


@dataclass(frozen=True)
class ValueType:
    """How text becomes a value of one Python type, and how the type is named in messages."""

    name: str  # "int", "float", ...
    description: str  # "an integer": completes "... is not <description>"
    parse: Callable[[str], Any]  # raises ValueError on bad text
    accepts: Callable[[Any], bool]  # a Python value already of this type
    convert: Callable[[Any], Any] = lambda value: value  # normalise an accepted value (int -> float)


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_integral_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


# Python type -> how to read it; a field of a type not listed here is a programming error at class creation.
VALUE_TYPES: Registry[ValueType] = Registry("option value type")
VALUE_TYPES.add(
    "int",
    ValueType(
        "int",
        "an integer",
        lambda text: int(text.strip()),
        lambda v: _is_int(v) or _is_integral_float(v),
        int,
    ),
)
VALUE_TYPES.add(
    "float",
    ValueType(
        "float", "a number", lambda text: float(text.strip()), lambda v: _is_int(v) or isinstance(v, float), float
    ),
)
VALUE_TYPES.add("bool", ValueType("bool", "true or false", _parse_bool, lambda v: isinstance(v, bool)))
VALUE_TYPES.add("str", ValueType("str", "a string", lambda text: text, lambda v: isinstance(v, str)))


def option(
    default: Any = None,
    *,
    help: str,
    choices: Iterable[Any] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    check: Callable[[Any], str | None] | None = None,
    hint: str = "",
    default_text: str | None = None,
) -> Any:
    """A dataclass field of a ``TargetOptions`` class.

    ``check(value)`` returns None or the reason the value is refused (completes
    "<target> option <name>=<value> ..."); ``hint`` is appended to range errors;
    ``default_text`` describes a None default (e.g. "the recipe's").
    """
    metadata = {
        "help": help,
        "choices": tuple(choices) if choices is not None else None,
        "minimum": minimum,
        "maximum": maximum,
        "check": check,
        "hint": hint,
        "default_text": default_text,
    }
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionInfo:
    """One declared option, as the parser, the checks and the help listing see it."""

    name: str
    value_type: ValueType
    optional: bool  # None allowed (the target's own default applies)
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    minimum: float | None
    maximum: float | None
    check: Callable[[Any], str | None] | None
    hint: str
    default_text: str | None

    def allowed(self) -> str:
        """The allowed values or range, for messages and help ("cpu, web", "0..1", "1 or more")."""
        if self.choices is not None:
            return ", ".join(_show(c) for c in self.choices)
        if self.minimum is not None and self.maximum is not None:
            return f"{_num(self.minimum)}..{_num(self.maximum)}"
        if self.minimum is not None:
            return f"{_num(self.minimum)} or more"
        if self.maximum is not None:
            return f"{_num(self.maximum)} or less"
        return ""

    def describe(self) -> str:
        """One help line: ``name (type, default X; allowed): help``."""
        if self.default is None:
            default = self.default_text or "none"
        else:
            default = _show(self.default)
        facts = [self.value_type.name, f"default {default}"]
        allowed = self.allowed()
        if allowed:
            facts.append(f"allowed {allowed}")
        return f"{self.name} ({'; '.join(facts)}): {self.help}"


class OptionChoiceError(UnknownNameError):
    """An option value outside the field's allowed set (a lookup of a name that is not there)."""

    def __init__(self, target: str, name: str, value: Any, choices: tuple[Any, ...]):
        super().__init__(f"{target} option {name} value", str(value), [str(c) for c in choices])
        self.args = (f"{target} option {name}={value!r} is not one of {', '.join(_show(c) for c in choices)}",)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``int | None`` -> (int, True); ``int`` -> (int, False)."""
    args = typing.get_args(annotation)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"option type {annotation!r}: one type, optionally with None")
        return rest[0], True
    return annotation, False


@dataclass(frozen=True)
class TargetOptions:
    """Base of every target's options dataclass (subclass it, set ``target_name``, declare ``option`` fields)."""

    target_name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for info in self.infos():
            value = getattr(self, info.name)
            object.__setattr__(self, info.name, self._checked(info, value))

    # -- declaration -------------------------------------------------------------
    @classmethod
    def infos(cls) -> list[OptionInfo]:
        hints = typing.get_type_hints(cls)
        infos = []
        for f in dataclasses.fields(cls):
            base, optional = _unwrap(hints[f.name])
            meta = f.metadata
            if "help" not in meta:
                raise TypeError(f"{cls.__name__}.{f.name} is not declared with option(help=...)")
            infos.append(
                OptionInfo(
                    name=f.name,
                    value_type=VALUE_TYPES.get(getattr(base, "__name__", str(base))),
                    optional=optional,
                    default=f.default,
                    help=meta["help"],
                    choices=meta["choices"],
                    minimum=meta["minimum"],
                    maximum=meta["maximum"],
                    check=meta["check"],
                    hint=meta["hint"],
                    default_text=meta["default_text"],
                )
            )
        return infos

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def known(cls) -> str:
        """``profile (cpu, web)``-style list of the options, for the unknown-key error."""
        parts = []
        for info in cls.infos():
            parts.append(f"{info.name} ({', '.join(str(c) for c in info.choices)})" if info.choices else info.name)
        return ", ".join(parts)

    @classmethod
    def help_lines(cls) -> list[str]:
        return [info.describe() for info in cls.infos()]

    # -- construction ------------------------------------------------------------
    @classmethod
    def from_strings(cls, pairs: Mapping[str, str]) -> TargetOptions:
        """``{"group_size": "64"}`` (the text of ``-o KEY=VALUE``) -> typed options, parsed by field type."""
        return cls.from_mapping(pairs)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TargetOptions:
        """Typed options from a mapping whose values are typed, or text parsed by the field's type."""
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise ConfigError(f"unknown {cls.target_name} option(s) {', '.join(unknown)}; known: {cls.known()}")
        by_name = {info.name: info for info in cls.infos()}
        parsed = {}
        for key, value in values.items():
            info = by_name[key]
            if isinstance(value, str) and info.value_type.name != "str":
                value = cls._parse(info, value)
            parsed[key] = value
        return cls(**parsed)

    @classmethod
    def coerce(cls, options: TargetOptions | Mapping[str, Any] | None) -> TargetOptions:
        """What a target's ``build`` accepts: an instance of this class, a mapping (see from_mapping) or None."""
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        if isinstance(options, TargetOptions):
            raise ConfigError(
                f"{type(options).__name__} are options of target {options.target_name!r}, not of "
                f"{cls.target_name!r}; pass {cls.__name__}"
            )
        return cls.from_mapping(options)

    def given(self) -> dict[str, Any]:
        """The options that were set (not None): what a target refines its defaults with."""
        return {name: getattr(self, name) for name in self.names() if getattr(self, name) is not None}

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.names()}

    # -- checks ------------------------------------------------------------------
    @classmethod
    def _parse(cls, info: OptionInfo, text: str) -> Any:
        try:
            return info.value_type.parse(text)
        except ValueError:
            raise ConfigError(
                f"{cls.target_name} option {info.name}={text!r} is not {info.value_type.description} "
                f"({info.value_type.name})" + (f"; allowed: {info.allowed()}" if info.allowed() else "")
            ) from None

    @classmethod
    def _checked(cls, info: OptionInfo, value: Any) -> Any:
        name = f"{cls.target_name} option {info.name}"
        if value is None:
            if info.optional:
                return None
            raise ConfigError(f"{name} needs a value ({info.value_type.name})")
        if isinstance(value, str) and info.value_type.name != "str":
            value = cls._parse(info, value)
        if not info.value_type.accepts(value):
            raise ConfigError(
                f"{name}={value!r} is not {info.value_type.description} ({info.value_type.name}), "
                f"it is a {type(value).__name__}"
            )
        value = info.value_type.convert(value)
        if info.choices is not None and value not in info.choices:
            raise OptionChoiceError(cls.target_name, info.name, value, info.choices)
        low, high = info.minimum, info.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            where = f"outside {info.allowed()}" if low is not None and high is not None else f"not {info.allowed()}"
            raise ConfigError(f"{name}={value!r} is {where}" + (f"; {info.hint}" if info.hint else ""))
        if info.check is not None:
            reason = info.check(value)
            if reason is not None:
                raise ConfigError(f"{name}={value!r} {reason}")
        return value


def split_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``("group_size=64", "logits=all")`` -> ``{"group_size": "64", "logits": "all"}`` (text, not yet typed).

    Raises ValueError naming the first item that is not KEY=VALUE.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(pair)
        out[key.strip()] = value
    return out

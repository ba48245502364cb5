"""Typed target options (exporters/edgekit/exporters/target_options.py): parsing by declared type, checks, errors."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest
from edgekit.exporters.target_options import OptionChoiceError, TargetOptions, option, split_pairs
from edgekit.runtime.errors import ConfigError, EdgekitError, UnknownNameError


def _even(value: int) -> str | None:
    return None if value % 2 == 0 else "must be even"


@dataclass(frozen=True)
class ToyOptions(TargetOptions):
    """One field of every supported type (a test-only target, not registered)."""

    target_name = "toy"

    count: int = option(4, help="an int with a range", minimum=1, maximum=64, hint="try 4")
    ratio: float | None = option(help="an optional float", minimum=0.0, maximum=1.0, default_text="the recipe's")
    fast: bool = option(False, help="a bool")
    mode: str = option("a", help="a choice", choices=("a", "b"))
    pairs: int | None = option(help="an int with a check", check=_even, default_text="none")
    label: str = option("x", help="a free string")


def test_each_type_is_parsed_by_its_declared_type():
    opts = ToyOptions.from_strings(
        {"count": "8", "ratio": "0.5", "fast": "true", "mode": "b", "pairs": "6", "label": "12"}
    )
    assert opts == ToyOptions(count=8, ratio=0.5, fast=True, mode="b", pairs=6, label="12")
    assert type(opts.count) is int and type(opts.ratio) is float and opts.fast is True
    assert opts.label == "12"  # a str field keeps digits as text: the declared type decides, not the value
    assert (
        ToyOptions.from_strings({"ratio": "1"}).ratio == 1.0
        and type(ToyOptions.from_strings({"ratio": "1"}).ratio) is float
    )
    for text, expected in (("false", False), ("0", False), ("yes", True), ("ON", True)):
        assert ToyOptions.from_strings({"fast": text}).fast is expected
    # typed values from Python are checked and normalised the same way
    assert ToyOptions(ratio=1).ratio == 1.0 and type(ToyOptions(ratio=1).ratio) is float
    assert ToyOptions(count=16.0).count == 16 and type(ToyOptions(count=16.0).count) is int
    assert ToyOptions().given() == {"count": 4, "fast": False, "mode": "a", "label": "x"}  # None fields not given
    with pytest.raises(FrozenInstanceError):
        ToyOptions().count = 2  # type: ignore[misc]


def test_unknown_key_lists_the_known_options():
    with pytest.raises(ConfigError) as err:
        ToyOptions.from_mapping({"colour": "blue", "count": "2", "bogus": 1})
    assert str(err.value) == (
        "unknown toy option(s) bogus, colour; known: count, ratio, fast, mode (a, b), pairs, label"
    )


@pytest.mark.parametrize(
    "values, message",
    [
        ({"count": "many"}, "toy option count='many' is not an integer (int); allowed: 1..64"),
        ({"count": "2.5"}, "toy option count='2.5' is not an integer (int); allowed: 1..64"),
        ({"ratio": "half"}, "toy option ratio='half' is not a number (float); allowed: 0..1"),
        ({"fast": "maybe"}, "toy option fast='maybe' is not true or false (bool)"),
        ({"count": "0"}, "toy option count=0 is outside 1..64; try 4"),
        ({"count": 65}, "toy option count=65 is outside 1..64; try 4"),
        ({"ratio": 1.5}, "toy option ratio=1.5 is outside 0..1"),
        ({"pairs": "3"}, "toy option pairs=3 must be even"),
        ({"count": True}, "toy option count=True is not an integer (int), it is a bool"),
        ({"fast": 1}, "toy option fast=1 is not true or false (bool), it is a int"),
        ({"label": 3}, "toy option label=3 is not a string (str), it is a int"),
    ],
)
def test_bad_value_names_the_option_the_value_and_the_type_or_range(values, message):
    with pytest.raises(ConfigError) as err:
        ToyOptions.from_mapping(values)
    assert str(err.value) == message
    assert isinstance(err.value, EdgekitError)


def test_a_value_outside_the_choices_is_an_unknown_name_listing_them():
    with pytest.raises(OptionChoiceError) as err:
        ToyOptions.from_strings({"mode": "c"})
    assert str(err.value) == "toy option mode='c' is not one of 'a', 'b'"
    assert isinstance(err.value, UnknownNameError) and err.value.known == ["a", "b"]


def test_coerce_accepts_its_own_class_a_mapping_or_none_and_refuses_another_targets():
    from edgekit.exporters.onnx.target import OnnxOptions

    own = ToyOptions(count=2)
    assert ToyOptions.coerce(own) is own
    assert ToyOptions.coerce(None) == ToyOptions() == ToyOptions.coerce({})
    assert ToyOptions.coerce({"count": 2}) == own
    with pytest.raises(ConfigError, match="options of target 'onnx', not of 'toy'"):
        ToyOptions.coerce(OnnxOptions())


def test_help_lines_come_from_the_fields():
    assert ToyOptions.help_lines() == [
        "count (int; default 4; allowed 1..64): an int with a range",
        "ratio (float; default the recipe's; allowed 0..1): an optional float",
        "fast (bool; default False): a bool",
        "mode (str; default 'a'; allowed 'a', 'b'): a choice",
        "pairs (int; default none): an int with a check",
        "label (str; default 'x'): a free string",
    ]


def test_a_field_without_help_or_of_an_unsupported_type_is_refused():
    @dataclass(frozen=True)
    class NoHelp(TargetOptions):
        target_name = "nohelp"
        size: int = 3

    with pytest.raises(TypeError, match="option\\(help"):
        NoHelp.infos()

    @dataclass(frozen=True)
    class ListField(TargetOptions):
        target_name = "list"
        sizes: list | None = option(help="not a scalar", default_text="none")

    with pytest.raises(UnknownNameError, match="option value type"):
        ListField.infos()


def test_split_pairs_keeps_text_and_refuses_non_pairs():
    assert split_pairs(["a=1", " b = x=y"]) == {"a": "1", "b": " x=y"}
    for bad in ("a", "=1", "a="):
        with pytest.raises(ValueError):
            split_pairs([bad])


def test_real_targets_check_their_options_before_building(tmp_path):
    from edgekit.exporters.executorch.target import ExecuTorchOptions
    from edgekit.exporters.onnx.target import OnnxOptions

    assert OnnxOptions.from_strings({"profile": "web"}).profile == "web"
    with pytest.raises(UnknownNameError, match="onnx option profile='web2' is not one of 'cpu', 'web'"):
        OnnxOptions.from_strings({"profile": "web2"})
    et = ExecuTorchOptions.from_strings({"group_size": "64", "embedding_bits": "8", "smooth_alpha": "0"})
    assert et.given() == {"group_size": 64, "embedding_bits": 8, "logits": "last", "smooth_alpha": 0.0}
    with pytest.raises(ConfigError, match=r"group_size=48 must be a power of two ≥ 16"):
        ExecuTorchOptions(group_size=48)
    with pytest.raises(ConfigError, match=r"max_seq_len=0 is not 1 or more"):
        ExecuTorchOptions.from_strings({"max_seq_len": "0"})

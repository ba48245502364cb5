"""Impossible manifest values end in one SchemaError line naming the key and the value, before any compute."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner
from edgekit.runtime import EdgekitError, InsufficientMemoryError, SchemaError, load
from edgekit.sdk.cli import main


def _edit(folder, change) -> None:
    path = folder / "edgekit.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _set(section, key, value):
    def change(data):
        target = data
        for part in section.split(".") if section else []:
            target = target[part]
        target[key] = value

    return change


CASES = [
    # (section, key, value, regex the message must match)
    ("context", "max_context", 10**12, r"context\.max_context = 1000000000000 is invalid \(Expected int <= 1048576\)"),
    ("context", "max_context", -5, r"context\.max_context = -5 is invalid \(Expected int >= 1\)"),
    ("context", "max_context", "64", r"context\.max_context = \"64\" is invalid \(Expected int, got str\)"),
    ("context", "max_context", 128, r"context\.max_context = 128 exceeds the 64 positions the graph was built for"),
    ("backend_config.cache", "dtype", "bfloat16", r"backend_config\.cache\.dtype = \"bfloat16\" is invalid"),
    ("backend_config.cache", "num_layers", 0, r"backend_config\.cache\.num_layers = 0 is invalid"),
    ("backend_config.cache", "past_key", "past.{0}.key", r"backend_config\.cache\.past_key = \"past\.\{0\}\.key\""),
    ("architecture", "vocab_size", 10**12, r"architecture\.vocab_size = 1000000000000 is invalid"),
    ("architecture", "vocab_size", 100, r"tokenizer\.bos_id = 256 is not below architecture\.vocab_size 100"),
    ("architecture", "num_kv_heads", 0, r"architecture\.num_kv_heads = 0 is invalid"),
    ("tokenizer", "eos_ids", "258", r"tokenizer\.eos_ids = \"258\" is invalid \(Expected array, got str\)"),
    ("tokenizer", "eos_ids", ["x"], r"tokenizer\.eos_ids\[0\] = \"x\" is invalid"),
    ("tokenizer", "bos_id", 10**30, r"tokenizer\.bos_id = 10{30} is invalid"),
    ("tokenizer", "bos_id", 300, r"tokenizer\.bos_id = 300 is not below architecture\.vocab_size 259"),
    ("", "chat_template", 42, r"chat_template = 42 is invalid \(Expected str \| null, got int\)"),
    ("", "chat_template", ["{{ x }}"], r"chat_template = \[\"\{\{ x \}\}\"\] is invalid"),
    ("generation_defaults", "temperature", -1, r"generation_defaults\.temperature = -1 is invalid"),
    ("generation_defaults", "max_new_tokens", True, r"generation_defaults\.max_new_tokens = true is invalid"),
    ("memory", "peak_rss_mib", "lots", r"memory\.peak_rss_mib = \"lots\" is invalid"),
    ("", "files", [], r"files = \[\] is invalid"),
]


@pytest.mark.parametrize("section,key,value,message", CASES, ids=[f"{c[0]}.{c[1]}={c[2]!r}"[:60] for c in CASES])
def test_impossible_value_is_one_schema_error_before_compute(fresh_toy_bundle, section, key, value, message):
    _edit(fresh_toy_bundle, _set(section, key, value))
    with pytest.raises(SchemaError, match=message) as info:
        model = load(fresh_toy_bundle)  # on the old reader most of these loaded and crashed in numpy/onnxruntime
        model.generate("x" * 40, max_new_tokens=30, chat=False)
    text = str(info.value)
    assert "\n" not in text and "edgekit.json" in text and ("re-export" in text or "set " in text)
    result = CliRunner().invoke(main, ["info", str(fresh_toy_bundle)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_missing_key_names_it(fresh_toy_bundle):
    _edit(fresh_toy_bundle, lambda d: d["architecture"].pop("vocab_size"))
    with pytest.raises(SchemaError, match=r"required key architecture\.vocab_size is missing"):
        load(fresh_toy_bundle)


def test_long_prompt_on_a_context_above_the_graph_is_refused_at_load(fresh_toy_bundle):
    # the hostile tester's case: the manifest claims more context than the graph's tables hold, the prompt needs it
    _edit(fresh_toy_bundle, _set("context", "max_context", 96))
    with pytest.raises(SchemaError, match="exceeds the 64 positions"):
        load(fresh_toy_bundle).generate("y" * 80, max_new_tokens=4, chat=False)


def test_graph_failure_is_a_runtime_error_not_a_traceback(fresh_toy_bundle):
    # a bundle written before the graph's context was recorded: the engine's failure still ends in one line
    from edgekit.runtime.errors import RuntimeGenerationError

    _edit(fresh_toy_bundle, lambda d: (d["backend_config"].pop("max_context"), _set("context", "max_context", 96)(d)))
    model = load(fresh_toy_bundle)
    with pytest.raises(RuntimeGenerationError, match="onnxruntime failed at positions"):
        model.generate("y" * 80, max_new_tokens=4, chat=False)


def test_tokenizer_larger_than_the_model_vocabulary_is_refused(fresh_toy_bundle):
    _edit(fresh_toy_bundle, lambda d: (_set("architecture", "vocab_size", 258)(d), d["tokenizer"].update(eos_ids=[])))
    with pytest.raises(SchemaError, match=r"tokenizer.json has 259 tokens but architecture.vocab_size is 258"):
        load(fresh_toy_bundle)


def test_memory_check_counts_the_kv_cache_of_max_context(fresh_toy_bundle):
    from edgekit.runtime.manifest import read_manifest
    from edgekit.runtime.memory import check_fits, kv_cache_mib

    manifest = read_manifest(fresh_toy_bundle)
    spec = manifest.backend_spec.cache
    per_token = 2 * spec.num_layers * spec.num_kv_heads * spec.head_dim * 4
    assert kv_cache_mib(manifest) == pytest.approx(per_token * 64 / 2**20)
    big = replace(manifest, max_context=1 << 20, memory=replace(manifest.memory, peak_rss_mib=1.0))
    assert kv_cache_mib(big) == pytest.approx(per_token * (1 << 20) / 2**20)
    assert check_fits(manifest, available_mib=50.0).fits is None  # unmeasured and a tiny cache: cannot tell
    with pytest.raises(InsufficientMemoryError, match=r"KV cache for 1 sequence of max_context 1048576"):
        check_fits(big, available_mib=20.0)
    unmeasured = replace(big, memory=replace(manifest.memory, peak_rss_mib=None))
    need = f"{per_token * (1 << 20) / 2**20:.0f}"
    with pytest.raises(
        InsufficientMemoryError, match=rf"needs about {need} MiB \({need} MiB of KV cache for 1 sequence"
    ):
        check_fits(unmeasured, available_mib=20.0)
    fit = check_fits(big, available_mib=1e6)
    assert fit.fits and fit.required_mib == pytest.approx(1.1 + kv_cache_mib(big))
    # parallel generations hold a cache each: load(parallel=3) asks for three
    three = check_fits(big, available_mib=1e6, sequences=3)
    assert three.kv_cache_mib == pytest.approx(3 * kv_cache_mib(big))
    with pytest.raises(InsufficientMemoryError, match=r"KV cache for 3 sequences of max_context 1048576"):
        check_fits(big, available_mib=fit.required_mib + 1, sequences=3)


def test_every_error_is_an_edgekit_error():
    assert issubclass(SchemaError, EdgekitError)

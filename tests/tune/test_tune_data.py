"""edgekit tune's data checks: every bad input is a TuneDataError naming the line and what is wrong, and the
assistant-only loss mask covers exactly the assistant turns of a conversation rendered with the real template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgekit.exporters.tune import TuneDataError, read_conversations, split_validation
from edgekit.exporters.tune.data import MIN_SPLIT_EXAMPLES
from edgekit.exporters.tune.encode import IGNORE, Encoder
from edgekit.exporters.tune.errors import TuneError, TuneMemoryError
from edgekit.exporters.tune.memory import check_memory, estimate_memory
from edgekit.runtime.errors import EdgekitError

GOOD = {"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}


def _write(tmp_path: Path, lines: list[str], name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _bad(tmp_path: Path, line: str) -> str:
    path = _write(tmp_path, [json.dumps(GOOD), line])
    with pytest.raises(TuneDataError) as info:
        read_conversations(path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: "), message  # file and line number first
    return message


def test_the_errors_are_edgekit_errors():
    assert issubclass(TuneDataError, TuneError) and issubclass(TuneMemoryError, TuneError)
    assert issubclass(TuneError, EdgekitError)


def test_a_good_file_reads_and_blank_lines_are_skipped(tmp_path):
    system = {"messages": [{"role": "system", "content": "Be brief."}, *GOOD["messages"]]}
    path = _write(tmp_path, [json.dumps(GOOD), "", json.dumps(system)])
    conversations = read_conversations(path)
    assert [len(c.messages) for c in conversations] == [2, 3]
    assert conversations[1].source == f"{path}:3"


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ('{"messages": [', "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"prompt": "x", "completion": "y"}', 'no "messages" list'),
        ('{"messages": []}', 'no "messages" list'),
        ('{"messages": ["hi"]}', "messages[0] is not an object"),
        ('{"messages": [{"role": "bot", "content": "x"}]}', "role 'bot'"),
        ('{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}]}', "non-empty"),
        ('{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}]}', "non-empty"),
        ('{"messages": [{"role": "user", "content": "a"}]}', "no assistant turn"),
        ('{"messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]}', "no assistant turn"),
        ('{"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}', "out of order"),
        (
            '{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, '
            '{"role": "assistant", "content": "c"}]}',
            "messages[1] is 'user' where 'assistant' belongs",
        ),
        (
            '{"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}, '
            '{"role": "assistant", "content": "c"}]}',
            "out of order",
        ),
    ],
)
def test_each_bad_line_is_named_with_what_is_wrong(tmp_path, line, what):
    assert what in _bad(tmp_path, line)


def test_not_utf8_and_empty_files(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"messages": "caf\u00e9"}'.encode("latin-1") + b"\n")
    with pytest.raises(TuneDataError, match=r"latin1.jsonl:2: not UTF-8"):
        read_conversations(path)
    empty = _write(tmp_path, [""], "empty.jsonl")
    with pytest.raises(TuneDataError, match="no conversations"):
        read_conversations(empty)
    with pytest.raises(TuneDataError, match="cannot read"):
        read_conversations(tmp_path / "absent.jsonl")


def test_too_few_examples_to_split(tmp_path):
    path = _write(tmp_path, [json.dumps(GOOD)] * (MIN_SPLIT_EXAMPLES - 1))
    with pytest.raises(TuneDataError, match=r"only 9 training conversations.*--eval"):
        split_validation(read_conversations(path), 0.1, seed=0)


def test_the_split_is_seeded_and_disjoint(tmp_path):
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, GOOD["messages"][1]]}) for i in range(40)]
    conversations = read_conversations(_write(tmp_path, lines))
    train, val = split_validation(conversations, 0.1, seed=3)
    again, val_again = split_validation(conversations, 0.1, seed=3)
    other = split_validation(conversations, 0.1, seed=4)[1]
    assert len(val) == 4 and len(train) == 36
    assert [c.source for c in val] == [c.source for c in val_again] and train == again
    assert {c.source for c in val}.isdisjoint(c.source for c in train)
    assert [c.source for c in other] != [c.source for c in val]


@pytest.fixture(scope="module")
def encoder(tiny_hf_folder) -> Encoder:
    """The real SmolLM2 tokenizer and chat template (the tiny model's, copied from the default GGUF)."""
    template = (tiny_hf_folder / "chat_template.jinja").read_text(encoding="utf-8")
    return Encoder(tiny_hf_folder / "tokenizer.json", template, bos_id=1, add_bos=False)


def test_the_mask_covers_exactly_the_assistant_turns(encoder):
    messages = [
        {"role": "system", "content": "You answer in one sentence."},
        {"role": "user", "content": "Hi there!"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "What is the price?"},
        {"role": "assistant", "content": "It costs 89 euros."},
    ]
    example = encoder.encode(messages)
    decode = encoder.tokenizer.decode
    trained = [t for t, label in zip(example.input_ids, example.labels) if label != IGNORE]
    assert all(label in (IGNORE, token) for token, label in zip(example.input_ids, example.labels))
    # both assistant turns with their end-of-turn marker, nothing of the system or user turns
    text = decode(trained, skip_special_tokens=False)
    assert text == "Hello! How can I help?<|im_end|>\nIt costs 89 euros.<|im_end|>\n", text
    untrained = decode(
        [t for t, lab in zip(example.input_ids, example.labels) if lab == IGNORE], skip_special_tokens=False
    )
    assert "What is the price?" in untrained and "one sentence" in untrained and "89" not in untrained
    # the ids are those of the whole rendered conversation, as the device would tokenize it
    rendered = encoder.template.render(messages, add_generation_prompt=False)
    assert list(example.input_ids) == encoder.tokenizer.encode(rendered, add_special_tokens=False).ids


def test_the_template_default_system_prompt_is_not_trained(encoder):
    example = encoder.encode(GOOD["messages"])
    untrained = encoder.tokenizer.decode([t for t, lab in zip(example.input_ids, example.labels) if lab == IGNORE])
    assert "SmolLM" in untrained  # SmolLM2's template adds its own system turn when there is none
    assert encoder.tokenizer.decode([t for t in example.labels if t != IGNORE]) == "Hello.\n"


def test_long_examples_are_truncated_or_refused_with_counts(tmp_path, encoder):
    long = {"messages": [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok " * 50}]}
    longer = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes " * 300}]}
    path = _write(tmp_path, [json.dumps(GOOD), json.dumps(long), json.dumps(longer)])
    conversations = read_conversations(path)
    with pytest.raises(
        TuneDataError, match=rf"2 of 3 conversations are longer than .* 128 tokens .*{path.name}:2.*refused"
    ):
        encoder.encode_all(conversations, 128, "refuse")
    encoded = encoder.encode_all(conversations, 128, "truncate")
    # `long` loses every assistant token to the cut (dropped); `longer` keeps the start of its answer
    assert (encoded.truncated, encoded.dropped, len(encoded.examples)) == (2, 1, 2)
    assert max(len(e.input_ids) for e in encoded.examples) == 128


def test_not_enough_memory_is_refused_before_the_run():
    from edgekit.exporters.loaded_model import ModelConfig

    config = ModelConfig("llama", 576, 30, 9, 3, 64, 1536, 49152, 8192, 1e5, 1e-5, True)
    estimate = estimate_memory(config, 134_515_008, rank=16, batch_size=8, tokens=128)
    assert 1000 < estimate.total_mib < 8000
    check_memory(estimate, available=estimate.total_mib + 1, batch_size=8, max_length=512)
    with pytest.raises(
        TuneMemoryError, match=r"estimated peak \d+ MiB .* but 1000 MiB are available; lower --batch-size"
    ):
        check_memory(estimate, available=1000, batch_size=8, max_length=512)

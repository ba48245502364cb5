"""Gemma 3's tokenizer.json, built from its GGUF vocabulary, reproduces SentencePiece's ids.

How the reference ids are derived (independently of the file under test):

1. ``[2, 818, 5279, 529, 7001, 563]`` for "The capital of France is" with BOS is
   a recorded reference, checked by its effect: with those ids the float model
   continues " the capital of the country of France.").
2. Every other expected id list is computed at test time by Google's
   ``sentencepiece`` library (its C++ BPE, ``bpe_model.cc``) running a model
   proto rebuilt from the same GGUF's tokens/scores/types (tests/architectures/
   spm_reference.py documents the mapping). The file under test is run by the
   Rust ``tokenizers`` library with merges derived in Python; the two
   implementations share nothing but the vocabulary.

Known divergence, not tested: a literal run of "▁" (U+2581) characters in the
input. SentencePiece escapes spaces to "▁" and then matches its user-defined
space-run pieces, so it maps "▁▁" to the "  " piece; llama.cpp (and this
tokenizer) match user-defined pieces on the raw text and do not. A single "▁"
is tested (next to no space).

The tokenizer under test is the one the export pipeline writes into a bundle
(``sources.tokenizer_build.tokenizer_from_gguf``), not a private copy.
"""

from __future__ import annotations

import random

import pytest

from tests.architectures.spm_reference import reference_processor

# Non-ASCII scripts, combining marks, emoji ZWJ sequences, private-use and rare
# characters (byte fallback), runs of spaces/tabs/newlines (Gemma's user-defined
# pieces), leading/trailing whitespace, HTML tags (user-defined), code, digits.
TEXTS = [
    "The capital of France is",
    "Hello  world\n\n",
    "  leading and trailing   ",
    " " * 31 + "x" + " " * 40,
    "a\t\tb\n \n\t \t",
    "\n" * 33 + "end",
    "line one\r\nline two\r\n",
    "Grüße aus Köln, ça va? Ñandú, Ærøskøbing, İstanbul",
    "日本語のテキストと中文文本，한국어 텍스트도 있습니다。",
    "Здравствуйте, мир! Γειά σου Κόσμε! مرحبا بالعالم שלום עולם नमस्ते दुनिया",
    "👩‍👩‍👧 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🤗🦩",
    "e\u0301 vs é, n\u0303, \u200bzero width\u200d, \ue000 private \U0010fffd",
    "<b>bold</b> and <div class='x'>tags</div><br/>",
    "def f(x):\n    return x ** 2  # square\n\tpass",
    "Prices: 1,250.75 € / 3/4 ≈ 0.75; 2024-11-29T07:00Z",
    "\u2581literal escape char,\u2581not next to a space",
    "",
    " ",
    "x" * 300,
]


@pytest.fixture(scope="module")
def gemma_tokenizer(gemma3_gguf_path, tmp_path_factory):
    from edgekit.exporters.sources.gguf_reader import open_gguf
    from edgekit.exporters.sources.tokenizer_build import tokenizer_from_gguf
    from edgekit.exporters.tokenizers import spm_vocab_from_gguf
    from tokenizers import Tokenizer

    reader = open_gguf(gemma3_gguf_path)
    assets = tokenizer_from_gguf(gemma3_gguf_path, reader, tmp_path_factory.mktemp("gemma-tok"))
    vocab = spm_vocab_from_gguf(reader)
    return Tokenizer.from_file(str(assets.tokenizer_json)), assets, reference_processor(vocab)


def test_recorded_reference_ids(gemma_tokenizer):
    tokenizer, assets, _ = gemma_tokenizer
    assert assets.add_bos and assets.bos_id == 2
    ids = [assets.bos_id] + tokenizer.encode("The capital of France is", add_special_tokens=False).ids
    assert ids == [2, 818, 5279, 529, 7001, 563]


def test_special_ids_come_from_gguf(gemma_tokenizer):
    tokenizer, assets, _ = gemma_tokenizer
    assert 1 in assets.eos_ids  # tokenizer.ggml.eos_token_id = <eos>
    assert tokenizer.id_to_token(1) == "<eos>"
    # The bundle's file must not add BOS itself (the runtime does, from the manifest).
    assert tokenizer.encode("x").ids == tokenizer.encode("x", add_special_tokens=False).ids


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_ids_match_sentencepiece(gemma_tokenizer, text):
    tokenizer, _, reference = gemma_tokenizer
    assert tokenizer.encode(text, add_special_tokens=False).ids == reference.encode(text)


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_decode_round_trips(gemma_tokenizer, text):
    tokenizer, _, _ = gemma_tokenizer
    decoded = tokenizer.decode(tokenizer.encode(text, add_special_tokens=False).ids, skip_special_tokens=False)
    # "▁" is SentencePiece's space: a literal one decodes to " " (sentencepiece's own decode does the same).
    assert decoded == text.replace("\u2581", " ")


def test_random_strings_match_sentencepiece(gemma_tokenizer):
    tokenizer, _, reference = gemma_tokenizer
    pool = list("abcdefghij ABC  \n\t\t.,;'\"éüßñ中文日本한국어🙂👍ä\u0301\u200d0123456789<>/b") + [
        "   ",
        "\n\n",
        "<b>",
        "</div>",
    ]
    rng = random.Random(8)
    texts = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 48))) for _ in range(600)]
    mismatches = [t for t in texts if tokenizer.encode(t, add_special_tokens=False).ids != reference.encode(t)]
    assert mismatches == []


def test_control_tokens_in_chat_markup(gemma_tokenizer):
    tokenizer, _, reference = gemma_tokenizer
    # sentencepiece never parses control text, so its ids are spliced: <start_of_turn>=105, <end_of_turn>=106.
    assert reference.piece_to_id("<start_of_turn>") == 105 and reference.piece_to_id("<end_of_turn>") == 106
    text = "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"
    expected = [
        105,
        *reference.encode("user\nWhat is 2+2?"),
        106,
        *reference.encode("\n"),
        105,
        *reference.encode("model\n"),
    ]
    assert tokenizer.encode(text, add_special_tokens=False).ids == expected

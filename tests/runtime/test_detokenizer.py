"""IncrementalDetokenizer: pieces concatenate to decode(all ids) and never split a UTF-8 character."""

from __future__ import annotations

import random

import pytest
from edgekit.runtime import Tokenizer
from edgekit.runtime.manifest import TokenizerInfo

from .toy_bundle import BOS, IM_END, write_tokenizer

TEXTS = ["plain ascii", "wörld ñ é", "emoji 😀👍🏽 mixed", "日本語のテキスト", "Ünïcödé\nnew line"]


@pytest.fixture(scope="module")
def byte_tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    write_tokenizer(path)
    return Tokenizer(path, TokenizerInfo(bos_id=BOS, add_bos=True, eos_ids=(IM_END,)))


@pytest.mark.parametrize("text", TEXTS)
def test_pieces_are_whole_characters(byte_tokenizer, text):
    ids = byte_tokenizer.encode(text, add_bos=False)
    assert ids == list(text.encode())  # byte tokenizer: id == byte
    detok = byte_tokenizer.detokenizer()
    pieces = [detok.add(i) for i in ids] + [detok.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
    # a character is emitted exactly when its last byte arrives
    assert [p for p in pieces if p] == list(text)


def test_random_byte_streams_match_full_decode(byte_tokenizer):
    rng = random.Random(0)
    for _ in range(50):
        ids = [rng.randrange(256) for _ in range(rng.randrange(1, 30))]
        detok = byte_tokenizer.detokenizer()
        pieces = [detok.add(i) for i in ids] + [detok.flush()]
        assert "".join(pieces) == byte_tokenizer.decode(ids)


def test_bos_rule(byte_tokenizer):
    assert byte_tokenizer.encode("a")[0] == BOS
    assert byte_tokenizer.encode("<bos>a") == [BOS, ord("a")]  # written BOS is not doubled
    assert byte_tokenizer.encode("a", add_bos=False) == [ord("a")]
    assert byte_tokenizer.encode("<|im_end|>", add_bos=False) == [IM_END]  # special tokens map to their ids


def test_unreadable_tokenizer(tmp_path):
    from edgekit.runtime import BundleError

    path = tmp_path / "tokenizer.json"
    path.write_text("{}")
    with pytest.raises(BundleError, match="cannot be read"):
        Tokenizer(path, TokenizerInfo())

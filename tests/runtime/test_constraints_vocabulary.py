"""llguidance's view of the vocabulary, built from token bytes (token_bytes.py), is the one it builds itself.

The reference is how constraints.py built it before: ``llguidance.LLTokenizer(tokenizer_json, n_vocab, eos_token)``,
llguidance's own reading of the file (toktrie_hf_tokenizers). For small tokenizers of each kind (byte-level BPE,
SentencePiece byte fallback, a prepended space) the two must agree on every token's bytes and specialness, on the
masks along forced and sampled paths of a JSON schema, a regex and a Lark grammar, and on tokenizing text. The real
SmolLM2 and Gemma 3 tokenizers get the same checks in tests/architectures/test_grammar_vocabulary_real.py (they need
the export stack, which a device does not have).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llguidance
import numpy as np
import pytest
from edgekit.runtime.constraints import Constraint, GrammarVocabulary
from edgekit.runtime.errors import RuntimeGenerationError
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"enum": ["Oslo", "Köln", "東京"]},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "n": {"type": "integer", "minimum": 0, "maximum": 40},
        "note": {"type": "string", "maxLength": 16},
        "tags": {"type": "array", "items": {"enum": ["old", "big"]}, "maxItems": 2},
    },
    "required": ["city", "code", "n", "note", "tags"],
    "additionalProperties": False,
}
ANSWER = '{"city":"Köln","code":"CGN","n":7,"note":"kalt, öl 😀","tags":["old"]}'
REGEX = r"(yes|no), because [a-zé ]{3,20}\."
TEXTS = ["Hello world", ANSWER, "  spaced\n\n\tout  ", "Grüße 日本語 😀", "yes, because café.", "<b>x</b>", "▁x"]


def _reference(path: Path, n_vocab: int, eos_ids: list[int]) -> llguidance.LLTokenizer:
    """The view as llguidance builds it from tokenizer.json (what constraints.py did before token_bytes.py)."""
    return llguidance.LLTokenizer(path.read_text(encoding="utf-8"), n_vocab=n_vocab, eos_token=eos_ids or None)


def _mask(matcher: llguidance.LLMatcher) -> np.ndarray:
    return np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")


def assert_same_tokens(old: llguidance.LLTokenizer, new: llguidance.LLTokenizer) -> None:
    assert (new.vocab_size, new.eos_tokens) == (old.vocab_size, old.eos_tokens)
    differ = [
        i
        for i in range(old.vocab_size)
        if old.decode_bytes([i]) != new.decode_bytes([i]) or old.is_special_token(i) != new.is_special_token(i)
    ]
    assert not differ, [(i, old.dbg_tokens([i]), new.dbg_tokens([i])) for i in differ[:8]]
    for text in TEXTS:
        assert new.tokenize_str(text) == old.tokenize_str(text), text
    broken = "é".encode()[:1] + b"x\xf0\x9f"  # invalid UTF-8: llguidance tokenizes those bytes greedily
    assert new.tokenize_bytes(broken) == old.tokenize_bytes(broken)


Choose = Callable[[int, np.ndarray], int]


def assert_same_masks(old: llguidance.LLTokenizer, new: llguidance.LLTokenizer, grammar: str, choose: Choose) -> int:
    """Walk one path (``choose`` picks the next token from the allowed mask); the masks must match at every step."""
    ours, theirs = llguidance.LLMatcher(new, grammar, log_level=0), llguidance.LLMatcher(old, grammar, log_level=0)
    for step in range(200):
        expected, got = _mask(theirs), _mask(ours)
        differ = np.flatnonzero(expected != got)
        assert not differ.size, (step, [(int(i), old.dbg_tokens([int(i)]), bool(expected[i])) for i in differ[:8]])
        assert ours.is_accepting() == theirs.is_accepting()
        if theirs.is_stopped():
            return step
        token = choose(step, expected)
        assert theirs.consume_token(token) and ours.consume_token(token), (step, old.dbg_tokens([token]))
    return step


def _forced(tokens: list[int], eos: int) -> Choose:
    return lambda step, mask: (tokens + [eos])[step]


def _sampled(seed: int) -> Choose:
    rng = random.Random(seed)
    return lambda step, mask: int(rng.choice(np.flatnonzero(mask)))


def _longest(lengths: np.ndarray) -> Choose:
    # the allowed token with the most bytes (the lowest id on ties): merged tokens that cross JSON syntax
    return lambda step, mask: int(np.argmax(np.where(mask[: len(lengths)] > 0, lengths, -1)))


def assert_same_view(old: llguidance.LLTokenizer, new: llguidance.LLTokenizer, eos: int) -> None:
    assert_same_tokens(old, new)
    walks = {
        Constraint.json_schema(SCHEMA): ANSWER,
        Constraint.regex(REGEX): "yes, because it is open.",
        Constraint.lark('start: "a" /[0-9]{1,4}/ " " | "<b>" TEXT "</b>"\nTEXT: /[a-zü ]+/'): "a2024 ",
    }
    lengths = np.array([len(old.decode_bytes([i])) for i in range(old.vocab_size)])
    for constraint, answer in walks.items():
        grammar = constraint.grammar()
        forced = old.tokenize_str(answer)
        assert assert_same_masks(old, new, grammar, _forced(forced, eos)) >= len(forced)  # the whole answer fit
        assert_same_masks(old, new, grammar, _longest(lengths))
        for seed in range(3):
            assert_same_masks(old, new, grammar, _sampled(seed))


# -- small tokenizers of each kind ----------------------------------------------------------------------
CORPUS = ["Hello world, the quick brown fox.", 'JSON: {"city": "Köln", "n": 7}', "yes, because café. 日本語 😀"] * 3


def _byte_level() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, initial_alphabet=alphabet, show_progress=False))
    tok.add_special_tokens([AddedToken("<|im_start|>", special=True), AddedToken("<|im_end|>", special=True)])
    # not special: "<b>" is one to llguidance anyway (written <...>); "\n\n" and "é" are not in the byte alphabet
    tok.add_tokens([AddedToken("<b>", special=False), AddedToken("\n\n", special=False), AddedToken("é")])
    return tok


def _byte_fallback(prepend: bool = False) -> Tokenizer:
    pieces = ["▁", "a", "b", "c", "ü", "ab", "▁a", "▁ab", "▁the", "t", "h", "e", "he", "th"]
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, **{f"<0x{b:02X}>": 3 + b for b in range(256)}}
    vocab.update({p: len(vocab) + i for i, p in enumerate(pieces)})
    merges = [("a", "b"), ("▁", "a"), ("▁a", "b"), ("t", "h"), ("h", "e"), ("▁", "th")]
    merges = [m for m in merges if "".join(m) in vocab]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    if prepend:  # Llama 2's tokenizer writes a "▁" before the text
        tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    # BOS when add_special_tokens=True, as Hugging Face's own Gemma tokenizer.json does; llguidance tokenizes without
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("<pad>", "<eos>", "<bos>", "<start_of_turn>")])
    tok.add_tokens([AddedToken("\n\n", normalized=False), AddedToken("<b>", normalized=False)])
    return tok


def _views(tmp_path: Path, tok: Tokenizer, pad: int, eos_ids: list[int], lend: bool) -> tuple[Any, Any]:
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    ours = GrammarVocabulary(path, vocab + pad, vocab, eos_ids, hf_tokenizer=tok if lend else None)
    return _reference(path, ours.n_vocab, eos_ids), ours.tokenizer()


@pytest.mark.parametrize("lend", [True, False], ids=["runtime-tokenizer", "parsed-here"])
@pytest.mark.parametrize("pad", [0, 7])
@pytest.mark.parametrize(
    "make",
    [_byte_level, _byte_fallback, lambda: _byte_fallback(prepend=True)],
    ids=["byte-level", "byte-fallback", "prepended-space"],
)
def test_small_tokenizers_give_llguidance_its_own_view(tmp_path, make, pad, lend):
    tok = make()
    eos = [tok.token_to_id("<|im_end|>") or tok.token_to_id("<eos>")]
    old, new = _views(tmp_path, tok, pad, eos, lend)
    assert_same_view(old, new, eos[0])


def test_without_eos_ids_the_eos_is_llguidances_guess(tmp_path):
    old, new = _views(tmp_path, _byte_fallback(), 0, [], lend=True)
    assert new.eos_token == old.eos_token == 1  # "<eos>"


def test_a_tokenizer_without_a_byte_decoder_is_one_line_error(tmp_path):
    tok = _byte_level()
    tok.decoder = decoders.WordPiece()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    with pytest.raises(RuntimeGenerationError) as info:
        GrammarVocabulary(path, 500, tok.get_vocab_size(), [0], hf_tokenizer=tok).tokenizer()
    assert "can't determine decoder type" in str(info.value) and "\n" not in str(info.value)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RuntimeGenerationError, match="re-export the bundle"):
        GrammarVocabulary(path, 500, 400, [0]).tokenizer()

"""The SentencePiece-BPE tokenizer.json builder on a tiny model trained here, read back from a GGUF.

Reference: a SentencePiece BPE model trained in memory with byte fallback,
user-defined and control pieces and ``add_dummy_prefix`` (Llama-2 style, the
case Gemma does not cover). Its vocabulary is written into a GGUF the way
llama.cpp's ``convert_hf_to_gguf.py`` does (user-defined "▁" turned into
spaces), read back with ``spm_vocab_from_gguf``, and the built tokenizer.json
must give the trained model's own ids. Known limit, not tested: with
``add_space_prefix`` a text that *starts* with a user-defined piece (or with a
space that the dummy "▁" turns into a "▁▁" piece) is split differently:
sentencepiece puts the dummy "▁" before the piece, here it is dropped. Llama 2
and Mistral vocabularies have no user-defined pieces; Gemma has no dummy prefix.
"""

from __future__ import annotations

import io
import json
import random

import pytest

SPACE = "\u2581"
LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world, hello there!  Two spaces.   Three.",
    "Grüße aus Köln und Düsseldorf",
    "<b>bold</b> text  with   spaces",
] * 40


@pytest.fixture(scope="module")
def trained():
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(LINES),
        model_writer=buf,
        model_type="bpe",
        vocab_size=360,
        byte_fallback=True,
        user_defined_symbols=["<b>", "</b>", SPACE * 2],
        control_symbols=["<start_of_turn>"],
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        character_coverage=1.0,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=buf.getvalue())


def _write_gguf(path, sp, *, tokenizer_model="llama", drop_scores_tail=False):
    import gguf

    writer = gguf.GGUFWriter(str(path), arch="llama")
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i)
        kind = 1
        if sp.is_unknown(i):
            kind = 2
        elif sp.is_control(i):
            kind = 3
        elif sp.is_byte(i):
            kind = 6
        elif piece in ("<b>", "</b>", SPACE * 2):
            kind = 4
            piece = piece.replace(SPACE, " ")  # llama.cpp: "pre-normalize user-defined spaces"
        tokens.append(piece)
        scores.append(sp.get_score(i))
        types.append(kind)
    writer.add_tokenizer_model(tokenizer_model)
    writer.add_token_list(tokens)
    writer.add_token_scores(scores[:-1] if drop_scores_tail else scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(sp.bos_id())
    writer.add_eos_token_id(sp.eos_id())
    writer.add_unk_token_id(sp.unk_id())
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def built(trained, tmp_path_factory):
    from edgekit.exporters.tokenizers import build_spm_bpe_tokenizer, spm_vocab_from_gguf
    from gguf import GGUFReader
    from tokenizers import Tokenizer

    path = _write_gguf(tmp_path_factory.mktemp("spm") / "tiny-spm.gguf", trained)
    vocab = spm_vocab_from_gguf(GGUFReader(path))
    return vocab, Tokenizer.from_str(json.dumps(build_spm_bpe_tokenizer(vocab, bos_post_processor=True)))


TEXTS = [
    "Hello world",
    "Hello  world <b>x</b> and   three",
    "The lazy fox. Köln!",
    "unseen chars: 日本語 🙂 ñ",
    "leading space",
    "trailing  ",
    "a\tb\nc",
]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_ids_match_trained_sentencepiece(trained, built, text):
    _, tokenizer = built
    assert tokenizer.encode(text, add_special_tokens=False).ids == trained.encode(text)


def test_random_strings_match_trained_sentencepiece(trained, built):
    _, tokenizer = built
    pool = list("abcdefghijklmnopqrstuvwxyz THEQK.,!üößñ日🙂\t") + ["  ", "   ", "<b>", "</b>", "Hello", "Köln"]
    rng = random.Random(3)
    # Start with a letter: see the module docstring for texts that start with a user-defined piece.
    texts = ["x" + "".join(rng.choice(pool) for _ in range(rng.randint(0, 30))) for _ in range(400)]
    assert [t for t in texts if tokenizer.encode(t, add_special_tokens=False).ids != trained.encode(t)] == []


def test_bos_post_processor_and_decode(trained, built):
    vocab, tokenizer = built
    assert vocab.add_space_prefix and vocab.add_bos
    ids = tokenizer.encode("Hello  world").ids
    assert ids == [trained.bos_id(), *trained.encode("Hello  world")]
    assert (
        tokenizer.decode(ids, skip_special_tokens=True)
        == trained.decode(trained.encode("Hello  world"))
        == "Hello  world"
    )


def test_control_piece_is_special(trained, built):
    _, tokenizer = built
    start = trained.piece_to_id("<start_of_turn>")
    ids = tokenizer.encode("<start_of_turn>Hello", add_special_tokens=False).ids
    assert ids[0] == start and tokenizer.decode(ids, skip_special_tokens=True) == "Hello"


def test_byte_level_gguf_is_refused(trained, tmp_path):
    from edgekit.exporters.tokenizers import spm_vocab_from_gguf
    from edgekit.runtime.errors import UnsupportedError
    from gguf import GGUFReader

    path = _write_gguf(tmp_path / "gpt2-style.gguf", trained, tokenizer_model="gpt2")
    with pytest.raises(UnsupportedError, match=r"tokenizer.ggml.model is 'gpt2', not 'llama'"):
        spm_vocab_from_gguf(GGUFReader(path))


def test_inconsistent_arrays_are_a_source_error(trained, tmp_path):
    from edgekit.exporters.tokenizers import spm_vocab_from_gguf
    from edgekit.runtime.errors import SourceError
    from gguf import GGUFReader

    path = _write_gguf(tmp_path / "damaged.gguf", trained, drop_scores_tail=True)
    with pytest.raises(SourceError, match=r"tokenizer arrays disagree in length \(tokens=360, scores=359"):
        spm_vocab_from_gguf(GGUFReader(path))

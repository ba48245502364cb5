"""Small byte-level BPE tokenizers built with huggingface `tokenizers`, covering what the default model's file does
not: Split/Digits pre-tokenizers with every delimiter behaviour, normalizers, ignore_merges, legacy "a b" merges,
and added tokens with lstrip/rstrip/single_word/normalized. Each variant is trained on the vector corpus in well
under a second; its reference ids come from `tokenizers` itself, and the Java core must reproduce them.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.android.make_tokenizer_vectors import CORPUS

# Text for the added-token rules: spaces around <mask>/<sep> (lstrip/rstrip), "hello" as a word and inside one
# (single_word), a normalized added token, and digits next to letters.
EXTRA_TEXTS = [
    "I saw a <mask> today and a   <mask>   again",
    "first<sep>   second <sep>third",
    "hello there, othello said hellos to hello",
    "Some [NORM] token and [norm] lowercased",
    "room 101 has 2024 books and 7 chairs",
    "well-known, state-of-the-art, x - y",
    "MiXeD CaSe WITH ÉCOLE and ﬁ ligature ①",
]

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _train(pre_tokenizer, normalizer, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator([t for t in CORPUS + EXTRA_TEXTS if t] * 2, trainer=trainer)
    return tok


def _added(tok) -> None:
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken("<mask>", lstrip=True), AddedToken("<sep>", rstrip=True)])
    tok.add_tokens([AddedToken("hello", single_word=True), AddedToken("[norm]", normalized=True)])


def build_variants(folder: Path) -> list[tuple[str, Path]]:
    """Writes each variant's tokenizer.json into ``folder``; returns (name, path) pairs."""
    from tokenizers import Regex, normalizers, pre_tokenizers

    made = []
    variants = {
        "split-llama3-nfc": (
            pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Split(Regex(LLAMA3_SPLIT), "isolated"),
                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
                ]
            ),
            normalizers.NFC(),
            700,
            {},
        ),
        "digits-prefix-nfkc-lower-legacy-merges": (
            pre_tokenizers.Sequence(
                [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=True)]
            ),
            normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
            500,
            {"legacy_merges": True, "ignore_merges": True},
        ),
        "split-behaviours": (
            pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Split(Regex(r"\s+"), "merged_with_previous"),
                    pre_tokenizers.Split("-", "merged_with_next"),
                    pre_tokenizers.Split(Regex(r"[,.!?]"), "contiguous"),
                    pre_tokenizers.Split(Regex(r"_"), "removed"),
                    pre_tokenizers.Split(Regex(r"[a-z]+"), "merged_with_previous", invert=True),
                    pre_tokenizers.Digits(individual_digits=False),
                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
                ]
            ),
            None,
            400,
            {},
        ),
    }
    for name, (pre, norm, vocab_size, tweaks) in variants.items():
        tok = _train(pre, norm, vocab_size)
        _added(tok)
        data = json.loads(tok.to_str())
        if tweaks.get("ignore_merges"):
            data["model"]["ignore_merges"] = True
        if tweaks.get("legacy_merges"):
            data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]
        path = folder / f"{name}.tokenizer.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        made.append((name, path))
    return made


def reference_cases(tokenizer_json: Path) -> list[dict]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    cases = []
    for text in CORPUS + EXTRA_TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append(
            {
                "text": text,
                "ids": ids,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            }
        )
    return cases

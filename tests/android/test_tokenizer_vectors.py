"""tests/vectors/tokenizer_vectors.json must be what huggingface tokenizers gives today for the default model.

The Java core and the web demo are checked against this file; if the exporter's tokenizer.json or the tokenizers
library changes, this test fails and says how to regenerate the vectors.
"""

from __future__ import annotations

import json

from tests.android.default_tokenizer import default_tokenizer_json
from tests.android.make_tokenizer_vectors import CORPUS, VECTORS, make_vectors


def test_committed_vectors_match_tokenizers():
    committed = json.loads(VECTORS.read_text(encoding="utf-8"))
    fresh = make_vectors(default_tokenizer_json())
    assert [c["text"] for c in committed["cases"]] == CORPUS, "corpus changed: regenerate the vectors"
    stale = [c["text"] for c, f in zip(committed["cases"], fresh["cases"]) if c != f]
    assert not stale, (
        f"{len(stale)} committed tokenizer vectors differ from tokenizers {fresh['tokenizers_version']} "
        f"(first: {stale[0]!r}); regenerate: .venv/bin/python tests/android/make_tokenizer_vectors.py"
    )
    assert committed["decode_cases"] == fresh["decode_cases"]
    assert committed["tokenizer_sha256"] == fresh["tokenizer_sha256"]


def test_vectors_cover_the_hard_cases():
    committed = json.loads(VECTORS.read_text(encoding="utf-8"))
    cases = {c["text"]: c for c in committed["cases"]}
    # a special token written in the text is one id; the chat prompt holds several
    assert len(cases["<|endoftext|>"]["ids"]) == 1
    # a 4-byte emoji split over byte tokens decodes to U+FFFD when cut short (what streaming must hold back)
    assert committed["decode_cases"][-1]["decoded"] == "\ufffd"
    assert any(len(c["ids"]) > 40 for c in committed["cases"])

"""llguidance's view of the real SmolLM2 and Gemma 3 vocabularies, built from token bytes, is the one it builds
itself from tokenizer.json (the checks of tests/runtime/test_constraints_vocabulary.py on the real tokenizers).

Here rather than in tests/runtime: the SmolLM2 bundle is exported on the spot and Gemma 3's tokenizer is built from
its GGUF, both with the export stack, which the emulated device's base install does not have.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from edgekit.runtime.constraints import GrammarVocabulary
from tokenizers import Tokenizer

from tests.fixtures.require import import_or_skip_or_fail, skip_or_fail
from tests.runtime.test_constraints_vocabulary import _reference, assert_same_view


@pytest.fixture(scope="module")
def smollm2(default_bundle):
    from edgekit.runtime import load

    model = load(default_bundle("gguf"))
    yield model.grammar_vocabulary
    model.close()


@pytest.mark.parametrize("lend", [True, False], ids=["runtime-tokenizer", "the-models-own"])
def test_smollm2_vocabulary_is_llguidances_own(smollm2, lend):
    if lend:
        hf = Tokenizer.from_file(str(smollm2.tokenizer_json))
        args = (smollm2.tokenizer_json, smollm2.width, smollm2.n_vocab, smollm2.eos_ids)
        ours = GrammarVocabulary(*args, hf_tokenizer=hf)
    else:  # the view the loaded model builds for its constrained calls
        ours = smollm2
    old = _reference(smollm2.tokenizer_json, smollm2.n_vocab, smollm2.eos_ids)
    assert_same_view(old, ours.tokenizer(), smollm2.eos_ids[0])


@pytest.fixture(scope="module")
def gemma3_tokenizer() -> tuple[Path, list[int]]:
    """Gemma 3's tokenizer.json as the exporter writes it from the GGUF (262k tokens), cached like the bundles."""
    import_or_skip_or_fail("gguf", "pip install -e '.[export]' (scripts/setup.sh installs it)")
    from tests.architectures.conftest import GEMMA3_GGUF
    from tests.fixtures.bundles import CACHE_ROOT, build_cached, exporter_fingerprint

    if not GEMMA3_GGUF.is_file():
        skip_or_fail(f"{GEMMA3_GGUF} is missing", "bash scripts/setup-extra-models.sh")

    def build(folder: Path) -> None:
        from edgekit.exporters.sources.gguf_reader import open_gguf
        from edgekit.exporters.sources.tokenizer_build import tokenizer_from_gguf

        folder.mkdir(parents=True)
        with tempfile.TemporaryDirectory() as scratch:
            assets = tokenizer_from_gguf(GEMMA3_GGUF, open_gguf(GEMMA3_GGUF), Path(scratch))
            shutil.copy(assets.tokenizer_json, folder / "tokenizer.json")
        (folder / "eos.json").write_text(json.dumps(list(assets.eos_ids)), encoding="utf-8")

    key = f"gemma3-tokenizer-{GEMMA3_GGUF.stat().st_size}-{exporter_fingerprint()}"
    folder = build_cached(CACHE_ROOT / "test-models" / key, build)
    return folder / "tokenizer.json", json.loads((folder / "eos.json").read_text(encoding="utf-8"))


def test_gemma3_vocabulary_is_llguidances_own(gemma3_tokenizer):
    path, eos_ids = gemma3_tokenizer
    hf = Tokenizer.from_file(str(path))
    vocab = hf.get_vocab_size(with_added_tokens=True)
    old = _reference(path, vocab, eos_ids)
    new = GrammarVocabulary(path, vocab, vocab, eos_ids, hf_tokenizer=hf).tokenizer()
    assert_same_view(old, new, eos_ids[0])

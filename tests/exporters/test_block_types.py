"""GGML block types as a registry (exporters/edgekit/exporters/quant/block_types.py): complete and right-sized.

Every quantized type of every shipped model must be registered (or the ``gguf`` recipe could not repack it), every
type the code names as repackable must be registered, and each registered record must agree with gguf-py on the
block size and, on random blocks, on the dequantized weight.
"""

from __future__ import annotations

import numpy as np
import pytest
from edgekit.exporters.loaded_model import GGUFTensor
from edgekit.exporters.onnx.builder import FLOAT_GGUF_TYPES
from edgekit.exporters.quant import (
    BLOCK_TYPES,
    REPACKABLE_TYPES,
    block_type,
    dequantize_gguf,
    repack_error,
    repack_gguf,
)
from edgekit.exporters.quant.gguf_blocks import BLOCK_BYTES
from edgekit.exporters.quant.gguf_kquant_blocks import KQUANT_BLOCK_BYTES, KQUANT_TYPES
from edgekit.runtime.errors import UnknownNameError

from tests.fixtures.require import skip_or_fail

# The types docs/export.md and docs/architecture.md say the gguf recipe repacks exactly.
DOCUMENTED_TYPES = {"Q4_0", "Q4_1", "Q8_0", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"}
# Byte offsets of each type's fp16 fields (ggml-common.h): random bytes elsewhere are valid blocks.
F16_FIELDS = {
    "Q4_0": (0,),
    "Q4_1": (0, 2),
    "Q8_0": (0,),
    "Q5_0": (0,),
    "Q5_1": (0, 2),
    "Q4_K": (0, 2),
    "Q5_K": (0, 2),
    "Q6_K": (208,),
}


def _random_blocks(name: str, rows: int = 8, blocks_per_row: int = 2, seed: int = 0) -> GGUFTensor:
    block = block_type(name)
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (rows * blocks_per_row, block.bytes_per_block), dtype=np.uint8)
    for offset in F16_FIELDS[name]:
        raw[:, offset : offset + 2] = (
            rng.uniform(1e-4, 3e-2, raw.shape[0]).astype(np.float16).view(np.uint8).reshape(-1, 2)
        )
    cols = blocks_per_row * block.weights_per_block
    return GGUFTensor("w", f"blk.0.{name}", name, (rows, cols), raw.reshape(rows, -1))


def test_the_types_the_code_and_docs_name_are_registered():
    registered = set(BLOCK_TYPES.names())
    assert REPACKABLE_TYPES == registered
    assert set(BLOCK_BYTES) | KQUANT_TYPES == registered
    assert DOCUMENTED_TYPES <= registered
    assert set(F16_FIELDS) == registered, "add the new type's fp16 field offsets to F16_FIELDS"
    assert not registered & FLOAT_GGUF_TYPES


@pytest.mark.parametrize("name", BLOCK_TYPES.names())
def test_each_registered_type_is_a_ggml_type_of_the_size_gguf_py_reports(name):
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    block = block_type(name)
    assert block.name == name
    assert GGML_QUANT_SIZES[GGMLQuantizationType[name]] == (block.weights_per_block, block.bytes_per_block)
    assert name not in KQUANT_BLOCK_BYTES or KQUANT_BLOCK_BYTES[name] == (
        block.bytes_per_block,
        block.weights_per_block,
    )
    assert block.bits in (4, 8) and block.weights_per_block % block.block_size == 0
    assert block.code_shift in (0, 1 << (block.bits - 1))


@pytest.mark.parametrize("name", BLOCK_TYPES.names())
def test_each_registered_decoder_matches_gguf_py_and_repacks_exactly(name):
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    tensor = _random_blocks(name)
    expected = dequantize(tensor.raw, GGMLQuantizationType[name]).reshape(tensor.shape).astype(np.float64)
    got = dequantize_gguf(tensor)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * np.abs(expected).max())
    qm = repack_gguf(tensor)
    assert qm.bits == block_type(name).bits and int(qm.q.max()) < (1 << qm.bits)
    assert repack_error(tensor, qm) <= 1e-6 * np.abs(got).max()


def test_an_unknown_type_lists_the_known_ones():
    with pytest.raises(UnknownNameError) as err:
        block_type("IQ2_XXS")
    assert (
        str(err.value) == f"unknown GGML block type 'IQ2_XXS'; known GGML block types: {', '.join(BLOCK_TYPES.names())}"
    )


def _shipped_gguf_models():
    from edgekit.exporters.sources.builtin import BUILTIN_MODELS

    return BUILTIN_MODELS.names()


@pytest.mark.parametrize("model", _shipped_gguf_models())
def test_every_ggml_type_of_a_shipped_model_is_registered(model):
    from edgekit.exporters.sources.builtin import BUILTIN_MODELS
    from edgekit.runtime.errors import SourceError
    from gguf import GGUFReader

    try:
        path = BUILTIN_MODELS.get(model).path()
    except SourceError as exc:
        skip_or_fail(f"shipped model {model!r} is absent ({exc})", "bash scripts/setup.sh")
    types = {tensor.tensor_type.name for tensor in GGUFReader(str(path)).tensors}
    quantized = types - FLOAT_GGUF_TYPES
    assert quantized, f"{model}: no quantized tensors found in {path}"
    missing = sorted(quantized - set(BLOCK_TYPES.names()))
    assert not missing, f"{model} has GGML types {missing} with no registered block decoder"

"""Random but valid GGUF k-quant blocks (gguf-py has no k-quant quantizer).

Every bit pattern of the code and 6/8-bit scale bytes is a valid block, so
random bytes reach every code and sub-block scale; only the fp16 super-block
fields (ggml-common.h: ``d``, ``dmin``) are set to finite values of a chosen size.
"""

from __future__ import annotations

import numpy as np
from edgekit.exporters.loaded_model import GGUFTensor
from edgekit.exporters.quant.gguf_kquant_blocks import KQUANT_BLOCK_BYTES

# Byte offsets of each type's fp16 fields.
F16_FIELDS = {"Q5_0": (0,), "Q5_1": (0, 2), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}


def random_kquant(
    ggml_type: str,
    rows: int,
    cols: int,
    seed: int = 0,
    d_range=(1e-4, 3e-2),
    name: str = "w",
    gguf_name: str | None = None,
) -> GGUFTensor:
    nbytes, per = KQUANT_BLOCK_BYTES[ggml_type]
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (rows * cols // per, nbytes), dtype=np.uint8)
    for offset in F16_FIELDS[ggml_type]:
        field = rng.uniform(*d_range, blocks.shape[0]).astype(np.float16)
        blocks[:, offset : offset + 2] = field.view(np.uint8).reshape(-1, 2)
    return GGUFTensor(
        name=name,
        gguf_name=gguf_name or f"blk.0.{ggml_type}",
        ggml_type=ggml_type,
        shape=(rows, cols),
        raw=blocks.reshape(rows, -1),
    )

"""GGML quantized block types, registered by name with their decoder (``BLOCK_TYPES``).

Every block type the exact ``gguf`` repack handles is ``w = scale * code + offset`` per sub-block with small
integer codes (ggml-quants.c), so one record per type says how to read its blocks and how its codes sit in a
MatMulNBits of 4 or 8 bits; decoding, dequantizing and repacking are written once here. The types register
themselves where their bit layouts are documented: ``gguf_blocks.py`` (Q4_0, Q4_1, Q8_0) and ``gguf_kquant_blocks.py``
(Q5_0, Q5_1, Q4_K, Q5_K, Q6_K); the package ``__init__`` imports both. An unknown type name raises
``UnknownNameError`` listing the registered ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from edgekit.runtime.registry import Registry

from ..loaded_model import GGUFTensor
from .blocks import QuantizedMatrix

__all__ = [
    "BlockType",
    "BLOCK_TYPES",
    "register_block_type",
    "block_type",
    "decode_blocks",
    "dequantize_blocks",
    "repack_blocks",
    "f16_field",
]

# blocks uint8 [n, bytes_per_block] -> (codes int16 [n, n_sub, sub], scale float64 [n, n_sub],
# offset float64 [n, n_sub] or None), with w = scale * codes + offset exactly.
Decoder = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, "np.ndarray | None"]]


@dataclass(frozen=True)
class BlockType:
    """One GGML block type: its size (gguf-py ``GGML_QUANT_SIZES``), its decoder and its exact MatMulNBits form."""

    name: str  # GGML type name, as gguf-py's GGMLQuantizationType spells it
    weights_per_block: int
    bytes_per_block: int
    decode: Decoder
    bits: int  # MatMulNBits width that holds every code exactly (4 or 8)
    block_size: int  # MatMulNBits block: the type's sub-block (one scale and offset each)
    # Added to a code to give MatMulNBits' unsigned code: the default zero point (8 or 128) where the shifted
    # codes still fit the width, so only an offset needs a correction; 0 for 4-bit codes that already fill 0..15
    # (Q4_1, Q4_K), which then carry the zero point in their correction.
    code_shift: int


BLOCK_TYPES: Registry[BlockType] = Registry("GGML block type")


def register_block_type(block: BlockType) -> BlockType:
    return BLOCK_TYPES.add(block.name, block)


def block_type(name: str) -> BlockType:
    """The registered block type ``name``; UnknownNameError listing the known ones otherwise."""
    return BLOCK_TYPES.get(name)


def f16_field(blocks: np.ndarray) -> np.ndarray:
    """Two bytes per block as fp16, returned as float64 [n] (float64 holds every fp16 exactly)."""
    return np.ascontiguousarray(blocks).view(np.float16)[:, 0].astype(np.float64)


def _blocks(tensor: GGUFTensor, block: BlockType) -> np.ndarray:
    rows, cols = tensor.shape
    per, nbytes = block.weights_per_block, block.bytes_per_block
    if cols % per:
        raise ValueError(
            f"{tensor.gguf_name}: {cols} columns is not a whole number of {per}-weight {tensor.ggml_type} blocks"
        )
    raw = np.ascontiguousarray(np.asarray(tensor.raw, dtype=np.uint8)).reshape(rows, -1)
    if raw.shape[1] != cols // per * nbytes:
        raise ValueError(
            f"{tensor.gguf_name}: {raw.shape[1]} bytes per row, {tensor.ggml_type} needs {cols // per * nbytes}"
        )
    return raw.reshape(rows * (cols // per), nbytes)


def decode_blocks(tensor: GGUFTensor) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(codes int16 [N, n_sub, sub], scale float64 [N, n_sub], offset float64 [N, n_sub] or None)

    with ``w = scale * codes + offset`` exactly, for any registered block type.
    """
    block = block_type(tensor.ggml_type)
    codes, scale, offset = block.decode(_blocks(tensor, block))
    rows = tensor.shape[0]
    sub = codes.shape[-1]
    return (
        codes.reshape(rows, -1, sub),
        scale.reshape(rows, -1),
        None if offset is None else offset.reshape(rows, -1),
    )


def dequantize_blocks(tensor: GGUFTensor, dtype=np.float64) -> np.ndarray:
    """The weight exactly as ggml defines it, [N, K] (float64 holds every value exactly)."""
    codes, scale, offset = decode_blocks(tensor)
    w = scale.astype(dtype)[..., None] * codes.astype(dtype)
    if offset is not None:
        w = w + offset.astype(dtype)[..., None]
    return w.reshape(tensor.shape[0], -1)


def repack_blocks(tensor: GGUFTensor) -> QuantizedMatrix:
    """The tensor as a symmetric MatMulNBits matrix, with a per-block correction where it has offsets.

    MatMulNBits computes ``scale * (u - z)`` with the default zero point ``z`` (8 or 128). With
    ``u = code + shift``: ``scale * code + offset = scale * (u - z) + (offset + (z - shift) * scale)``, so a
    type shifted by the zero point needs a correction only for its offset, and one with codes 0..15 (Q4_1,
    Q4_K: shift 0) gets ``offset + z * scale``, the graph's ``blocksum(x) @ correction.T``.
    """
    block = block_type(tensor.ggml_type)
    codes, scale, offset = decode_blocks(tensor)
    zero_point = 1 << (block.bits - 1)
    shift = block.code_shift
    if shift == zero_point:
        correction = offset
    else:
        correction = (0.0 if offset is None else offset) + float(zero_point - shift) * scale
    return QuantizedMatrix(
        bits=block.bits,
        block_size=block.block_size,
        k=tensor.shape[1],
        q=(codes + shift).astype(np.uint8),
        scales=scale.astype(np.float32),
        zero_points=None,
        correction=None if correction is None else correction.astype(np.float32),
    )

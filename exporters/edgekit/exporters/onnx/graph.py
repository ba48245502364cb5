"""A small ONNX graph writer that streams initializers straight into ``model.onnx.data``.

Why not build a ModelProto with embedded tensors and let ``onnx.save`` split
them out: that holds every weight twice in memory (numpy + protobuf) and
serializes it twice. Writing each initializer to the external data file as it
is created keeps peak memory at one copy, never meets protobuf's 2 GB limit,
and page-aligns every tensor so onnxruntime can memory-map it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["GraphWriter", "MS_DOMAIN", "OPSET", "MS_OPSET"]

MS_DOMAIN = "com.microsoft"
OPSET = 21  # ai.onnx opset (onnxruntime 1.20+ implements it)
MS_OPSET = 1
_ALIGN = 4096  # page alignment for memory-mapped external data
_INLINE_BYTES = 1024  # smaller tensors (shape constants, norms of tiny models) stay in model.onnx


class GraphWriter:
    """Collects nodes and value infos; writes initializers to an external data file on the fly."""

    def __init__(self, data_path: Path):
        self.data_path = Path(data_path)
        self._data: BinaryIO = open(self.data_path, "wb")
        self._offset = 0
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()
        self._consts: dict[tuple, str] = {}
        self._counter = 0

    # -- names ----------------------------------------------------------------
    def fresh(self, base: str) -> str:
        self._counter += 1
        return f"{base}_{self._counter}"

    # -- tensors ----------------------------------------------------------------
    def initializer(self, name: str, array: np.ndarray) -> str:
        if name in self._names:
            raise ValueError(f"initializer {name!r} defined twice")
        self._names.add(name)
        array = np.ascontiguousarray(array)
        if array.nbytes < _INLINE_BYTES:
            self.initializers.append(numpy_helper.from_array(array, name))
            return name
        pad = (-self._offset) % _ALIGN
        if pad:
            self._data.write(b"\0" * pad)
            self._offset += pad
        self._data.write(array.tobytes())
        tensor = TensorProto()
        tensor.name = name
        tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        tensor.dims.extend(array.shape)
        for key, value in (
            ("location", self.data_path.name),
            ("offset", str(self._offset)),
            ("length", str(array.nbytes)),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        tensor.data_location = TensorProto.EXTERNAL
        self._offset += array.nbytes
        self.initializers.append(tensor)
        return name

    def shared(self, name: str, make) -> str:
        """The initializer ``name``, created by ``make()`` on first use (one tensor, several consumers)."""
        if name not in self._names:
            self.initializer(name, make())
        return name

    def const_i64(self, values: list[int] | int, scalar: bool = False) -> str:
        key = ("i64", scalar, tuple(values) if isinstance(values, list) else values)
        if key not in self._consts:
            arr = np.array(values, dtype=np.int64)
            if not scalar:
                arr = arr.reshape(-1)
            self._consts[key] = self.initializer(self.fresh("const_i64"), arr)
        return self._consts[key]

    def const_f32(self, value: float) -> str:
        key = ("f32", float(value))
        if key not in self._consts:
            self._consts[key] = self.initializer(self.fresh("const_f32"), np.array(value, dtype=np.float32))
        return self._consts[key]

    # -- nodes ----------------------------------------------------------------
    def node(
        self,
        op: str,
        inputs: list[str],
        outputs: int | list[str] = 1,
        domain: str = "",
        name: str | None = None,
        **attrs: Any,
    ):
        """Add a node; returns its output name (or the list when several)."""
        base = name or op
        if isinstance(outputs, int):
            outputs = [
                self.fresh(f"{base}/out{i}") if outputs > 1 else self.fresh(f"{base}/out") for i in range(outputs)
            ]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.fresh(base), domain=domain or None, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def add_input(self, name: str, elem_type: int, shape: list) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def add_output(self, name: str, elem_type: int, shape: list) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    # -- output -------------------------------------------------------------------
    def save(
        self, model_path: Path, graph_name: str, doc: str = "", metadata: dict[str, str] | None = None
    ) -> onnx.ModelProto:
        self._data.close()
        graph = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, MS_OPSET)],
            producer_name="edgekit",
            doc_string=doc,
        )
        model.ir_version = 10
        for key, value in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        with open(model_path, "wb") as handle:
            handle.write(model.SerializeToString())
        return model

    def close(self) -> None:
        if not self._data.closed:
            self._data.close()

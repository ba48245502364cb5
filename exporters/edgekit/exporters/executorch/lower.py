"""torch.export → XNNPACK lowering → .pte bytes, the three long stages of the target.

Follows ExecuTorch's LLM export (``extension/llm/export/builder.py``):
strict ``torch.export`` with a dynamic token dimension (ExecuTorch caps it at
``max_seq_len - 1`` because of an export limitation; here the bound is
``max_seq_len`` itself, checked by the tests) and a static ``input_pos`` of length 1, ``run_decompositions({})``
to unwrap torchao's tensor subclasses, ``to_edge_transform_and_lower`` with
the ``XnnpackPartitioner`` and the constant methods the C++ runner reads,
then ``to_executorch`` with quant fusion (dequantize + embedding →
``embedding_byte``) and ``alloc_graph_input=False`` (inputs are fed, not
copied into the planned arena).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

__all__ = ["export_decoder", "lower_decoder", "serialize_program"]


def _quiet():
    """torch.export and the custom ops warn about deprecations on every call; library code stays quiet."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", UserWarning)
    return ctx


def export_decoder(module: nn.Module, max_seq_len: int):
    """Trace ``forward(tokens [1, S], input_pos [1])`` for any 1 ≤ S ≤ max_seq_len."""
    from torch.export import Dim, export

    example = (torch.zeros((1, 2), dtype=torch.long), torch.zeros((1,), dtype=torch.long))
    seq = Dim("seq_len", min=1, max=max_seq_len)
    ctx = _quiet()
    try:
        with torch.no_grad():
            program = export(module, example, dynamic_shapes=({1: seq}, {0: 1}), strict=True)
            return program.run_decompositions({})
    finally:
        ctx.__exit__(None, None, None)


def lower_decoder(exported: Any, constant_methods: dict[str, Any]):
    """Partition to XNNPACK and attach the constant methods; returns the EdgeProgramManager.

    ``exported``: one ExportedProgram (the ``forward`` method) or a mapping of method name to ExportedProgram,
    lowered into one program (``to_edge_transform_and_lower`` takes either).
    """
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

    ctx = _quiet()
    try:
        return to_edge_transform_and_lower(
            exported,
            partitioner=[XnnpackPartitioner()],
            compile_config=EdgeCompileConfig(_check_ir_validity=False, _skip_dim_order=True),
            constant_methods=constant_methods,
        )
    finally:
        ctx.__exit__(None, None, None)


def serialize_program(edge: Any) -> tuple[bytes, dict[str, Any]]:
    """Emit the ExecuTorch program; returns the .pte bytes and a few facts about the graph."""
    from executorch.exir import ExecutorchBackendConfig
    from executorch.exir.passes import MemoryPlanningPass
    from executorch.exir.passes.sym_shape_eval_pass import ConstraintBasedSymShapeEvalPass

    ctx = _quiet()
    try:
        program = edge.to_executorch(
            ExecutorchBackendConfig(
                extract_delegate_segments=True,
                do_quant_fusion_and_const_prop=True,
                memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False),
                sym_shape_eval_pass=ConstraintBasedSymShapeEvalPass(),
            )
        )
        code = program.exported_program("forward").graph_module.code
    finally:
        ctx.__exit__(None, None, None)
    # The facts describe `forward`, the method the C++ runner runs (a second method plans its own arena).
    plan = next(p for p in program._emitter_output.program.execution_plan if p.name == "forward")
    facts = {
        "delegate_calls": code.count("executorch_call_delegate("),
        "planned_activation_bytes": int(sum(plan.non_const_buffer_sizes)),
    }
    return bytes(program.buffer), facts

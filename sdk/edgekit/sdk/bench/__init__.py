"""``edgekit bench``: speed, memory and quality of the runtime and of its peers on the same weights.

Each engine runs in its own subprocess (``worker.py``) so load time, cold start
and peak RSS are measured per engine, in its default configuration plus
labelled setting variants (``engines.py``: a registry of peers by name). The
peers (onnxruntime-genai's own generator, llama.cpp through
llama-cpp-python, ExecuTorch runners) are imported only inside their
subprocess and skipped with the reason and the fix when absent. Quality is
teacher-forced agreement and KL against the float model (``quality.py``);
the memory-bound limit is bandwidth ÷ weight bytes per token
(``roofline.py``). A benchmark prints tables; nothing here asserts a speed.
"""

from .engines import EDGEKIT, PEERS, Engine, Variant
from .records import BenchConfig, BenchReport, EngineResult
from .report import TARGETS, check_targets, format_report, format_table, write_markdown
from .runner import resolve_peers, run_bench

__all__ = [
    "BenchConfig",
    "BenchReport",
    "EngineResult",
    "Engine",
    "Variant",
    "EDGEKIT",
    "PEERS",
    "TARGETS",
    "check_targets",
    "format_report",
    "format_table",
    "write_markdown",
    "resolve_peers",
    "run_bench",
]

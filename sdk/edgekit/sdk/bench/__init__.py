"""``edgekit bench``: speed and memory of the runtime, and of its peers on the same weights.

Each engine runs in its own subprocess (``worker.py``) so load time, cold start
and peak RSS are measured per engine; the peers (onnxruntime-genai's own
generator, llama.cpp through llama-cpp-python) are imported only inside their
subprocess and skipped with a message when absent. A benchmark prints
tables; nothing here asserts a speed.
"""

from .runner import BenchConfig, EngineResult, run_bench

__all__ = ["BenchConfig", "EngineResult", "run_bench"]

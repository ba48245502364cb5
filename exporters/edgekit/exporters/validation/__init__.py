"""Helpers of ``edgekit.exporters.validate``: the validation text, the metrics, and the runtime-side runner.

``runner`` is executed in a child process that imports only numpy, onnxruntime
and edgekit.runtime (never torch), so its peak RSS is the memory the runtime
needs to run the bundle.
"""

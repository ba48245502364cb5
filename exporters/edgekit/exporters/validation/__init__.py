"""Validation of an exported bundle against the float reference.

- ``quality``: the settings, the result, ``validate_bundle`` (the float reference runs here, in the exporting
  process) and the quality gate ``check_quality``;
- ``runner``: executed in a child process that imports only numpy, onnxruntime and edgekit.runtime (never
  torch), so its peak RSS is the memory the runtime needs to run the bundle;
- ``metrics``: the next-token metrics both sides share; ``text``: the validation text and the golden prompt.

Nothing is imported here, so the child process pays for none of it.
"""

"""edgekit.runtime: the lean on-device runtime (numpy + onnxruntime + tokenizers; never torch)."""

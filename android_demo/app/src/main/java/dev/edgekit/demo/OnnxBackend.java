package dev.edgekit.demo;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.edgekit.core.GenerationException;
import dev.edgekit.core.bundle.BundleManifest;
import dev.edgekit.core.generate.Backend;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The edgekit ONNX decoder graph on onnxruntime-android, implementing the core's Backend seam. Graph I/O is the
 * bundle's OnnxGraphSpec (runtime/edgekit/runtime/manifest.py): input_ids [1,S], attention_mask [1,past+S] of ones,
 * logits_to_keep [1], past/present KV of shape [1, kv_heads, max_context, head_dim].
 *
 * The KV cache is the shared-buffer mode of the Python runtime (backends/onnx.py): one direct buffer per layer and
 * key/value, bound both as the past input and as the pinned present output, so GroupQueryAttention writes the new
 * positions in place and nothing is copied per token. Uses only ai.onnxruntime and the core (no android.*), so
 * tests/android/test_android_app.py compiles it on the host against onnxruntime's real Java API.
 */
public final class OnnxBackend implements Backend {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final BundleManifest.OnnxGraph graph;
    private final int maxContext;
    private final OnnxTensor[] keys;
    private final OnnxTensor[] values;
    private int length;
    private float[] lastHidden; // the final hidden state behind the latest forward's logits (null: no such output)

    /** Loads {@code modelPath} (its external data file must sit beside it) with {@code threads} intra-op threads. */
    public OnnxBackend(String modelPath, BundleManifest manifest, int threads) throws OrtException {
        this.env = OrtEnvironment.getEnvironment();
        this.graph = manifest.onnxGraph();
        this.maxContext = manifest.maxContext;
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(threads);
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        // spinning threads collapse throughput on a busy device (onnxruntime, busy 2-core box: 154 -> 57 tok/s); the runtime turns it off
        options.addConfigEntry("session.intra_op.allow_spinning", "0");
        this.session = env.createSession(modelPath, options);
        int layers = graph.numLayers;
        long[] shape = {1, graph.numKvHeads, maxContext, graph.headDim};
        int floats = graph.numKvHeads * maxContext * graph.headDim;
        keys = new OnnxTensor[layers];
        values = new OnnxTensor[layers];
        for (int i = 0; i < layers; i++) {
            keys[i] = OnnxTensor.createTensor(env, directFloats(floats), shape);
            values[i] = OnnxTensor.createTensor(env, directFloats(floats), shape);
        }
    }

    /** One output as floats: logits_to_keep = 1, so exactly one row (of vocab logits, or of the hidden state). */
    private static float[] floats(OrtSession.Result result, String name) throws OrtException {
        Optional<OnnxValue> output = result.get(name);
        if (!output.isPresent()) {
            throw new GenerationException("the model returned no \"" + name + "\" output; re-export the bundle");
        }
        FloatBuffer buffer = ((OnnxTensor) output.get()).getFloatBuffer();
        float[] all = new float[buffer.remaining()];
        buffer.get(all);
        return all;
    }

    private static FloatBuffer directFloats(int n) {
        return ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    @Override
    public float[] forward(int[] tokens) {
        return run(tokens, false);
    }

    @Override
    public float[] lastHidden() {
        return lastHidden;
    }

    @Override
    public float[] promptHidden(int[] prompt) {
        if (graph.lastHidden == null) {
            return null; // a bundle exported before the graph had the output
        }
        reset();
        run(prompt, true);
        return lastHidden;
    }

    /**
     * One run after the cached tokens: the last position's logits (none when {@code hiddenOnly}); the final hidden
     * state of that position, when the graph has the output, is kept for {@link #lastHidden} (576 floats a token
     * for the default model, against its 49152 logits).
     */
    private float[] run(int[] tokens, boolean hiddenOnly) {
        int total = length + tokens.length;
        if (total > maxContext) {
            throw new GenerationException("the context is full (" + maxContext + " tokens); start a new chat");
        }
        long[] ids = new long[tokens.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokens[i];
        }
        long[] mask = new long[total];
        java.util.Arrays.fill(mask, 1L);
        Map<String, OnnxTensor> inputs = new HashMap<>();
        Map<String, OnnxValue> pinned = new HashMap<>();
        OnnxTensor idsTensor = null;
        OnnxTensor maskTensor = null;
        OnnxTensor keepTensor = null;
        try {
            idsTensor = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, ids.length});
            maskTensor = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, total});
            keepTensor = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {1}), new long[] {1});
            inputs.put(graph.inputIds, idsTensor);
            inputs.put(graph.attentionMask, maskTensor);
            inputs.put(graph.logitsToKeep, keepTensor);
            for (int i = 0; i < keys.length; i++) {
                inputs.put(graph.pastKey(i), keys[i]);
                inputs.put(graph.pastValue(i), values[i]);
                pinned.put(graph.presentKey(i), keys[i]); // same buffer: updated in place
                pinned.put(graph.presentValue(i), values[i]);
            }
            Set<String> wanted = new HashSet<>();
            if (!hiddenOnly) {
                wanted.add(graph.logits);
            }
            if (graph.lastHidden != null) {
                wanted.add(graph.lastHidden);
            }
            try (OrtSession.Result result = session.run(inputs, wanted, pinned)) {
                lastHidden = graph.lastHidden == null ? null : floats(result, graph.lastHidden);
                length = total;
                return hiddenOnly ? null : floats(result, graph.logits);
            }
        } catch (OrtException e) {
            throw new GenerationException("onnxruntime failed to run the model: " + e.getMessage(), e);
        } finally {
            for (OnnxTensor t : new OnnxTensor[] {idsTensor, maskTensor, keepTensor}) {
                if (t != null) {
                    t.close();
                }
            }
        }
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public int maxContext() {
        return maxContext;
    }

    @Override
    public void reset() {
        length = 0; // old positions are never read: attention only looks at the first `total` slots
        lastHidden = null;
    }

    @Override
    public void close() {
        for (int i = 0; i < keys.length; i++) {
            keys[i].close();
            values[i].close();
        }
        try {
            session.close();
        } catch (OrtException e) {
            // closing a session that failed to close leaves nothing to clean up in the app
        }
    }
}

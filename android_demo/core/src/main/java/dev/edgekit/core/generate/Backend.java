package dev.edgekit.core.generate;

/**
 * The model seam (the Python runtime's backends/base.py, in Java): the Android app implements it with
 * onnxruntime-android; tests implement it with a scripted model. One instance holds one KV cache.
 */
public interface Backend extends AutoCloseable {
    /** Runs {@code tokens} after the cached ones and returns the logits of the last position. */
    float[] forward(int[] tokens);

    /** Tokens currently in the cache. */
    int length();

    /** Largest number of tokens the cache holds. */
    int maxContext();

    /** Empties the cache for a new prompt. */
    void reset();

    /**
     * Empties the cache and runs {@code prompt}, returning the final hidden state of its last position (the graph's
     * last_hidden output: what a policy's probe reads before generation), or null when the graph has none.
     */
    default float[] promptHidden(int[] prompt) {
        return null;
    }

    /**
     * The final hidden state of the last position of the latest {@link #forward} (the state that drew the logits it
     * returned), or null when the graph has no last_hidden output. The generator sums these over an answer's tokens:
     * their mean is what a policy's answer probe reads.
     */
    default float[] lastHidden() {
        return null;
    }

    @Override
    void close();
}

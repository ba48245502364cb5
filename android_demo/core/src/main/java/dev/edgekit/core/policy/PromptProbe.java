package dev.edgekit.core.policy;

import dev.edgekit.core.EdgekitException;
import dev.edgekit.core.Json;
import java.util.List;
import java.util.Map;

/**
 * The policy file's hidden-state probe (sdk/edgekit/sdk/policy/prompt_probe.py): one logistic regression on the
 * prompt's final hidden state h, known after prefill, folded into one weight per hidden dimension:
 * {@code p = 1 / (1 + exp(-(bias + weights . h)))}; {@code p >= threshold} escalates before generation.
 */
public final class PromptProbe {
    final double[] weights;
    final double bias;
    final double threshold;

    PromptProbe(Map<String, Object> d, String where) {
        Object state = d.get("state");
        if (state != null && !"prompt".equals(state)) {
            throw bad(where, "state \"" + state + "\" is unknown (known: prompt)");
        }
        List<Object> list = Json.array(Json.require(d, "weights", where), where + ".weights");
        if (list.isEmpty()) {
            throw bad(where, "weights is empty");
        }
        weights = new double[list.size()];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = Json.number(list.get(i), where + ".weights[" + i + "]");
        }
        bias = Json.number(Json.require(d, "bias", where), where + ".bias");
        threshold = Json.number(Json.require(d, "threshold", where), where + ".threshold");
        for (double w : weights) {
            if (!Double.isFinite(w)) {
                throw bad(where, "weights and bias must be finite numbers");
            }
        }
        if (!Double.isFinite(bias)) {
            throw bad(where, "weights and bias must be finite numbers");
        }
        if (!(threshold >= 0 && threshold <= 1)) {
            throw bad(where, "threshold " + threshold + " must be a probability in [0, 1]");
        }
        Object size = d.get("hidden_size");
        if (size != null && Json.number(size, where + ".hidden_size") != weights.length) {
            throw bad(where, "hidden_size " + size + " but " + weights.length + " weights");
        }
    }

    private static EdgekitException bad(String where, String why) {
        return new EdgekitException(where + ": probe " + why + "; re-run `edgekit calibrate`");
    }

    public int hiddenSize() {
        return weights.length;
    }

    public double probability(float[] hidden) {
        if (hidden.length != weights.length) {
            throw new EdgekitException("policy probe reads a hidden state of " + weights.length + " values, the bundle gave "
                    + hidden.length + "; the policy was calibrated for another model: re-run `edgekit calibrate` on this bundle");
        }
        double s = bias;
        for (int i = 0; i < hidden.length; i++) {
            s += weights[i] * hidden[i];
        }
        if (s >= 0) {
            return 1.0 / (1.0 + Math.exp(-s));
        }
        double e = Math.exp(s);
        return e / (1.0 + e);
    }
}

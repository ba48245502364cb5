package dev.edgekit.core.policy;

import dev.edgekit.core.EdgekitException;
import dev.edgekit.core.Json;
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
            throw FoldedWeights.bad(where, "probe", "state \"" + state + "\" is unknown (known: prompt)");
        }
        FoldedWeights folded = new FoldedWeights(d, where, "probe");
        weights = folded.weights;
        bias = folded.bias;
        threshold = Json.number(Json.require(d, "threshold", where), where + ".threshold");
        if (!(threshold >= 0 && threshold <= 1)) {
            throw FoldedWeights.bad(where, "probe", "threshold " + threshold + " must be a probability in [0, 1]");
        }
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

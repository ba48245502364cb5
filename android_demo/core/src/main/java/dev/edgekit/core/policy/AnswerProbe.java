package dev.edgekit.core.policy;

import java.util.Map;

/**
 * The policy file's answer probe (sdk/edgekit/sdk/policy/answer_probe.py): {@code answer_probe = bias + weights . m}
 * on the mean m of the final hidden states that drew a plain answer's tokens, read by its own post models
 * ({@code models}). Without that state (a request that offered tools, a bundle without last_hidden, another width)
 * the score is 0, {@code answer_probe_missing} is 1, and the policy's signal models decide.
 */
public final class AnswerProbe {
    public static final String SIGNAL = "answer_probe";
    public static final String MISSING = "answer_probe_missing";
    final double[] weights;
    final double bias;
    final Map<String, Policy.Model> models = new java.util.LinkedHashMap<>();

    AnswerProbe(Map<String, Object> d, String where) {
        Object state = d.get("state");
        if (state != null && !"answer_mean".equals(state)) {
            throw FoldedWeights.bad(where, "answer_probe", "state \"" + state + "\" is unknown (known: answer_mean)");
        }
        FoldedWeights folded = new FoldedWeights(d, where, "answer_probe");
        weights = folded.weights;
        bias = folded.bias;
        Policy.models(d.get("models"), models, where + ".answer_probe.models");
        for (Map.Entry<String, Policy.Model> e : models.entrySet()) {
            if (!e.getValue().reads(SIGNAL)) {
                throw FoldedWeights.bad(where, "answer_probe", "model " + e.getKey() + " does not read \"" + SIGNAL + "\"");
            }
        }
    }

    /** True when {@link #addSignals} read the state (the probe's models decide), false when the signal models do. */
    static boolean read(Map<String, Double> signals) {
        Double missing = signals.get(MISSING);
        return missing != null && missing == 0.0;
    }

    public int hiddenSize() {
        return weights.length;
    }

    /** Puts {@link #SIGNAL} and {@link #MISSING} for the answer's mean state (null: the backend gave none). */
    public void addSignals(float[] hidden, Map<String, Double> into) {
        double s = bias;
        boolean read = hidden != null && hidden.length == weights.length;
        for (int i = 0; read && i < hidden.length; i++) {
            read = Float.isFinite(hidden[i]);
            s += weights[i] * hidden[i];
        }
        into.put(SIGNAL, read ? s : 0.0);
        into.put(MISSING, read ? 0.0 : 1.0);
    }
}

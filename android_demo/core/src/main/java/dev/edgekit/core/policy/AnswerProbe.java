package dev.edgekit.core.policy;

import java.util.Map;

/**
 * The policy file's answer probe (sdk/edgekit/sdk/policy/answer_probe.py): {@code answer_probe = bias + weights . m}
 * on the mean m of the final hidden states that drew the answer's tokens, a feature of every post model. Without
 * that state (a bundle without last_hidden, or a model of another width) the score is 0, the average answer, and
 * {@code answer_probe_missing} is 1.
 */
public final class AnswerProbe {
    public static final String SIGNAL = "answer_probe";
    public static final String MISSING = "answer_probe_missing";
    final double[] weights;
    final double bias;

    AnswerProbe(Map<String, Object> d, String where) {
        Object state = d.get("state");
        if (state != null && !"answer_mean".equals(state)) {
            throw FoldedWeights.bad(where, "answer_probe", "state \"" + state + "\" is unknown (known: answer_mean)");
        }
        FoldedWeights folded = new FoldedWeights(d, where, "answer_probe");
        weights = folded.weights;
        bias = folded.bias;
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

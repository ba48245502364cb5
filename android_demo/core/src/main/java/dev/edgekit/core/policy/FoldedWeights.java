package dev.edgekit.core.policy;

import dev.edgekit.core.EdgekitException;
import dev.edgekit.core.Json;
import java.util.List;
import java.util.Map;

/**
 * The weights and bias of a folded hidden-state probe section (sdk/edgekit/sdk/policy/folded.py): one finite weight
 * per hidden dimension, a finite bias, and hidden_size, when given, equal to the number of weights.
 */
final class FoldedWeights {
    final double[] weights;
    final double bias;

    FoldedWeights(Map<String, Object> d, String where, String section) {
        List<Object> list = Json.array(Json.require(d, "weights", where), where + ".weights");
        if (list.isEmpty()) {
            throw bad(where, section, "weights is empty");
        }
        weights = new double[list.size()];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = Json.number(list.get(i), where + ".weights[" + i + "]");
        }
        bias = Json.number(Json.require(d, "bias", where), where + ".bias");
        for (double w : weights) {
            if (!Double.isFinite(w)) {
                throw bad(where, section, "weights and bias must be finite numbers");
            }
        }
        if (!Double.isFinite(bias)) {
            throw bad(where, section, "weights and bias must be finite numbers");
        }
        Object size = d.get("hidden_size");
        if (size != null && Json.number(size, where + ".hidden_size") != weights.length) {
            throw bad(where, section, "hidden_size " + size + " but " + weights.length + " weights");
        }
    }

    static EdgekitException bad(String where, String section, String why) {
        return new EdgekitException(where + ": " + section + " " + why + "; re-run `edgekit calibrate`");
    }
}

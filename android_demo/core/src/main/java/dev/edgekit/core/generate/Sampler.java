package dev.edgekit.core.generate;

import java.util.Arrays;
import java.util.Random;
import java.util.Set;

/**
 * Chooses the next token, in the Python runtime's order (runtime/edgekit/runtime/sampler.py, after transformers'
 * generate): repetition penalty, temperature, top-k, top-p, min-p, draw. Temperature 0 is greedy (argmax, first
 * maximum on ties, as numpy's argmax). The logprob and entropy returned are always those of the raw logits
 * (softmax at temperature 1), whatever the options, so the policy reads the same numbers on every platform.
 * Seeded draws are reproducible within Java but do not replay numpy's generator.
 */
public final class Sampler {
    /** A chosen token with its confidence. */
    public static final class Choice {
        public final int token;
        public final double logprob;
        public final double entropy;

        Choice(int token, double logprob, double entropy) {
            this.token = token;
            this.logprob = logprob;
            this.entropy = entropy;
        }
    }

    private final SamplingOptions options;
    private final Random random;

    public Sampler(SamplingOptions options) {
        this.options = options;
        this.random = options.seed == null ? new Random() : new Random(options.seed);
    }

    public Choice sample(float[] logits, Set<Integer> history) {
        float[] x = logits;
        if (options.repetitionPenalty != 1.0 && history != null && !history.isEmpty()) {
            x = logits.clone();
            for (int id : history) {
                if (id >= 0 && id < x.length) {
                    // CTRL (Keskar et al. 2019): divide positive logits, multiply negative ones
                    x[id] = x[id] > 0 ? (float) (x[id] / options.repetitionPenalty) : (float) (x[id] * options.repetitionPenalty);
                }
            }
        }
        int token = options.isGreedy() ? argmax(x) : draw(x);
        double[] stats = tokenStats(logits, token);
        return new Choice(token, stats[0], stats[1]);
    }

    public static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * {logprob of token, entropy} of softmax(logits), in nats, in double precision (confidence.py token_stats sums
     * in float32 passes for speed; the two agree to about 1e-7).
     */
    public static double[] tokenStats(float[] logits, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        double logZ = Math.log(sum);
        double entropy = 0;
        for (float v : logits) {
            double lp = (v - max) - logZ;
            entropy -= Math.exp(lp) * lp;
        }
        return new double[] {(logits[token] - max) - logZ, Math.max(entropy, 0.0)};
    }

    private int draw(float[] logits) {
        int vocab = logits.length;
        double[] x = new double[vocab];
        for (int i = 0; i < vocab; i++) {
            x[i] = logits[i] / options.temperature;
        }
        if (options.topK > 0 && options.topK < vocab) {
            double[] sorted = x.clone();
            Arrays.sort(sorted);
            double kth = sorted[vocab - options.topK];
            for (int i = 0; i < vocab; i++) {
                if (x[i] < kth) {
                    x[i] = Double.NEGATIVE_INFINITY;
                }
            }
        }
        // surviving candidates sorted by probability, stable on ties
        Integer[] idx = new Integer[vocab];
        int n = 0;
        for (int i = 0; i < vocab; i++) {
            if (!Double.isInfinite(x[i])) {
                idx[n++] = i;
            }
        }
        Integer[] order = Arrays.copyOf(idx, n);
        final double[] xs = x;
        Arrays.sort(order, (a, b) -> Double.compare(xs[b], xs[a]));
        double[] p = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp(x[order[i]] - x[order[0]]);
            total += p[i];
        }
        for (int i = 0; i < n; i++) {
            p[i] /= total;
        }
        int keep = n;
        if (options.topP < 1.0) {
            // smallest prefix whose mass reaches top_p (at least one token)
            double cum = 0;
            int prefix = n;
            for (int i = 0; i < n; i++) {
                cum += p[i];
                if (cum >= options.topP) {
                    prefix = i + 1;
                    break;
                }
            }
            keep = Math.min(keep, prefix);
        }
        if (options.minP > 0.0) {
            int count = 0;
            for (int i = 0; i < n; i++) {
                if (p[i] >= options.minP * p[0]) {
                    count++;
                }
            }
            keep = Math.min(keep, Math.max(1, count));
        }
        double mass = 0;
        for (int i = 0; i < keep; i++) {
            mass += p[i];
        }
        double r = random.nextDouble() * mass;
        for (int i = 0; i < keep; i++) {
            r -= p[i];
            if (r < 0) {
                return order[i];
            }
        }
        return order[keep - 1];
    }
}

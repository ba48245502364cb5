package dev.edgekit.core.generate;

import java.util.List;

/**
 * Summary of per-token confidence, computed as runtime/edgekit/runtime/confidence.py {@code summarize} does (the
 * numbers the escalation policy reads): means over tokens, the minimum logprob, and the largest mean entropy over a
 * sliding window of 8 tokens (or all tokens when fewer).
 */
public final class Confidence {
    public static final int DEFAULT_WINDOW = 8;

    public final int nTokens;
    public final double meanLogprob;
    public final double minLogprob;
    public final double meanEntropy;
    public final double maxEntropy;
    public final double maxWindowEntropy;
    public final int window;
    public final double perplexity;

    Confidence(int nTokens, double meanLogprob, double minLogprob, double meanEntropy, double maxEntropy,
               double maxWindowEntropy, int window, double perplexity) {
        this.nTokens = nTokens;
        this.meanLogprob = meanLogprob;
        this.minLogprob = minLogprob;
        this.meanEntropy = meanEntropy;
        this.maxEntropy = maxEntropy;
        this.maxWindowEntropy = maxWindowEntropy;
        this.window = window;
        this.perplexity = perplexity;
    }

    public static Confidence summarize(List<TokenInfo> tokens) {
        return summarize(tokens, DEFAULT_WINDOW);
    }

    public static Confidence summarize(List<TokenInfo> tokens, int window) {
        int n = tokens.size();
        if (n == 0) {
            return new Confidence(0, 0, 0, 0, 0, 0, window, 1.0);
        }
        double sumLp = 0;
        double minLp = Double.POSITIVE_INFINITY;
        double sumEnt = 0;
        double maxEnt = Double.NEGATIVE_INFINITY;
        for (TokenInfo t : tokens) {
            sumLp += t.logprob;
            minLp = Math.min(minLp, t.logprob);
            sumEnt += t.entropy;
            maxEnt = Math.max(maxEnt, t.entropy);
        }
        int w = Math.min(window, n);
        double best = Double.NEGATIVE_INFINITY;
        for (int start = 0; start + w <= n; start++) {
            double s = 0;
            for (int i = start; i < start + w; i++) {
                s += tokens.get(i).entropy;
            }
            best = Math.max(best, s / w);
        }
        double meanLp = sumLp / n;
        return new Confidence(n, meanLp, minLp, sumEnt / n, maxEnt, best, window, Math.exp(-meanLp));
    }
}

package dev.edgekit.core.generate;

import dev.edgekit.core.GenerationException;

/** Sampling options with the Python runtime's rules and messages (runtime/edgekit/runtime/sampler.py). */
public final class SamplingOptions {
    public final double temperature; // 0 = greedy
    public final int topK; // 0 = off
    public final double topP; // 1 = off
    public final double minP; // 0 = off
    public final double repetitionPenalty; // 1 = off
    public final Long seed; // null = fresh entropy

    public SamplingOptions(double temperature, int topK, double topP, double minP, double repetitionPenalty, Long seed) {
        if (!(temperature >= 0)) {
            throw bad("temperature", temperature, "use 0 for greedy or a positive number");
        }
        if (topK < 0) {
            throw bad("top_k", topK, "use 0 (off) or a positive integer");
        }
        if (!(topP > 0 && topP <= 1)) {
            throw bad("top_p", topP, "use a number in (0, 1]; 1 turns it off");
        }
        if (!(minP >= 0 && minP < 1)) {
            throw bad("min_p", minP, "use a number in [0, 1); 0 turns it off");
        }
        if (!(repetitionPenalty > 0)) {
            throw bad("repetition_penalty", repetitionPenalty, "use a positive number; 1 turns it off");
        }
        if (seed != null && seed < 0) {
            throw bad("seed", seed, "use a non-negative integer or null");
        }
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.minP = minP;
        this.repetitionPenalty = repetitionPenalty;
        this.seed = seed;
    }

    public static SamplingOptions greedy() {
        return new SamplingOptions(0, 0, 1, 0, 1, null);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    private static GenerationException bad(String name, Object value, String rule) {
        return new GenerationException(name + "=" + value + " is invalid: " + rule);
    }
}

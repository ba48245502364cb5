package dev.edgekit.core.generate;

import java.util.Collections;
import java.util.List;

/** The full answer of one local generation. */
public final class GenerationResult {
    public final String text;
    public final int[] tokenIds; // eos not included
    public final FinishReason finishReason;
    public final int promptTokens;
    public final List<TokenInfo> tokens;
    public final Confidence confidence;
    public final double prefillMs;
    public final double decodeMs;
    public final boolean contextOverflow;
    /**
     * The mean of the final hidden states that drew each generated token (the state that drew eos when none was
     * generated; the Python runtime's Result.answer_hidden_mean), or null when the backend gives no states.
     */
    public final float[] answerHiddenMean;

    GenerationResult(String text, int[] tokenIds, FinishReason finishReason, int promptTokens, List<TokenInfo> tokens,
                     double prefillMs, double decodeMs, boolean contextOverflow, float[] answerHiddenMean) {
        this.text = text;
        this.tokenIds = tokenIds;
        this.finishReason = finishReason;
        this.promptTokens = promptTokens;
        this.tokens = Collections.unmodifiableList(tokens);
        this.confidence = Confidence.summarize(tokens);
        this.prefillMs = prefillMs;
        this.decodeMs = decodeMs;
        this.contextOverflow = contextOverflow;
        this.answerHiddenMean = answerHiddenMean;
    }

    public double decodeTokensPerSecond() {
        return decodeMs > 0 ? tokens.size() * 1000.0 / decodeMs : 0.0;
    }
}

package dev.edgekit.core.generate;

/** One generated token: id, its text piece, and the model's confidence in it (nats, from the raw logits). */
public final class TokenInfo {
    public final int id;
    public final String text;
    public final double logprob;
    public final double entropy;

    public TokenInfo(int id, String text, double logprob, double entropy) {
        this.id = id;
        this.text = text;
        this.logprob = logprob;
        this.entropy = entropy;
    }
}

package dev.edgekit.core.generate;

/** Why generation ended; the wire names are the Python runtime's FinishReason values. */
public enum FinishReason {
    EOS("eos"), STOP("stop"), LENGTH("length"), CONTEXT("context");

    public final String wire;

    FinishReason(String wire) {
        this.wire = wire;
    }
}

package dev.edgekit.core;

/** The cloud side failed; the caller falls back to the local answer. */
public class EscalationException extends EdgekitException {
    public EscalationException(String message) {
        super(message);
    }

    public EscalationException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.edgekit.core;

/** The cloud answered with a non-success HTTP status. */
public class CloudHttpException extends EscalationException {
    public final int status;

    public CloudHttpException(int status, String message) {
        super(message);
        this.status = status;
    }
}

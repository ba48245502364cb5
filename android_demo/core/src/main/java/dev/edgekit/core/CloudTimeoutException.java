package dev.edgekit.core;

/** The cloud did not answer within the configured timeout. */
public class CloudTimeoutException extends EscalationException {
    public CloudTimeoutException(String message) {
        super(message);
    }

    public CloudTimeoutException(String message, Throwable cause) {
        super(message, cause);
    }
}

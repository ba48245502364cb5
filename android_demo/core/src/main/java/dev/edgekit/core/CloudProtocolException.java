package dev.edgekit.core;

/** The cloud's answer was malformed (bad JSON, stream cut mid-way). */
public class CloudProtocolException extends EscalationException {
    public CloudProtocolException(String message) {
        super(message);
    }

    public CloudProtocolException(String message, Throwable cause) {
        super(message, cause);
    }
}

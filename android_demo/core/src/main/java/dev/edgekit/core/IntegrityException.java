package dev.edgekit.core;

/** A bundle file is missing, truncated or does not match its sha256. */
public class IntegrityException extends BundleException {
    public IntegrityException(String message) {
        super(message);
    }

    public IntegrityException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.edgekit.core;

/** A bundle cannot be loaded. */
public class BundleException extends EdgekitException {
    public BundleException(String message) {
        super(message);
    }

    public BundleException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.edgekit.core;

/** Generation cannot run with the given input or options. */
public class GenerationException extends EdgekitException {
    public GenerationException(String message) {
        super(message);
    }

    public GenerationException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.edgekit.core;

/** edgekit.json or tokenizer.json is missing, malformed, or of a schema this core does not read. */
public class SchemaException extends BundleException {
    public SchemaException(String message) {
        super(message);
    }

    public SchemaException(String message, Throwable cause) {
        super(message, cause);
    }
}

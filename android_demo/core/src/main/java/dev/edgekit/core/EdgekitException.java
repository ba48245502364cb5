package dev.edgekit.core;

/**
 * Root of every user-facing error of the Java core; mirrors the Python tree in runtime/edgekit/runtime/errors.py:
 *
 * <pre>
 * EdgekitException
 * ├── BundleException            a bundle cannot be loaded
 * │   ├── SchemaException        edgekit.json / tokenizer.json missing, malformed, unknown schema version
 * │   └── IntegrityException     a file is missing, truncated or fails its sha256
 * ├── GenerationException        generation cannot run (bad options, context overflow)
 * └── EscalationException        the cloud side failed (the app falls back to the local answer)
 *     ├── CloudTimeoutException
 *     ├── CloudHttpException     non-2xx answer (status kept)
 *     └── CloudProtocolException malformed JSON, stream cut mid-way
 * </pre>
 *
 * Messages say what failed, the value and the fix; the UI shows them as they are.
 */
public class EdgekitException extends RuntimeException {
    public EdgekitException(String message) {
        super(message);
    }

    public EdgekitException(String message, Throwable cause) {
        super(message, cause);
    }
}

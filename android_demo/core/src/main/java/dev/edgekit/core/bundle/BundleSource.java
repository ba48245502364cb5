package dev.edgekit.core.bundle;

import java.io.IOException;
import java.io.InputStream;

/**
 * Where bundle files come from: a folder on device storage ({@link FolderSource}) or, in the Android app, the APK's
 * assets. Paths are the manifest's relative POSIX paths.
 */
public interface BundleSource {
    /** Size in bytes, or -1 when the file does not exist. */
    long size(String path) throws IOException;

    InputStream open(String path) throws IOException;

    /** Human-readable location for error messages. */
    String describe();
}

package dev.edgekit.core.bundle;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** A bundle folder on the file system (device storage, or a test's temp folder). */
public final class FolderSource implements BundleSource {
    private final Path folder;

    public FolderSource(Path folder) {
        this.folder = folder;
    }

    public Path folder() {
        return folder;
    }

    public Path resolve(String path) {
        return folder.resolve(path);
    }

    @Override
    public long size(String path) throws IOException {
        Path p = folder.resolve(path);
        return Files.isRegularFile(p) ? Files.size(p) : -1;
    }

    @Override
    public InputStream open(String path) throws IOException {
        return Files.newInputStream(folder.resolve(path));
    }

    @Override
    public String describe() {
        return folder.toString();
    }
}

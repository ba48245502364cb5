package dev.edgekit.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** Stream helpers that Android API 26 has (InputStream.readAllBytes needs API 33). */
public final class IO {
    private IO() {
    }

    public static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[1 << 16];
        int n;
        while ((n = in.read(buffer)) > 0) {
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }

    public static String readUtf8(InputStream in) throws IOException {
        return new String(readAll(in), StandardCharsets.UTF_8);
    }
}

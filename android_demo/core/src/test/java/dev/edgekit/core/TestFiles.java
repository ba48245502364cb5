package dev.edgekit.core;

import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;

/** Locations the pytest wrapper (tests/android/) passes in as system properties, and JSON reading. */
final class TestFiles {
    private TestFiles() {
    }

    static Path property(String name) {
        String value = System.getProperty(name);
        if (value == null || value.isEmpty()) {
            fail("system property -D" + name + " is not set; run these tests through tests/android/ (pytest), "
                    + "which generates the reference files");
        }
        return Paths.get(value);
    }

    static Object readJson(Path path) {
        try {
            return Json.parse(new String(Files.readAllBytes(path), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new AssertionError("cannot read " + path + ": " + e, e);
        }
    }

    static Map<String, Object> object(Object value) {
        return Json.object(value, "test data");
    }

    static List<Object> array(Object value) {
        return Json.array(value, "test data");
    }

    static int[] ints(Object value) {
        List<Object> list = array(value);
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (int) Json.integer(list.get(i), "id");
        }
        return out;
    }

    /** A base64 little-endian float32 vector (vectors.py answer_hidden), or null. */
    static float[] floats(Object base64) {
        if (base64 == null) {
            return null;
        }
        java.nio.FloatBuffer buffer = java.nio.ByteBuffer.wrap(java.util.Base64.getDecoder().decode((String) base64))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] out = new float[buffer.remaining()];
        buffer.get(out);
        return out;
    }
}

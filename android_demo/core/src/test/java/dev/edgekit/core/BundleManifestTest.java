package dev.edgekit.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import dev.edgekit.core.bundle.BundleManifest;
import dev.edgekit.core.bundle.FolderSource;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Reads a real bundle written by the Python exporter (-Dedgekit.bundle) and checks the values against what
 * Python's read_manifest saw (-Dedgekit.bundleExpected); then damages copies of it and checks that verification
 * fails with messages that name the file and the fix (the Python runtime's wording).
 */
public class BundleManifestTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private Path bundle;
    private Map<String, Object> expected;

    @Before
    public void setUp() {
        bundle = TestFiles.property("edgekit.bundle");
        expected = TestFiles.object(TestFiles.readJson(TestFiles.property("edgekit.bundleExpected")));
    }

    private Path copy() throws IOException {
        Path dest = tmp.newFolder("bundle").toPath();
        try (Stream<Path> files = Files.list(bundle)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Files.copy(p, dest.resolve(p.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return dest;
    }

    @Test
    public void readsWhatPythonWrote() {
        BundleManifest m = BundleManifest.read(new FolderSource(bundle));
        assertEquals(expected.get("backend"), m.backend);
        assertEquals(Json.integer(expected.get("max_context"), "max_context"), m.maxContext);
        assertEquals(expected.get("eos_ids").toString(), m.eosIds.toString());
        assertEquals(expected.get("add_bos"), m.addBos);
        assertEquals(expected.get("model_file"), m.onnxGraph().modelFile);
        assertEquals(Json.integer(expected.get("num_layers"), "num_layers"), m.onnxGraph().numLayers);
        assertEquals("past_key_values.3.key", m.onnxGraph().pastKey(3));
        assertEquals("present.3.value", m.onnxGraph().presentValue(3));
        assertEquals(Json.integer(expected.get("n_files"), "n_files"), m.files.size());
        assertEquals(expected.get("chat_template"), m.chatTemplate);
        m.verify(new FolderSource(bundle), true);
    }

    @Test
    public void truncatedFileIsNamedWithBothSizes() throws IOException {
        Path b = copy();
        BundleManifest m = BundleManifest.read(new FolderSource(b));
        BundleManifest.FileEntry model = m.file("model");
        try (RandomAccessFile f = new RandomAccessFile(b.resolve(model.path).toFile(), "rw")) {
            f.setLength(model.size - 10);
        }
        try {
            m.verify(new FolderSource(b), true);
            fail("a truncated file passed verification");
        } catch (IntegrityException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("bundle file \"" + model.path + "\" is " + (model.size - 10)
                    + " bytes, the manifest says " + model.size + " (truncated or replaced)"));
        }
    }

    @Test
    public void modifiedFileFailsItsSha256() throws IOException {
        Path b = copy();
        BundleManifest m = BundleManifest.read(new FolderSource(b));
        BundleManifest.FileEntry tok = m.file("tokenizer");
        try (RandomAccessFile f = new RandomAccessFile(b.resolve(tok.path).toFile(), "rw")) {
            f.seek(tok.size / 2);
            int v = f.read();
            f.seek(tok.size / 2);
            f.write(v ^ 1);
        }
        m.verify(new FolderSource(b), false); // sizes alone cannot see it
        try {
            m.verify(new FolderSource(b), true);
            fail("a modified file passed its sha256 check");
        } catch (IntegrityException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("fails its sha256 check (modified or corrupted)"));
        }
    }

    @Test
    public void missingFileIsNamed() throws IOException {
        Path b = copy();
        BundleManifest m = BundleManifest.read(new FolderSource(b));
        Files.delete(b.resolve(m.file("tokenizer").path));
        try {
            m.verify(new FolderSource(b), true);
            fail("a missing file passed verification");
        } catch (IntegrityException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("is missing from") && e.getMessage().contains("copy the whole bundle folder again"));
        }
    }

    private static void expectSchema(Path folder, String needle) {
        try {
            BundleManifest.read(new FolderSource(folder));
            fail("expected a SchemaException containing: " + needle);
        } catch (SchemaException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(needle));
        }
    }

    @Test
    public void badManifestsAreRefusedWithTheFix() throws IOException {
        Path b = copy();
        Path manifest = b.resolve("edgekit.json");
        String text = new String(Files.readAllBytes(manifest), StandardCharsets.UTF_8);
        Files.write(manifest, text.replace("\"schema_version\": 1", "\"schema_version\": 99").getBytes(StandardCharsets.UTF_8));
        expectSchema(b, "schema_version 99 is not supported by this app (it reads 1)");
        Files.write(manifest, "{\"format\": \"edgekit-bundle\", ".getBytes(StandardCharsets.UTF_8));
        expectSchema(b, "not valid JSON");
        Files.write(manifest, "{\"hello\": 1}".getBytes(StandardCharsets.UTF_8));
        expectSchema(b, "not an edgekit bundle manifest");
        Files.write(manifest, text.replace("\"backend\": \"onnx\"", "\"backend\": \"executorch\"").getBytes(StandardCharsets.UTF_8));
        try {
            BundleManifest.read(new FolderSource(b)).onnxGraph();
            fail("an executorch bundle was accepted by the ONNX app");
        } catch (SchemaException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("backend \"executorch\" cannot run in the app"));
        }
        Files.delete(manifest);
        expectSchema(b, "has no edgekit.json: not an edgekit bundle");
    }
}

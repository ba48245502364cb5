package dev.edgekit.core;

import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import dev.edgekit.core.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** tokenizer.json files the Java tokenizer cannot read are refused with what is wrong and what to do. */
public class TokenizerErrorsTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private void expect(String json, String needle) throws IOException {
        Path p = tmp.newFile().toPath();
        Files.write(p, json.getBytes(StandardCharsets.UTF_8));
        try {
            Tokenizer.fromFile(p);
            fail("accepted: " + json);
        } catch (SchemaException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(needle));
        }
    }

    @Test
    public void unsupportedModelsAndBrokenFilesAreNamed() throws IOException {
        expect("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model type \"Unigram\" is not supported");
        expect("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"byte_fallback\": true}}", "byte_fallback");
        expect("{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
                "pre_tokenizer type \"Metaspace\" is not supported");
        expect("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}",
                "merge 0 (\"a\" + \"b\") uses a token that is not in the vocab");
        expect("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,}}}", "invalid JSON at line 1");
        try {
            Tokenizer.fromFile(tmp.getRoot().toPath().resolve("absent.json"));
            fail("a missing file was read");
        } catch (SchemaException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("cannot read tokenizer file"));
        }
    }
}

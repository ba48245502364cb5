package dev.edgekit.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import dev.edgekit.core.tokenizer.StreamDecoder;
import dev.edgekit.core.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;

/**
 * The Java tokenizer must give exactly the ids huggingface tokenizers gives. Suites come from the pytest wrapper
 * (-Dedgekit.tokenizerSuites=suites.json): the default model's tokenizer with the committed
 * tests/vectors/tokenizer_vectors.json, plus small tokenizers built at test time that exercise other
 * pre-tokenizers, normalizers and added-token rules.
 */
@RunWith(Parameterized.class)
public class TokenizerVectorsTest {
    @Parameterized.Parameters(name = "{0}")
    public static Collection<Object[]> suites() {
        List<Object[]> out = new ArrayList<>();
        for (Object item : TestFiles.array(TestFiles.readJson(TestFiles.property("edgekit.tokenizerSuites")))) {
            Map<String, Object> suite = TestFiles.object(item);
            out.add(new Object[] {suite.get("name"), suite.get("tokenizer"), suite.get("vectors")});
        }
        return out;
    }

    private final String name;
    private final Tokenizer tokenizer;
    private final Map<String, Object> vectors;

    public TokenizerVectorsTest(String name, String tokenizerPath, String vectorsPath) {
        this.name = name;
        this.tokenizer = Tokenizer.fromFile(Paths.get(tokenizerPath));
        this.vectors = TestFiles.object(TestFiles.readJson(Paths.get(vectorsPath)));
    }

    private List<Map<String, Object>> cases() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object c : TestFiles.array(vectors.get("cases"))) {
            out.add(TestFiles.object(c));
        }
        assertTrue(name + ": no cases", out.size() > 5);
        return out;
    }

    @Test
    public void encodeGivesTheReferenceIds() {
        List<String> mismatches = new ArrayList<>();
        for (Map<String, Object> c : cases()) {
            String text = (String) c.get("text");
            int[] expected = TestFiles.ints(c.get("ids"));
            int[] actual = tokenizer.encode(text);
            if (!Arrays.equals(expected, actual)) {
                mismatches.add(Json.write(text) + "\n    tokenizers: " + Arrays.toString(expected)
                        + "\n    java:       " + Arrays.toString(actual));
            }
        }
        assertTrue(name + ": " + mismatches.size() + " texts tokenize differently:\n  " + String.join("\n  ", mismatches),
                mismatches.isEmpty());
    }

    @Test
    public void decodeGivesTheReferenceText() {
        for (Map<String, Object> c : cases()) {
            int[] ids = TestFiles.ints(c.get("ids"));
            assertEquals(name + " decode " + Json.write(c.get("text")), c.get("decoded"), tokenizer.decode(ids, false));
            assertEquals(name + " decode(skip special) " + Json.write(c.get("text")),
                    c.get("decoded_skip_special"), tokenizer.decode(ids, true));
        }
        Object extra = vectors.get("decode_cases");
        if (extra != null) {
            for (Object item : TestFiles.array(extra)) {
                Map<String, Object> c = TestFiles.object(item);
                assertEquals(name + " decode " + c.get("ids"), c.get("decoded"), tokenizer.decode(TestFiles.ints(c.get("ids")), false));
            }
        }
    }

    @Test
    public void streamingPiecesConcatenateToTheDecodedText() {
        for (Map<String, Object> c : cases()) {
            StreamDecoder stream = tokenizer.streamDecoder(false);
            StringBuilder joined = new StringBuilder();
            for (int id : TestFiles.ints(c.get("ids"))) {
                String piece = stream.push(id);
                assertTrue(name + ": a streamed piece split a character: " + Json.write(piece), !piece.contains("\uFFFD")
                        || ((String) c.get("decoded")).contains("\uFFFD"));
                joined.append(piece);
            }
            joined.append(stream.flush());
            assertEquals(name + " stream " + Json.write(c.get("text")), c.get("decoded"), joined.toString());
        }
    }
}

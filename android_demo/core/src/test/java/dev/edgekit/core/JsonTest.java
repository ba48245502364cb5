package dev.edgekit.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;

/** The core's JSON reader/writer: RFC 8259 values round-trip; bad input names the line and column. */
public class JsonTest {
    @Test
    public void roundTripsEveryKindOfValue() {
        Map<String, Object> obj = new LinkedHashMap<>();
        obj.put("s", "quote \" backslash \\ newline \n tab \t é 🙂 \u0001");
        obj.put("i", 9007199254740993L);
        obj.put("d", -1.5e-7);
        obj.put("b", Boolean.TRUE);
        obj.put("n", null);
        obj.put("a", Arrays.<Object>asList(1L, "two", Arrays.<Object>asList()));
        String text = Json.write(obj);
        assertEquals(obj, Json.parse(text));
        assertEquals("\u00e9\ud83d\ude42", Json.parse("\"\\u00e9\\ud83d\\ude42\""));
    }

    @Test
    public void errorsNameLineAndColumn() {
        try {
            Json.parse("{\n  \"a\": [1, 2,, 3]\n}");
            fail("bad JSON accepted");
        } catch (EdgekitException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("invalid JSON at line 2 column 14"));
        }
        try {
            Json.parse("{\"a\": 1} trailing");
            fail("trailing text accepted");
        } catch (EdgekitException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("trailing characters"));
        }
    }

    @Test
    public void typedAccessNamesTheKey() {
        try {
            Json.integer(Json.object(Json.parse("{\"size\": \"big\"}"), "x").get("size"), "files[0].size");
            fail("a string was read as an integer");
        } catch (EdgekitException e) {
            assertEquals("files[0].size: expected an integer, found the string \"big\"", e.getMessage());
        }
    }
}

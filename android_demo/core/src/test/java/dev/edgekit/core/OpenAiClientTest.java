package dev.edgekit.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.edgekit.core.cloud.ChatMessage;
import dev.edgekit.core.cloud.OpenAiClient;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/**
 * The SSE client against a real HTTP server on 127.0.0.1 that injects faults: real SSE frames (comments, split
 * events), a 500 then success (retried), 401 (not retried, body not quoted), malformed JSON, a stream cut before
 * [DONE], and a server that never answers (timeout). With -Dedgekit.cloudUrl it also talks to a real
 * `edgekit serve` (tests/android/test_java_core.py starts one) and must get the answer Python got.
 */
public class OpenAiClientTest {
    private HttpServer server;
    private String base;
    private final AtomicInteger calls = new AtomicInteger();
    private final List<String> bodies = Collections.synchronizedList(new ArrayList<String>());
    private volatile String mode = "ok";

    private static final String KEY = "sk-test-secret-123";

    @Before
    public void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v1/chat/completions", this::handle);
        server.start();
        base = "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @After
    public void stop() {
        server.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        int n = calls.incrementAndGet();
        bodies.add(new String(IO.readAll(ex.getRequestBody()), StandardCharsets.UTF_8));
        switch (mode) {
            case "500-then-ok":
                if (n == 1) {
                    send(ex, 500, "{\"error\": {\"message\": \"overloaded\"}}");
                    return;
                }
                stream(ex, true);
                return;
            case "401":
                send(ex, 401, "{\"error\": \"bad key " + KEY + "\"}");
                return;
            case "malformed":
                ex.sendResponseHeaders(200, 0);
                try (OutputStream out = ex.getResponseBody()) {
                    out.write("data: {not json\n\n".getBytes(StandardCharsets.UTF_8));
                }
                return;
            case "cut":
                stream(ex, false);
                return;
            case "hang":
                try {
                    Thread.sleep(3000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                send(ex, 200, "");
                return;
            default:
                stream(ex, true);
        }
    }

    private static void send(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
        ex.close();
    }

    private static void stream(HttpExchange ex, boolean done) throws IOException {
        ex.getResponseHeaders().add("Content-Type", "text/event-stream");
        ex.sendResponseHeaders(200, 0);
        try (OutputStream out = ex.getResponseBody()) {
            String[] frames = {
                ": keep-alive\n\n",
                "data: {\"choices\": [{\"delta\": {\"role\": \"assistant\"}}]}\n\n",
                "data: {\"choices\": [{\"delta\": {\"content\": \"Par\"}}]}\n\n",
                "data: {\"choices\": [{\"delta\": {\"content\": \"is é\"}}]}\r\n\r\n",
                "data: {\"choices\": [{\"delta\": {\"content\": \"🙂.\"}, \"finish_reason\": \"stop\"}]}\n\n",
                "data: {\"choices\": [], \"usage\": {\"prompt_tokens\": 12, \"completion_tokens\": 3}}\n\n",
            };
            for (String f : frames) {
                out.write(f.getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            if (done) {
                out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    private OpenAiClient client(int readTimeoutMs, int retries) {
        return new OpenAiClient(base, "cloud-model", KEY, 64, 2000, readTimeoutMs, retries);
    }

    private static List<ChatMessage> question() {
        return Collections.singletonList(new ChatMessage("user", "What is the capital of France?"));
    }

    @Test
    public void streamsDeltasAndReadsUsage() {
        StringBuilder seen = new StringBuilder();
        OpenAiClient.Reply reply = client(5000, 0).stream(question(), seen::append);
        assertEquals("Paris é🙂.", reply.text);
        assertEquals(reply.text, seen.toString());
        assertEquals(12, reply.promptTokens);
        assertEquals(3, reply.completionTokens);
        java.util.Map<String, Object> body = Json.object(Json.parse(bodies.get(0)), "request");
        assertEquals("cloud-model", body.get("model"));
        assertEquals(Boolean.TRUE, body.get("stream"));
        assertEquals(64L, body.get("max_tokens"));
    }

    @Test
    public void retriesA500() {
        mode = "500-then-ok";
        OpenAiClient.Reply reply = client(5000, 2).stream(question(), null);
        assertEquals("Paris é🙂.", reply.text);
        assertEquals(2, reply.attempts);
        assertEquals(2, calls.get());
    }

    @Test
    public void a401IsNotRetriedAndNeverQuotesTheBody() {
        mode = "401";
        try {
            client(5000, 2).stream(question(), null);
            fail("401 accepted");
        } catch (CloudHttpException e) {
            assertEquals(401, e.status);
            assertTrue(e.getMessage(), e.getMessage().contains("HTTP 401 (check the API key)"));
            assertFalse("the error quoted the response body", e.getMessage().contains(KEY));
        }
        assertEquals(1, calls.get());
    }

    @Test
    public void malformedJsonIsAProtocolError() {
        mode = "malformed";
        try {
            client(5000, 0).stream(question(), null);
            fail("malformed stream accepted");
        } catch (CloudProtocolException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("malformed JSON"));
        }
    }

    @Test
    public void aStreamCutBeforeDoneIsAProtocolError() {
        mode = "cut";
        try {
            client(5000, 0).stream(question(), null);
            fail("cut stream accepted");
        } catch (CloudProtocolException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("ended before [DONE]"));
        }
    }

    @Test
    public void aServerThatNeverAnswersTimesOut() {
        mode = "hang";
        try {
            client(500, 0).stream(question(), null);
            fail("hanging server accepted");
        } catch (CloudTimeoutException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("did not answer within 0.5 s"));
        }
    }

    @Test
    public void anUnreachableCloudIsNamed() {
        server.stop(0);
        try {
            client(500, 0).stream(question(), null);
            fail("unreachable cloud accepted");
        } catch (EscalationException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("cannot reach the cloud at " + base));
        }
    }

    @Test
    public void talksToARealEdgekitServe() {
        String url = System.getProperty("edgekit.cloudUrl");
        org.junit.Assume.assumeTrue("no -Dedgekit.cloudUrl (set by tests/android/test_java_core.py)", url != null);
        String expected = System.getProperty("edgekit.cloudExpected");
        OpenAiClient real = new OpenAiClient(url, System.getProperty("edgekit.cloudModel"), null, 8, 5000, 120000, 0);
        StringBuilder seen = new StringBuilder();
        OpenAiClient.Reply reply = real.stream(
                Collections.singletonList(new ChatMessage("user", System.getProperty("edgekit.cloudQuestion"))), seen::append);
        assertEquals(expected, reply.text);
        assertEquals(expected, seen.toString());
        assertTrue("usage not read", reply.completionTokens > 0);
    }
}

package dev.edgekit.core.cloud;

import dev.edgekit.core.CloudHttpException;
import dev.edgekit.core.CloudProtocolException;
import dev.edgekit.core.CloudTimeoutException;
import dev.edgekit.core.EdgekitException;
import dev.edgekit.core.EscalationException;
import dev.edgekit.core.IO;
import dev.edgekit.core.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.SocketTimeoutException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An OpenAI-compatible chat-completions client with SSE streaming, on HttpURLConnection (in the JDK and in
 * Android alike). The request body is the Python CloudClient's (sdk/edgekit/sdk/cloud/client.py): model, messages,
 * stream, stream_options.include_usage, optional max_tokens/temperature. Transient failures (connection errors,
 * timeouts, 429 and 5xx before any byte of the answer) are retried with exponential backoff; 401/403 bodies are
 * never quoted (they may echo credentials).
 */
public final class OpenAiClient {
    /** Receives the answer's text deltas as they arrive. */
    public interface DeltaListener {
        void onDelta(String text);
    }

    /** The complete answer. */
    public static final class Reply {
        public final String text;
        public final int promptTokens;
        public final int completionTokens;
        public final int attempts;

        Reply(String text, int promptTokens, int completionTokens, int attempts) {
            this.text = text;
            this.promptTokens = promptTokens;
            this.completionTokens = completionTokens;
            this.attempts = attempts;
        }
    }

    private final String url;
    private final String model;
    private final String apiKey;
    private final Integer maxTokens;
    private final int connectTimeoutMs;
    private final int readTimeoutMs;
    private final int retries;

    public OpenAiClient(String baseUrl, String model, String apiKey, Integer maxTokens, int connectTimeoutMs,
                        int readTimeoutMs, int retries) {
        if (baseUrl == null || baseUrl.isEmpty()) {
            throw new EdgekitException("no cloud URL configured; set the cloud base URL (e.g. https://api.example.com)");
        }
        this.url = (baseUrl.endsWith("/") ? baseUrl : baseUrl + "/") + "v1/chat/completions";
        this.model = model == null || model.isEmpty() ? "default" : model;
        this.apiKey = apiKey;
        this.maxTokens = maxTokens;
        this.connectTimeoutMs = connectTimeoutMs;
        this.readTimeoutMs = readTimeoutMs;
        this.retries = retries;
    }

    public String url() {
        return url;
    }

    String body(List<ChatMessage> messages) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        List<Object> list = new ArrayList<>();
        for (ChatMessage m : messages) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("role", m.role);
            item.put("content", m.content);
            list.add(item);
        }
        body.put("messages", list);
        if (maxTokens != null) {
            body.put("max_tokens", (long) maxTokens);
        }
        body.put("stream", Boolean.TRUE);
        Map<String, Object> options = new LinkedHashMap<>();
        options.put("include_usage", Boolean.TRUE);
        body.put("stream_options", options);
        return Json.write(body);
    }

    /** Streams the answer to {@code listener} and returns the whole reply. */
    public Reply stream(List<ChatMessage> messages, DeltaListener listener) {
        byte[] payload = body(messages).getBytes(StandardCharsets.UTF_8);
        EscalationException last = null;
        for (int attempt = 1; attempt <= retries + 1; attempt++) {
            if (attempt > 1) {
                sleep(250L << (attempt - 2)); // 250 ms, 500 ms, ...
            }
            HttpURLConnection conn = null;
            try {
                conn = (HttpURLConnection) new URL(url).openConnection();
                conn.setRequestMethod("POST");
                conn.setConnectTimeout(connectTimeoutMs);
                conn.setReadTimeout(readTimeoutMs);
                conn.setDoOutput(true);
                conn.setRequestProperty("Content-Type", "application/json");
                conn.setRequestProperty("Accept", "text/event-stream");
                if (apiKey != null && !apiKey.isEmpty()) {
                    conn.setRequestProperty("Authorization", "Bearer " + apiKey);
                }
                conn.setFixedLengthStreamingMode(payload.length);
                try (OutputStream out = conn.getOutputStream()) {
                    out.write(payload);
                }
                int status = conn.getResponseCode();
                if (status / 100 != 2) {
                    String detail = status == 401 || status == 403 ? "check the API key" : errorText(conn);
                    last = new CloudHttpException(status, "the cloud answered HTTP " + status + " (" + detail + ")");
                    if (status != 429 && status < 500) {
                        throw last; // a client error does not get better by retrying
                    }
                    continue;
                }
                try (InputStream in = conn.getInputStream()) {
                    return read(in, listener, attempt);
                }
            } catch (SocketTimeoutException e) {
                last = new CloudTimeoutException("the cloud did not answer within " + readTimeoutMs / 1000.0 + " s at " + url);
            } catch (IOException e) {
                last = new EscalationException("cannot reach the cloud at " + url + " (" + e + ")", e);
            } finally {
                if (conn != null) {
                    conn.disconnect();
                }
            }
        }
        throw last;
    }

    private static String errorText(HttpURLConnection conn) {
        try (InputStream err = conn.getErrorStream()) {
            if (err == null) {
                return "no body";
            }
            String text = IO.readUtf8(err);
            return text.length() > 200 ? text.substring(0, 200) : text;
        } catch (IOException e) {
            return "no body";
        }
    }

    /** Reads "data: {json}" events until "data: [DONE]" (WHATWG server-sent events; comments and other fields skipped). */
    static Reply read(InputStream in, DeltaListener listener, int attempts) throws IOException {
        BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        StringBuilder text = new StringBuilder();
        StringBuilder data = new StringBuilder();
        boolean hasData = false;
        int promptTokens = 0;
        int completionTokens = 0;
        String line;
        while ((line = reader.readLine()) != null) {
            if (line.isEmpty()) {
                if (!hasData) {
                    continue;
                }
                String event = data.toString();
                data.setLength(0);
                hasData = false;
                if ("[DONE]".equals(event)) {
                    return new Reply(text.toString(), promptTokens, completionTokens, attempts);
                }
                Map<String, Object> obj;
                try {
                    obj = Json.object(Json.parse(event), "stream event");
                } catch (EdgekitException e) {
                    throw new CloudProtocolException("the cloud sent malformed JSON in its stream (" + e.getMessage() + ")");
                }
                if (obj.get("error") != null) {
                    throw new CloudProtocolException("the cloud reported an error: " + Json.write(obj.get("error")));
                }
                Object usage = obj.get("usage");
                if (usage instanceof Map) {
                    Map<?, ?> u = (Map<?, ?>) usage;
                    promptTokens = u.get("prompt_tokens") instanceof Long ? ((Long) u.get("prompt_tokens")).intValue() : promptTokens;
                    completionTokens = u.get("completion_tokens") instanceof Long ? ((Long) u.get("completion_tokens")).intValue() : completionTokens;
                }
                Object choices = obj.get("choices");
                if (choices instanceof List && !((List<?>) choices).isEmpty()) {
                    Object delta = ((Map<?, ?>) ((List<?>) choices).get(0)).get("delta");
                    Object content = delta instanceof Map ? ((Map<?, ?>) delta).get("content") : null;
                    if (content instanceof String && !((String) content).isEmpty()) {
                        text.append((String) content);
                        if (listener != null) {
                            listener.onDelta((String) content);
                        }
                    }
                }
                continue;
            }
            if (line.startsWith(":")) {
                continue; // comment / keep-alive
            }
            int colon = line.indexOf(':');
            String field = colon < 0 ? line : line.substring(0, colon);
            String value = colon < 0 ? "" : line.substring(colon + 1);
            if (value.startsWith(" ")) {
                value = value.substring(1);
            }
            if ("data".equals(field)) {
                if (hasData) {
                    data.append('\n');
                }
                data.append(value);
                hasData = true;
            }
        }
        throw new CloudProtocolException("the cloud stream ended before [DONE] (connection cut after "
                + text.length() + " characters)");
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EscalationException("interrupted while waiting to retry the cloud");
        }
    }
}

package dev.edgekit.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.edgekit.core.bundle.BundleManifest;
import dev.edgekit.core.cloud.ChatMessage;
import dev.edgekit.core.cloud.OpenAiClient;
import dev.edgekit.core.generate.Backend;
import dev.edgekit.core.policy.Decision;
import dev.edgekit.core.policy.Policy;
import dev.edgekit.core.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/**
 * The app's hybrid flow with the real default tokenizer, a real policy file written by the Python SDK
 * (-Dedgekit.policy: the default policy plus a keyword rule "cloud") and a cloud on 127.0.0.1: local answers stay
 * local; a routed question goes to the cloud redacted and comes back restored; a dead cloud falls back to the local
 * answer; a policy with a hidden-state probe reads the prompt's state from the backend after prefill and escalates on
 * it before generating.
 */
public class AssistantTest {
    private HttpServer cloud;
    private String cloudUrl;
    private final List<String> received = Collections.synchronizedList(new ArrayList<String>());
    private Tokenizer tokenizer;
    private Policy policy;

    private static final String MANIFEST = "{\"format\": \"edgekit-bundle\", \"schema_version\": 1, \"backend\": \"onnx\","
            + " \"architecture\": {\"family\": \"llama\", \"num_layers\": 1, \"num_kv_heads\": 1, \"head_dim\": 8, \"vocab_size\": 49152},"
            + " \"files\": [], \"backend_config\": {\"model_file\": \"model.onnx\", \"cache\": {\"num_layers\": 1, \"num_kv_heads\": 1, \"head_dim\": 8}},"
            + " \"context\": {\"max_context\": 2048}, \"tokenizer\": {\"bos_id\": 1, \"add_bos\": false, \"eos_ids\": [2]},"
            + " \"chat_template\": \"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\\\n' + message['content'] + '<|im_end|>' + '\\\\n'}}{% endfor %}\"}";

    @Before
    public void setUp() throws IOException {
        tokenizer = Tokenizer.fromFile(TestFiles.property("edgekit.tokenizer"));
        policy = Policy.parse(new String(Files.readAllBytes(TestFiles.property("edgekit.policy")), StandardCharsets.UTF_8), "policy.json");
        cloud = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        cloud.createContext("/v1/chat/completions", ex -> {
            String body = new String(IO.readAll(ex.getRequestBody()), StandardCharsets.UTF_8);
            received.add(body);
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                // the cloud refers to the placeholder it was given; the app must put the address back
                for (String piece : new String[] {"I will write to [EMA", "IL_1] today."}) {
                    out.write(("data: {\"choices\": [{\"delta\": {\"content\": " + Json.write(piece) + "}}]}\n\n").getBytes(StandardCharsets.UTF_8));
                }
                out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            }
        });
        cloud.start();
        cloudUrl = "http://127.0.0.1:" + cloud.getAddress().getPort();
    }

    @After
    public void tearDown() {
        cloud.stop(0);
    }

    private Assistant assistant(String localAnswer, String question) {
        BundleManifest manifest = BundleManifest.parse(MANIFEST, "test manifest");
        int[] ids = tokenizer.encode(localAnswer);
        int[] script = java.util.Arrays.copyOf(ids, ids.length + 1);
        script[ids.length] = 2; // eos
        int promptLength = new Assistant(manifest, tokenizer, new GeneratorTest.ScriptedBackend(new int[] {2}, 0, 2048, tokenizer.vocabSize()),
                null, null, false).promptIds(Collections.singletonList(new ChatMessage("user", question))).length;
        GeneratorTest.ScriptedBackend backend = new GeneratorTest.ScriptedBackend(script, promptLength, 2048, tokenizer.vocabSize());
        OpenAiClient client = new OpenAiClient(cloudUrl, "cloud-model", null, null, 2000, 5000, 0);
        return new Assistant(manifest, tokenizer, backend, policy, client, true);
    }

    private static final String QUESTION = "Who wrote Hamlet?";

    private static final class Recorder implements Assistant.Listener {
        final StringBuilder shown = new StringBuilder();
        final List<Assistant.Route> restarts = new ArrayList<>();

        @Override
        public void onText(String piece) {
            shown.append(piece);
        }

        @Override
        public void onRestart(Assistant.Route route, Decision decision) {
            restarts.add(route);
            shown.setLength(0);
        }
    }

    @Test
    public void aConfidentLocalAnswerStaysLocal() {
        Recorder rec = new Recorder();
        Assistant.Answer a = assistant("Hamlet was written by William Shakespeare.", QUESTION)
                .ask(Collections.singletonList(new ChatMessage("user", QUESTION)), rec, null);
        assertEquals(Assistant.Route.LOCAL, a.route);
        assertEquals("Hamlet was written by William Shakespeare.", a.text);
        assertEquals(a.text, rec.shown.toString());
        assertEquals("post:accept", a.decision.rule);
        assertEquals(policy.classify(QUESTION), a.decision.family);
        assertTrue(received.isEmpty());
    }

    @Test
    public void aRoutedQuestionGoesToTheCloudRedactedAndComesBackRestored() {
        Recorder rec = new Recorder();
        String q = "Cloud please: mail jane.doe@example.com the summary.";
        Assistant.Answer a = assistant("unused", q).ask(Collections.singletonList(new ChatMessage("user", q)), rec, null);
        assertEquals(Assistant.Route.CLOUD, a.route);
        assertEquals("router:rule:ask_the_cloud", a.decision.rule);
        assertNull("the router escalated before generating", a.local);
        assertEquals("I will write to jane.doe@example.com today.", a.text);
        assertEquals(a.text, rec.shown.toString());
        assertEquals(Integer.valueOf(1), a.redacted.get("email"));
        assertEquals(1, received.size());
        assertFalse("the address left the phone", received.get(0).contains("jane.doe@example.com"));
        assertTrue(received.get(0), received.get(0).contains("[EMAIL_1]"));
    }

    @Test
    public void aDeadCloudFallsBackToTheLocalAnswer() {
        cloud.stop(0);
        Recorder rec = new Recorder();
        String q = "cloud: are you there?";
        Assistant.Answer a = assistant("I cannot reach anyone.", q).ask(Collections.singletonList(new ChatMessage("user", q)), rec, null);
        assertEquals(Assistant.Route.FALLBACK, a.route);
        assertEquals("I cannot reach anyone.", a.text);
        assertEquals(a.text, rec.shown.toString());
        assertNotNull(a.cloudError);
        assertTrue(a.cloudError, a.cloudError.contains("cannot reach the cloud"));
        assertEquals(Collections.singletonList(Assistant.Route.CLOUD), rec.restarts.subList(0, 1));
    }

    /** The scripted backend, plus a fixed prompt hidden state and a count of the prefills made for it. */
    private static final class ProbedBackend implements Backend {
        final Backend inner;
        final float[] hidden;
        int probed;

        ProbedBackend(Backend inner, float[] hidden) {
            this.inner = inner;
            this.hidden = hidden;
        }

        @Override
        public float[] forward(int[] tokens) {
            return inner.forward(tokens);
        }

        @Override
        public int length() {
            return inner.length();
        }

        @Override
        public int maxContext() {
            return inner.maxContext();
        }

        @Override
        public void reset() {
            inner.reset();
        }

        @Override
        public float[] lastHidden() {
            return hidden; // the same state at every position: the answer's mean is this state
        }

        @Override
        public float[] promptHidden(int[] prompt) {
            probed++;
            reset();
            inner.forward(prompt);
            return hidden;
        }

        @Override
        public void close() {
        }
    }

    /** The test policy file (-Dedgekit.policy) as a map to change. */
    private static Map<String, Object> testPolicyData() throws IOException {
        return new LinkedHashMap<>(TestFiles.object(Json.parse(new String(
                Files.readAllBytes(TestFiles.property("edgekit.policy")), StandardCharsets.UTF_8))));
    }

    /** The test policy file with a probe whose score is {@code bias + h[0] - h[1]} (escalate at p >= 0.5). */
    private static Policy withProbe(double bias) throws IOException {
        Map<String, Object> data = testPolicyData();
        Map<String, Object> probe = new LinkedHashMap<>();
        probe.put("state", "prompt");
        probe.put("hidden_size", 2L);
        probe.put("weights", Arrays.<Object>asList(1.0, -1.0));
        probe.put("bias", bias);
        probe.put("threshold", 0.5);
        data.put("version", 2L);
        data.put("probe", probe);
        return Policy.fromMap(data, "probe policy");
    }

    private Assistant.Answer askProbed(Policy probePolicy, ProbedBackend backend, String question) {
        BundleManifest manifest = BundleManifest.parse(MANIFEST, "test manifest");
        OpenAiClient client = new OpenAiClient(cloudUrl, "cloud-model", null, null, 2000, 5000, 0);
        return new Assistant(manifest, tokenizer, backend, probePolicy, client, false)
                .ask(Collections.singletonList(new ChatMessage("user", question)), new Recorder(), null);
    }

    @Test
    public void theProbeEscalatesOnThePromptHiddenStateBeforeGenerating() throws IOException {
        int[] answer = Arrays.copyOf(tokenizer.encode("Shakespeare."), tokenizer.encode("Shakespeare.").length + 1);
        answer[answer.length - 1] = 2;
        ProbedBackend backend = new ProbedBackend(new GeneratorTest.ScriptedBackend(answer, 0, 2048, tokenizer.vocabSize()),
                new float[] {2.0f, -1.0f});
        Assistant.Answer a = askProbed(withProbe(0.0), backend, QUESTION); // score 3: p 0.95
        assertEquals(Assistant.Route.CLOUD, a.route);
        assertEquals("router:probe", a.decision.rule);
        assertEquals(0.9526, a.decision.probability, 1e-4);
        assertNull("the probe escalated before generating", a.local);
        assertEquals(1, backend.probed);

        ProbedBackend low = new ProbedBackend(new GeneratorTest.ScriptedBackend(answer, 0, 2048, tokenizer.vocabSize()),
                new float[] {2.0f, -1.0f});
        Assistant.Answer kept = askProbed(withProbe(-6.0), low, QUESTION); // score -3: p 0.05, generated locally
        assertNotNull("the probe kept the question local", kept.local);
        assertFalse(kept.decision.rule, "router:probe".equals(kept.decision.rule));
        assertEquals(1, low.probed);
    }

    /** The test policy file with an answer probe {@code bias + m[0] - m[1]}, the only feature of its own model. */
    private static Policy withAnswerProbe(double bias) throws IOException {
        Map<String, Object> data = testPolicyData();
        Map<String, Object> probe = new LinkedHashMap<>();
        probe.put("state", "answer_mean");
        probe.put("hidden_size", 2L);
        probe.put("weights", Arrays.<Object>asList(1.0, -1.0));
        probe.put("bias", bias);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("features", Arrays.<Object>asList("answer_probe"));
        model.put("mean", Arrays.<Object>asList(0.0));
        model.put("std", Arrays.<Object>asList(1.0));
        model.put("weights", Arrays.<Object>asList(1.0));
        model.put("bias", 0.0);
        model.put("threshold", 0.5);
        probe.put("models", Collections.singletonMap("default", model));
        data.put("version", 3L);
        data.put("answer_probe", probe);
        return Policy.fromMap(data, "answer probe policy");
    }

    @Test
    public void theAnswerProbeReadsTheMeanStateOfTheGeneratedAnswer() throws IOException {
        int[] answer = Arrays.copyOf(tokenizer.encode("Shakespeare."), tokenizer.encode("Shakespeare.").length + 1);
        answer[answer.length - 1] = 2;
        float[] state = {2.0f, -1.0f};
        ProbedBackend backend = new ProbedBackend(new GeneratorTest.ScriptedBackend(answer, 0, 2048, tokenizer.vocabSize()), state);
        Assistant.Answer a = askProbed(withAnswerProbe(0.0), backend, QUESTION); // score 3: p 0.95
        assertNotNull("generated locally first", a.local);
        assertArrayEquals(state, a.local.answerHiddenMean, 1e-6f);
        assertEquals(Assistant.Route.CLOUD, a.route);
        assertEquals("post:model:" + a.decision.family, a.decision.rule);
        assertEquals(0.9526, a.decision.probability, 1e-4);
        assertEquals(0, backend.probed);

        ProbedBackend low = new ProbedBackend(new GeneratorTest.ScriptedBackend(answer, 0, 2048, tokenizer.vocabSize()), state);
        Assistant.Answer kept = askProbed(withAnswerProbe(-6.0), low, QUESTION); // score -3: p 0.05, kept
        assertEquals(Assistant.Route.LOCAL, kept.route);
        assertEquals("post:accept", kept.decision.rule);
        assertEquals(0.0474, kept.decision.probability, 1e-4);
    }

    /** The test policy file with an early model of p = 0.5 on every prefix: threshold 0 stops, 1 never does. */
    private static Policy withEarly(double threshold) throws IOException {
        Map<String, Object> data = testPolicyData();
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("features", Arrays.<Object>asList("prefix_tokens"));
        model.put("mean", Arrays.<Object>asList(0.0));
        model.put("std", Arrays.<Object>asList(1.0));
        model.put("weights", Arrays.<Object>asList(0.0));
        model.put("bias", 0.0);
        model.put("threshold", threshold);
        Map<String, Object> early = new LinkedHashMap<>();
        early.put("max_tokens", 2L);
        early.put("model", model);
        data.put("early", early);
        return Policy.fromMap(data, "early policy");
    }

    private static final String ANSWER = "Hamlet was written by William Shakespeare.";

    private Answered askEarly(Policy earlyPolicy) {
        BundleManifest manifest = BundleManifest.parse(MANIFEST, "test manifest");
        int[] ids = tokenizer.encode(ANSWER);
        int[] script = Arrays.copyOf(ids, ids.length + 1);
        script[ids.length] = 2; // eos
        List<ChatMessage> messages = Collections.singletonList(new ChatMessage("user", QUESTION));
        int promptLength = new Assistant(manifest, tokenizer, new GeneratorTest.ScriptedBackend(new int[] {2}, 0, 2048,
                tokenizer.vocabSize()), null, null, false).promptIds(messages).length;
        GeneratorTest.ScriptedBackend backend = new GeneratorTest.ScriptedBackend(script, promptLength, 2048, tokenizer.vocabSize());
        OpenAiClient client = new OpenAiClient(cloudUrl, "cloud-model", null, null, 2000, 5000, 0);
        Recorder rec = new Recorder();
        Assistant.Answer a = new Assistant(manifest, tokenizer, backend, earlyPolicy, client, false).ask(messages, rec, null);
        return new Answered(a, rec, backend.length() - promptLength, ids.length);
    }

    private static final class Answered {
        final Assistant.Answer answer;
        final Recorder shown;
        final int decoded; // forwards after the prompt: the tokens the device computed past the first
        final int fullTokens;

        Answered(Assistant.Answer answer, Recorder shown, int decoded, int fullTokens) {
            this.answer = answer;
            this.shown = shown;
            this.decoded = decoded;
            this.fullTokens = fullTokens;
        }
    }

    @Test
    public void theEarlyModelStopsAfterTheFirstTokenAndTheCloudAnswers() throws IOException {
        Answered r = askEarly(withEarly(0.0));
        assertEquals(Assistant.Route.CLOUD, r.answer.route);
        assertEquals("early:model:" + policy.classify(QUESTION), r.answer.decision.rule);
        assertEquals("early", r.answer.decision.stage);
        assertEquals(1, r.answer.earlyTokens);
        assertNull("the stopped answer is not kept", r.answer.local);
        assertEquals("no token was computed after the stop", 0, r.decoded);
        assertTrue(r.fullTokens > 3);
        assertEquals(r.answer.text, r.shown.shown.toString());
        assertEquals(Collections.singletonList(Assistant.Route.CLOUD), r.shown.restarts);
        assertEquals(1, received.size());
    }

    @Test
    public void anEarlyModelThatDoesNotFireLeavesTheLocalAnswerWhole() throws IOException {
        Answered r = askEarly(withEarly(1.0));
        assertEquals(Assistant.Route.LOCAL, r.answer.route);
        assertEquals(ANSWER, r.answer.text);
        assertEquals(0, r.answer.earlyTokens);
        assertTrue(received.isEmpty());
    }

    @Test
    public void anEarlyStopWithTheCloudGoneStillGivesTheWholeLocalAnswer() throws IOException {
        cloud.stop(0);
        Answered r = askEarly(withEarly(0.0));
        assertEquals(Assistant.Route.FALLBACK, r.answer.route);
        assertEquals(ANSWER, r.answer.text);
        assertEquals(ANSWER, r.shown.shown.toString());
        assertEquals(1, r.answer.earlyTokens);
        assertNotNull(r.answer.cloudError);
    }

    @Test
    public void aQuestionARuleEscalatesIsNeverPrefilledForTheProbe() throws IOException {
        ProbedBackend backend = new ProbedBackend(new GeneratorTest.ScriptedBackend(new int[] {2}, 0, 2048, tokenizer.vocabSize()),
                new float[] {2.0f, -1.0f});
        Assistant.Answer a = askProbed(withProbe(0.0), backend, "Cloud please: what is new?");
        assertEquals("router:rule:ask_the_cloud", a.decision.rule);
        assertEquals(0, backend.probed);
    }
}

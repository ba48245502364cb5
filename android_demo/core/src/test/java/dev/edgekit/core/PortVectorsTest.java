package dev.edgekit.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import dev.edgekit.core.generate.FinishReason;
import dev.edgekit.core.generate.Sampler;
import dev.edgekit.core.generate.SamplingOptions;
import dev.edgekit.core.generate.TokenInfo;
import dev.edgekit.core.policy.Redactor;
import dev.edgekit.core.policy.Signals;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.Before;
import org.junit.Test;

/**
 * The Java ports of the policy signals, the redactor and the sampler against reference results made at test time
 * by the real Python code (tests/android/reference_vectors.py): -Dedgekit.portVectors=ports.json.
 */
public class PortVectorsTest {
    private Map<String, Object> vectors;

    @Before
    public void load() {
        vectors = TestFiles.object(TestFiles.readJson(TestFiles.property("edgekit.portVectors")));
    }

    private static void assertClose(String where, Object expected, double got) {
        assertClose(where, expected, got, 1e-9);
    }

    private static void assertClose(String where, Object expected, double got, double tol) {
        double e = Json.number(expected, where);
        assertTrue(where + ": python " + e + ", java " + got, Math.abs(e - got) <= tol * Math.max(1.0, Math.abs(e)));
    }

    @Test
    public void signalsEqualPython() {
        List<Object> cases = TestFiles.array(vectors.get("signals"));
        assertTrue(cases.size() > 5);
        for (Object item : cases) {
            Map<String, Object> c = TestFiles.object(item);
            String question = (String) c.get("question");
            Map<String, Object> result = TestFiles.object(c.get("result"));
            List<TokenInfo> tokens = new ArrayList<>();
            int id = 0;
            for (Object t : TestFiles.array(result.get("tokens"))) {
                Map<String, Object> tok = TestFiles.object(t);
                tokens.add(new TokenInfo(id++, (String) tok.get("text"), Json.number(tok.get("logprob"), "logprob"),
                        Json.number(tok.get("entropy"), "entropy")));
            }
            FinishReason finish = FinishReason.valueOf(((String) result.get("finish_reason")).toUpperCase(java.util.Locale.ROOT));
            Map<String, Double> pre = Signals.pre(question);
            Map<String, Double> post = Signals.post((String) result.get("text"), tokens, finish,
                    Boolean.TRUE.equals(result.get("context_overflow")), (String) c.get("answer_kind"));
            Map<String, Object> expected = TestFiles.object(c.get("expected"));
            for (Map.Entry<String, Object> e : TestFiles.object(expected.get("pre")).entrySet()) {
                assertClose(question + " pre " + e.getKey(), e.getValue(), pre.get(e.getKey()));
            }
            for (Map.Entry<String, Object> e : TestFiles.object(expected.get("post")).entrySet()) {
                assertClose(question + " post " + e.getKey(), e.getValue(), post.get(e.getKey()));
            }
        }
    }

    @Test
    public void redactionEqualsPython() {
        for (Object item : TestFiles.array(vectors.get("redaction"))) {
            Map<String, Object> c = TestFiles.object(item);
            Redactor.Redaction redaction = new Redactor.Redaction();
            String text = (String) c.get("text");
            assertEquals(text, c.get("redacted"), new Redactor().redact(text, redaction));
            assertEquals(text, c.get("mapping"), new java.util.LinkedHashMap<String, Object>(redaction.mapping));
            assertEquals("restore " + text, text, redaction.restore((String) c.get("redacted")));
        }
    }

    @Test
    public void streamRestorerRestoresSplitPlaceholders() {
        Redactor.Redaction redaction = new Redactor.Redaction();
        String original = "write to jane.doe@example.com now";
        String redacted = new Redactor().redact(original, redaction);
        Redactor.StreamRestorer restorer = new Redactor.StreamRestorer(redaction);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < redacted.length(); i += 3) {
            out.append(restorer.feed(redacted.substring(i, Math.min(redacted.length(), i + 3))));
        }
        out.append(restorer.flush());
        assertEquals(original, out.toString());
    }

    @Test
    public void samplerEqualsPython() {
        for (Object item : TestFiles.array(vectors.get("sampler"))) {
            Map<String, Object> c = TestFiles.object(item);
            List<Object> raw = TestFiles.array(c.get("logits"));
            float[] logits = new float[raw.size()];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) Json.number(raw.get(i), "logit");
            }
            Set<Integer> history = new HashSet<>();
            for (int id : TestFiles.ints(c.get("history"))) {
                history.add(id);
            }
            double penalty = Json.number(c.get("repetition_penalty"), "repetition_penalty");
            Sampler sampler = new Sampler(new SamplingOptions(0, 0, 1, 0, penalty, null));
            Sampler.Choice choice = sampler.sample(logits, history);
            assertEquals("greedy token", Json.integer(c.get("greedy_token"), "greedy_token"), choice.token);
            // the Python runtime sums exp() in float32 for speed (confidence.token_stats); Java uses double: 1e-6
            assertClose("logprob", c.get("logprob"), choice.logprob, 1e-6);
            assertClose("entropy", c.get("entropy"), choice.entropy, 1e-6);
            int[] probes = TestFiles.ints(c.get("probe_ids"));
            List<Object> lps = TestFiles.array(c.get("probe_logprobs"));
            for (int i = 0; i < probes.length; i++) {
                assertClose("logprob of " + probes[i], lps.get(i), Sampler.tokenStats(logits, probes[i])[0], 1e-6);
            }
        }
    }

    @Test
    public void chatFormatEqualsTheJinjaRendering() {
        Map<String, Object> chat = TestFiles.object(vectors.get("chat"));
        dev.edgekit.core.generate.ChatFormat format = dev.edgekit.core.generate.ChatFormat.forTemplate((String) chat.get("template"));
        for (Object item : TestFiles.array(chat.get("cases"))) {
            Map<String, Object> c = TestFiles.object(item);
            List<dev.edgekit.core.cloud.ChatMessage> messages = new ArrayList<>();
            for (Object m : TestFiles.array(c.get("messages"))) {
                Map<String, Object> msg = TestFiles.object(m);
                messages.add(new dev.edgekit.core.cloud.ChatMessage((String) msg.get("role"), (String) msg.get("content")));
            }
            assertEquals(Json.write(c.get("messages")), c.get("rendered"),
                    format.render(messages, Boolean.TRUE.equals(c.get("generation_prompt"))));
        }
    }

    @Test
    public void badSamplingOptionsAreRefusedWithTheRule() {
        try {
            new SamplingOptions(0.7, 0, 1.5, 0, 1, null);
            throw new AssertionError("top_p=1.5 accepted");
        } catch (GenerationException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("top_p=1.5 is invalid: use a number in (0, 1]"));
        }
    }
}

package dev.edgekit.core;

import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import dev.edgekit.core.policy.Decision;
import dev.edgekit.core.policy.Policy;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.Test;

/**
 * A version 2 policy with a hidden-state probe: the Java policy decides exactly as the Python policy on recorded
 * signals and hidden states (-Dedgekit.probeVectors, made by tests/android/reference_vectors.py with the real Python
 * policy), and malformed probes are refused by name (-Dedgekit.probeV1: a version 1 file that carries a probe).
 */
public class PolicyProbeTest {
    @Test
    public void decisionsEqualThePythonPolicy() {
        Map<String, Object> file = TestFiles.object(TestFiles.readJson(TestFiles.property("edgekit.probeVectors")));
        Policy policy = Policy.fromMap(TestFiles.object(file.get("policy")), "probe vectors policy");
        assertTrue("the policy must carry a probe", policy.probe != null);
        List<Object> vectors = TestFiles.array(file.get("vectors"));
        List<String> bad = new ArrayList<>();
        Set<String> rules = new HashSet<>();
        for (Object item : vectors) {
            Map<String, Object> v = TestFiles.object(item);
            Map<String, Double> signals = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : TestFiles.object(v.get("signals")).entrySet()) {
                signals.put(e.getKey(), Json.number(e.getValue(), e.getKey()));
            }
            List<Object> h = TestFiles.array(v.get("hidden"));
            float[] hidden = new float[h.size()];
            for (int i = 0; i < hidden.length; i++) {
                hidden[i] = (float) Json.number(h.get(i), "hidden");
            }
            String question = (String) v.get("question");
            Decision d = policy.decideRecorded(question, signals, (String) v.get("privacy"), hidden,
                    TestFiles.floats(v.get("answer_hidden")));
            rules.add(d.rule);
            String problem = PolicyVectorsTest.compare(TestFiles.object(v.get("expected")), d);
            if (problem != null) {
                bad.add(Json.write(question.length() > 60 ? question.substring(0, 60) : question) + ": " + problem);
            }
        }
        assertTrue("the probe must escalate some questions: " + rules, rules.contains("router:probe"));
        assertTrue(bad.size() + " of " + vectors.size() + " decisions differ from Python:\n" + String.join("\n", bad), bad.isEmpty());
    }

    @Test
    public void anAnswerProbeOutsideVersionThreeOrWithoutItsModelsIsRefused() {
        Map<String, Object> file = TestFiles.object(TestFiles.readJson(TestFiles.property("edgekit.probeVectors")));
        Map<String, Object> v2 = new LinkedHashMap<>(TestFiles.object(file.get("policy")));
        v2.put("version", 2L);
        try {
            Policy.fromMap(v2, "v2 policy");
            fail("a version 2 policy with an answer probe was accepted");
        } catch (EdgekitException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("needs policy version 3"));
        }
        // the probe's models belong to the probe: a signal model that reads its score is refused
        Map<String, Object> moved = new LinkedHashMap<>(TestFiles.object(file.get("policy")));
        Map<String, Object> probe = TestFiles.object(moved.get("answer_probe"));
        moved.put("post", java.util.Collections.singletonMap("models", probe.get("models")));
        try {
            Policy.fromMap(moved, "policy with the probe's models as its signal models");
            fail("signal models that read the answer probe were accepted");
        } catch (EdgekitException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("only the models of \"answer_probe\" read"));
        }
    }

    @Test
    public void aProbeInAVersionOneFileIsRefused() {
        try {
            Policy.fromMap(TestFiles.object(TestFiles.readJson(TestFiles.property("edgekit.probeV1"))), "v1 policy");
            fail("a version 1 policy with a probe was accepted");
        } catch (EdgekitException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("needs policy version 2"));
        }
    }

    @Test
    public void aHiddenStateOfAnotherSizeIsRefusedByName() {
        Map<String, Object> file = TestFiles.object(TestFiles.readJson(TestFiles.property("edgekit.probeVectors")));
        Policy policy = Policy.fromMap(TestFiles.object(file.get("policy")), "probe vectors policy");
        try {
            policy.probe.probability(new float[policy.probe.hiddenSize() + 1]);
            fail("a hidden state of the wrong size was scored");
        } catch (EdgekitException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("calibrated for another model"));
        }
    }
}

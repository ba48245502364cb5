package dev.edgekit.core;

import static org.junit.Assert.assertTrue;

import dev.edgekit.core.policy.Decision;
import dev.edgekit.core.policy.Policy;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The Java policy must decide exactly as the Python policy on tests/vectors/policy_vectors.json (recorded signals
 * -> decisions of the embedded policy file; made by sdk/edgekit/sdk/policy/vectors.py).
 */
public class PolicyVectorsTest {
    private static Map<String, Object> vectorsFile() {
        return TestFiles.object(TestFiles.readJson(TestFiles.property("edgekit.policyVectors")));
    }

    private static Policy policyOf(Map<String, Object> file) {
        return Policy.fromMap(TestFiles.object(file.get("policy")), "policy_vectors.json policy");
    }

    private static Map<String, Double> signalsOf(Map<String, Object> vector) {
        Map<String, Double> signals = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : TestFiles.object(vector.get("signals")).entrySet()) {
            signals.put(e.getKey(), Json.number(e.getValue(), e.getKey()));
        }
        return signals;
    }

    @Test
    public void decisionsEqualThePythonPolicy() {
        Map<String, Object> file = vectorsFile();
        Policy policy = policyOf(file);
        List<Object> vectors = TestFiles.array(file.get("vectors"));
        assertTrue("no vectors", vectors.size() >= 5);
        List<String> bad = new ArrayList<>();
        for (Object item : vectors) {
            Map<String, Object> v = TestFiles.object(item);
            Map<String, Double> signals = signalsOf(v);
            String question = (String) v.get("question");
            Decision d = policy.decideRecorded(question, signals, (String) v.get("privacy"), null,
                    TestFiles.floats(v.get("answer_hidden")));
            Map<String, Object> exp = TestFiles.object(v.get("expected"));
            String problem = compare(exp, d);
            if (problem != null) {
                bad.add(Json.write(question.length() > 60 ? question.substring(0, 60) : question) + " (" + v.get("privacy") + "): " + problem);
            }
        }
        assertTrue(bad.size() + " of " + vectors.size() + " decisions differ from Python:\n" + String.join("\n", bad), bad.isEmpty());
    }

    @Test
    public void earlyHandOffEqualsThePythonPolicy() {
        Map<String, Object> file = vectorsFile();
        Policy policy = policyOf(file);
        List<Object> vectors = TestFiles.array(file.get("early_vectors"));
        List<String> bad = new ArrayList<>();
        int stops = 0;
        for (Object item : vectors) {
            Map<String, Object> v = TestFiles.object(item);
            Map<String, Double> signals = signalsOf(v);
            String question = (String) v.get("question");
            Decision d = policy.earlyDecision(policy.classify(question), signals);
            stops += d.escalate ? 1 : 0;
            String problem = compare(TestFiles.object(v.get("expected")), d);
            if (problem != null) {
                bad.add(Json.write(question.length() > 60 ? question.substring(0, 60) : question) + " after "
                        + signals.get("prefix_tokens") + " tokens: " + problem);
            }
        }
        assertTrue("the early vectors must stop and continue", stops > 0 && stops < vectors.size());
        assertTrue(bad.size() + " of " + vectors.size() + " early decisions differ from Python:\n" + String.join("\n", bad), bad.isEmpty());
    }

    static String compare(Map<String, Object> exp, Decision d) {
        if (!exp.get("escalate").equals(d.escalate)) {
            return "escalate: python " + exp.get("escalate") + ", java " + d.escalate;
        }
        for (String[] pair : new String[][] {{"stage", d.stage}, {"rule", d.rule}, {"family", d.family}}) {
            if (!exp.get(pair[0]).equals(pair[1])) {
                return pair[0] + ": python " + exp.get(pair[0]) + ", java " + pair[1];
            }
        }
        String p = close(exp.get("probability"), d.probability, "probability");
        return p != null ? p : close(exp.get("threshold"), d.threshold, "threshold");
    }

    private static String close(Object expected, Double got, String name) {
        if (expected == null || got == null) {
            return expected == null && got == null ? null : name + ": python " + expected + ", java " + got;
        }
        double e = ((Number) expected).doubleValue();
        return Math.abs(e - got) <= 1e-9 ? null : name + ": python " + e + ", java " + got;
    }
}

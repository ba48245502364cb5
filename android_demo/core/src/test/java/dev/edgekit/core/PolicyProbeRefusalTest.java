package dev.edgekit.core;

import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import dev.edgekit.core.policy.Policy;
import org.junit.Test;

/**
 * A version 2 policy with a hidden-state probe (written by `edgekit calibrate --domain`) needs the prompt's final
 * hidden state, which this app does not read: it must be refused by name, never run as if it had no probe.
 */
public class PolicyProbeRefusalTest {
    @Test
    public void probePolicyIsRefusedWithItsReason() {
        Object data = TestFiles.readJson(TestFiles.property("edgekit.probePolicy"));
        try {
            Policy.fromMap(TestFiles.object(data), "probe policy");
            fail("a policy with a hidden-state probe was accepted");
        } catch (EdgekitException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("hidden-state probe"));
            assertTrue(e.getMessage(), e.getMessage().contains("without a probe"));
        }
    }
}

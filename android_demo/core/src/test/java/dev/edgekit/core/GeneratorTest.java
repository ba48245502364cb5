package dev.edgekit.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import dev.edgekit.core.generate.Backend;
import dev.edgekit.core.generate.FinishReason;
import dev.edgekit.core.generate.GenerationResult;
import dev.edgekit.core.generate.Generator;
import dev.edgekit.core.generate.Sampler;
import dev.edgekit.core.generate.SamplingOptions;
import dev.edgekit.core.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The generation loop's rules (runtime/edgekit/runtime/generation.py) with the real default tokenizer
 * (-Dedgekit.tokenizer) and a scripted backend whose logits put all mass on the next scripted id: the expected
 * texts come from the tokenizer's own decode, cut by the documented stop/eos/length/context rules.
 */
public class GeneratorTest {
    private static Tokenizer tokenizer;

    @BeforeClass
    public static void loadTokenizer() {
        tokenizer = Tokenizer.fromFile(TestFiles.property("edgekit.tokenizer"));
    }

    /** After the prompt, the n-th position predicts the n-th scripted id; counts its cache like a real backend. */
    static final class ScriptedBackend implements Backend {
        private final int[] script;
        private final int promptLength;
        private final int maxContext;
        private final int vocab;
        private int length;

        ScriptedBackend(int[] script, int promptLength, int maxContext, int vocab) {
            this.script = script;
            this.promptLength = promptLength;
            this.maxContext = maxContext;
            this.vocab = vocab;
        }

        @Override
        public float[] forward(int[] tokens) {
            length += tokens.length;
            float[] logits = new float[vocab];
            Arrays.fill(logits, -10f);
            logits[script[Math.min(Math.max(0, length - promptLength), script.length - 1)]] = 10f;
            return logits;
        }

        @Override
        public int length() {
            return length;
        }

        @Override
        public int maxContext() {
            return maxContext;
        }

        @Override
        public void reset() {
            length = 0;
        }

        @Override
        public void close() {
        }
    }

    private static final int EOS = 2;

    private GenerationResult run(String answer, boolean eos, int maxNew, List<String> stop, int maxContext, List<String> pieces) {
        int[] ids = tokenizer.encode(answer);
        int[] script = Arrays.copyOf(ids, ids.length + 1);
        script[ids.length] = eos ? EOS : ids[ids.length - 1];
        int[] prompt = tokenizer.encode("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
        Set<Integer> eosIds = new HashSet<>(Collections.singletonList(EOS));
        ScriptedBackend backend = new ScriptedBackend(script, prompt.length, maxContext, tokenizer.vocabSize());
        return Generator.run(backend, tokenizer, new Sampler(SamplingOptions.greedy()),
                new Generator.Request(prompt, maxNew, eosIds, stop, 4), (piece, token) -> pieces.add(piece), null);
    }

    @Test
    public void eosEndsAndIsNotPartOfTheAnswer() {
        List<String> pieces = new ArrayList<>();
        String answer = "The capital of France is Paris. 🙂";
        GenerationResult r = run(answer, true, 100, Collections.<String>emptyList(), 2048, pieces);
        assertEquals(FinishReason.EOS, r.finishReason);
        assertEquals(answer, r.text);
        assertArrayEquals(tokenizer.encode(answer), r.tokenIds);
        assertEquals(r.text, String.join("", pieces));
        for (String p : pieces) {
            assertFalse("a streamed piece split a character: " + p, p.contains("\uFFFD"));
        }
        assertEquals(r.tokenIds.length, r.confidence.nTokens);
        assertTrue(r.confidence.meanLogprob > -1e-3); // all mass on the scripted token
    }

    @Test
    public void theAnswerStateIsTheMeanOfTheStatesThatDrewItsTokens() {
        // a backend whose "hidden state" is its cache length: the state that drew token i (0-based) is P + i
        String answer = "one two three four";
        int[] ids = tokenizer.encode(answer);
        int[] script = Arrays.copyOf(ids, ids.length + 1);
        script[ids.length] = EOS;
        int[] prompt = tokenizer.encode("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
        ScriptedBackend inner = new ScriptedBackend(script, prompt.length, 2048, tokenizer.vocabSize());
        Backend withState = new Backend() {
            public float[] forward(int[] tokens) {
                return inner.forward(tokens);
            }

            public float[] lastHidden() {
                return new float[] {inner.length(), 1.0f};
            }

            public int length() {
                return inner.length();
            }

            public int maxContext() {
                return inner.maxContext();
            }

            public void reset() {
                inner.reset();
            }

            public void close() {
            }
        };
        Set<Integer> eosIds = new HashSet<>(Collections.singletonList(EOS));
        GenerationResult r = Generator.run(withState, tokenizer, new Sampler(SamplingOptions.greedy()),
                new Generator.Request(prompt, 100, eosIds, Collections.<String>emptyList(), 4), null, null);
        int n = ids.length;
        assertEquals(n, r.tokenIds.length);
        // the state that drew eos is not part of the answer
        assertArrayEquals(new float[] {prompt.length + (n - 1) / 2.0f, 1.0f}, r.answerHiddenMean, 1e-5f);
        GenerationResult none = run(answer, true, 100, Collections.<String>emptyList(), 2048, new ArrayList<>());
        assertEquals("a backend without states gives none", null, none.answerHiddenMean);
    }

    @Test
    public void aStopStringCutsTheTextAndIsNeverStreamed() {
        List<String> pieces = new ArrayList<>();
        String answer = "Paris is the capital.\nUser: and Rome?";
        GenerationResult r = run(answer, true, 100, Collections.singletonList("\nUser:"), 2048, pieces);
        assertEquals(FinishReason.STOP, r.finishReason);
        assertEquals("Paris is the capital.", r.text);
        assertEquals(r.text, String.join("", pieces));
    }

    @Test
    public void maxNewTokensGivesLength() {
        List<String> pieces = new ArrayList<>();
        String answer = "one two three four five six seven eight";
        int[] ids = tokenizer.encode(answer);
        GenerationResult r = run(answer, true, 3, Collections.<String>emptyList(), 2048, pieces);
        assertEquals(FinishReason.LENGTH, r.finishReason);
        assertArrayEquals(Arrays.copyOf(ids, 3), r.tokenIds);
        assertEquals(tokenizer.decode(Arrays.copyOf(ids, 3), true), r.text);
    }

    @Test
    public void aFullContextGivesContext() {
        List<String> pieces = new ArrayList<>();
        int promptLen = tokenizer.encode("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n").length;
        GenerationResult r = run("one two three four five six seven eight", true, 100, Collections.<String>emptyList(), promptLen + 3, pieces);
        assertEquals(FinishReason.CONTEXT, r.finishReason);
        // three tokens fill the cache; the fourth is sampled from the last position and needs no cache slot
        assertEquals(4, r.tokenIds.length);
    }

    @Test
    public void aPromptLongerThanTheContextIsRefusedWithTheFix() {
        try {
            run("x", true, 10, Collections.<String>emptyList(), 4, new ArrayList<String>());
            throw new AssertionError("an overlong prompt was accepted");
        } catch (GenerationException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("shorten the conversation"));
        }
    }
}

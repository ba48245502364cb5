package dev.edgekit.core.generate;

import dev.edgekit.core.SchemaException;
import dev.edgekit.core.cloud.ChatMessage;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Renders a conversation into the prompt string. Java has no Jinja, so the app recognises the ChatML family of
 * templates (SmolLM2, Qwen: {@code <|im_start|>role\ncontent<|im_end|>\n}) and reproduces them, including a default
 * system message the template inserts when the conversation has none; the output is checked against the Python
 * runtime's Jinja rendering of the bundle's own template (tests/android/test_java_core.py). Other templates are
 * refused with a clear message (the web demo renders any template with @huggingface/jinja).
 */
public final class ChatFormat {
    private static final Pattern DEFAULT_SYSTEM = Pattern.compile(
            "<\\|im_start\\|>system(?:\\\\n|\\n)(.*?)<\\|im_end\\|>", Pattern.DOTALL);
    private final String defaultSystem; // null when the template inserts none

    private ChatFormat(String defaultSystem) {
        this.defaultSystem = defaultSystem;
    }

    /** The format for a bundle's chat_template; null template means "no chat format" (plain text prompts). */
    public static ChatFormat forTemplate(String template) {
        if (template == null) {
            return null;
        }
        if (!template.contains("<|im_start|>") || !template.contains("<|im_end|>")) {
            throw new SchemaException("the bundle's chat template is not ChatML (<|im_start|>...<|im_end|>); the Android "
                    + "app renders ChatML templates only; use the web demo or the Python runtime for this model");
        }
        Matcher m = DEFAULT_SYSTEM.matcher(template);
        String system = null;
        if (m.find() && template.contains("messages[0]['role'] != 'system'")) {
            system = m.group(1).replace("\\n", "\n");
        }
        return new ChatFormat(system);
    }

    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        StringBuilder out = new StringBuilder();
        if (defaultSystem != null && (messages.isEmpty() || !"system".equals(messages.get(0).role))) {
            if (!messages.isEmpty()) {
                out.append("<|im_start|>system\n").append(defaultSystem).append("<|im_end|>\n");
            }
        }
        for (ChatMessage m : messages) {
            out.append("<|im_start|>").append(m.role).append('\n').append(m.content).append("<|im_end|>\n");
        }
        if (addGenerationPrompt) {
            out.append("<|im_start|>assistant\n");
        }
        return out.toString();
    }
}

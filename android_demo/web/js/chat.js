// The bundle's chat template (Jinja, from the GGUF/HF tokenizer config) rendered with @huggingface/jinja, the
// renderer transformers.js uses, so the prompt string equals the Python runtime's render_chat.
import { Template } from '@huggingface/jinja';

export class ChatFormat {
  constructor(manifest, tokenizerJson) {
    this.source = manifest.chat_template;
    this.template = this.source ? new Template(this.source) : null;
    // the template reads `tools` (Hugging Face templates take tools= in apply_chat_template); the Python runtime asks
    // jinja2 for the template's undeclared variables, this looks for the name, which is the same on real templates
    this.takesTools = Boolean(this.source && /\btools\b/.test(this.source));
    const byId = new Map((tokenizerJson.added_tokens || []).map((t) => [t.id, t.content]));
    const tok = manifest.tokenizer;
    this.bos = tok.bos_id != null ? byId.get(tok.bos_id) ?? '' : '';
    this.eos = tok.eos_ids?.length ? byId.get(tok.eos_ids[0]) ?? '' : '';
  }

  render(messages, addGenerationPrompt = true, tools = null) {
    if (!this.template) {
      // no template: plain text of the last user message, as the runtime does with chat=False
      return messages.filter((m) => m.role === 'user').map((m) => m.content).join('\n');
    }
    return this.template.render({
      messages,
      add_generation_prompt: addGenerationPrompt,
      bos_token: this.bos,
      eos_token: this.eos,
      ...(tools ? { tools } : {}),
      // raise_exception and strftime_now, the helpers transformers gives templates, are built into @huggingface/jinja
    });
  }
}


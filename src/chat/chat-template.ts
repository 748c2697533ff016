import { Template } from '@huggingface/jinja';
import { InvalidRequestError } from '../errors/engine-error.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { detectToolFamily, type ToolFamily } from './tool-call-format.js';
import { toTemplateInput } from './template-messages.js';
import type { ToolOffer } from './tool-request.js';

/** A call an assistant turn made: `arguments` is a JSON object's text, as OpenAI sends it. */
export interface ChatToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
}

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
  /** an assistant turn's tool calls */
  readonly toolCalls?: readonly ChatToolCall[];
  /** a `tool` turn: the call it answers */
  readonly toolCallId?: string;
  readonly name?: string;
}

/** What a template needs of a tokenizer: the BOS and EOS texts, and whether encoding adds the BOS itself. */
export type TemplateTokenizer = Pick<Tokenizer, 'bosId' | 'eosId' | 'addBos' | 'tokenText'>;

/** What a template needs of a model: the template it carries, if any, and its tokenizer. */
export interface TemplateModel {
  /** GGUF `tokenizer.chat_template` (or tokenizer_config.json's chat_template) */
  readonly chatTemplateSource: string | undefined;
  readonly tokenizer: TemplateTokenizer;
}

/** For models whose GGUF has no `tokenizer.chat_template`: plain "User:" / "Assistant:" turns. */
export const FALLBACK_CHAT_TEMPLATE = `{%- for message in messages -%}
{%- if message.role == 'system' -%}{{ message.content }}

{% elif message.role == 'user' -%}User: {{ message.content }}
{% else -%}Assistant: {{ message.content }}
{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}Assistant:{%- endif -%}`;

/**
 * The model's chat template (GGUF `tokenizer.chat_template`, else FALLBACK_CHAT_TEMPLATE), rendered
 * with @huggingface/jinja as transformers does: messages, bos_token, eos_token, add_generation_prompt.
 */
export class ChatTemplate {
  /** how this template's model family writes tool calls ('generic': the template ignores tools) */
  readonly toolFamily: ToolFamily;

  private constructor(
    private readonly template: Template,
    readonly source: string,
    readonly isFallback: boolean,
    private readonly bosToken: string,
    private readonly eosToken: string,
    /** strip a leading BOS from the rendered text: the tokenizer adds its own */
    private readonly isBosAddedByTokenizer: boolean,
  ) {
    this.toolFamily = detectToolFamily(source);
  }

  /** `logger` hears when the model's template does not parse (default: stderr) */
  static forModel(model: TemplateModel, logger: { error(message: string): void } = { error: (m) => console.error(`peregrine: ${m}`) }): ChatTemplate {
    const modelSource = model.chatTemplateSource;
    if (modelSource !== undefined) {
      try {
        return ChatTemplate.fromSource(modelSource, model.tokenizer);
      } catch (err) {
        logger.error(`the model's chat template does not parse (${(err as Error).message}); using the fallback`);
      }
    }
    return ChatTemplate.fromSource(FALLBACK_CHAT_TEMPLATE, model.tokenizer);
  }

  /** A template from Jinja source; throws when it does not parse. */
  static fromSource(source: string, tokenizer: TemplateTokenizer): ChatTemplate {
    const bosToken = tokenizer.bosId === undefined ? '' : tokenizer.tokenText(tokenizer.bosId);
    const eosToken = tokenizer.eosId === undefined ? '' : tokenizer.tokenText(tokenizer.eosId);
    return new ChatTemplate(new Template(source), source, source === FALLBACK_CHAT_TEMPLATE, bosToken, eosToken, tokenizer.addBos);
  }

  /**
   * The prompt text; a template error (e.g. raise_exception on bad role order) is the caller's:
   * InvalidRequestError INVALID_MESSAGES (param `messages`).
   * `tools` (offered to the model) and the messages' tool calls and results are rendered as the
   * template's family expects (see toTemplateInput).
   */
  render(messages: readonly ChatMessage[], isGenerationPromptAdded = true, tools?: ToolOffer): string {
    let text: string;
    try {
      text = this.template.render({
        ...toTemplateInput(this.toolFamily, messages, tools),
        bos_token: this.bosToken,
        eos_token: this.eosToken,
        add_generation_prompt: isGenerationPromptAdded,
      });
    } catch (err) {
      throw new InvalidRequestError('INVALID_MESSAGES', `the chat template failed: ${(err as Error).message}`, { param: 'messages' });
    }
    if (this.isBosAddedByTokenizer && this.bosToken !== '' && text.startsWith(this.bosToken)) {
      text = text.slice(this.bosToken.length);
    }
    return text;
  }
}

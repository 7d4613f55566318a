/**
 * A model folder's tokenizer: `tokenizer.json` through @huggingface/tokenizers (ids identical to the Rust
 * `tokenizers` library for the formats it supports), special-token ids from `tokenizer_config.json` with the
 * model's `config.json` as fallback, and the chat template (`chat_template.jinja`, else `chat_template` in
 * `tokenizer_config.json`, as transformers 5 loads them) rendered with @huggingface/jinja.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { UserInputError } from '../errors';
import type { ModelConfig } from './config';

export interface ChatMessage {
  role: string;
  content: string;
}

type Json = Record<string, unknown>;

function readJson(file: string, required: boolean): Json | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new UserInputError(`${file}: cannot read (${code})`, [file], 'BAD_TOKENIZER');
  }
  try {
    const value = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new Error('not a JSON object');
    return value;
  } catch (err) {
    throw new UserInputError(`${file}: not valid JSON (${(err as Error).message})`, [file], 'BAD_TOKENIZER');
  }
}

/** A special token in tokenizer_config.json: a string, or an AddedToken object with `content`. */
function specialTokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as Json).content === 'string') {
    return (value as Json).content as string;
  }
  return null;
}

/** tokenizer_config's chat_template: one string, or a list of named templates of which "default" is used. */
function templateFromConfig(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.find((t) => (t as Json)?.name === 'default') as Json | undefined;
    return typeof named?.template === 'string' ? named.template : null;
  }
  return null;
}

export class TextTokenizer {
  /** Special tokens as text, for chat templates that print them (e.g. `{{ bos_token }}`). */
  readonly specialTokens: { bos: string | null; eos: string | null; pad: string | null; unk: string | null };
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  private compiledTemplate: Template | null = null;

  private constructor(
    private readonly tokenizer: Tokenizer,
    config: Json,
    modelConfig: ModelConfig | undefined,
    /** The Jinja source of the chat template, or null when the tokenizer has none. */
    readonly chatTemplate: string | null,
    readonly folder: string,
  ) {
    const text = (key: string) => specialTokenText(config[key]);
    this.specialTokens = {
      bos: text('bos_token'),
      eos: text('eos_token'),
      pad: text('pad_token'),
      unk: text('unk_token'),
    };
    const id = (token: string | null, fallback: number | null | undefined): number | null => {
      const found = token === null ? undefined : this.tokenizer.token_to_id(token);
      return found ?? fallback ?? null;
    };
    this.bosTokenId = id(this.specialTokens.bos, modelConfig?.bosTokenId);
    this.eosTokenId = id(this.specialTokens.eos, modelConfig?.eosTokenIds[0]);
    this.padTokenId = id(this.specialTokens.pad, modelConfig?.padTokenId);
  }

  /** Load `folder`/tokenizer.json (required) and its companions; `modelConfig` fills in missing special ids. */
  static load(folder: string, modelConfig?: ModelConfig): TextTokenizer {
    const tokenizerFile = path.join(folder, 'tokenizer.json');
    if (!fs.existsSync(tokenizerFile)) {
      throw new UserInputError(
        `${folder} has no tokenizer.json (a folder with only a slow tokenizer, e.g. tokenizer.model, can be ` +
          'converted by loading it with transformers AutoTokenizer and calling save_pretrained)',
        [tokenizerFile],
        'BAD_TOKENIZER',
      );
    }
    const json = readJson(tokenizerFile, true) as Json;
    const config = readJson(path.join(folder, 'tokenizer_config.json'), false) ?? {};
    // Older folders keep the special tokens in special_tokens_map.json only.
    const specialMap = readJson(path.join(folder, 'special_tokens_map.json'), false) ?? {};
    const merged = { ...specialMap, ...config };
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, merged);
    } catch (err) {
      throw new UserInputError(
        `${tokenizerFile}: not a tokenizer this library can load (${(err as Error).message})`,
        [tokenizerFile],
        'BAD_TOKENIZER',
      );
    }
    const jinjaFile = path.join(folder, 'chat_template.jinja');
    const chatJson = readJson(path.join(folder, 'chat_template.json'), false);
    const template = fs.existsSync(jinjaFile)
      ? fs.readFileSync(jinjaFile, 'utf8')
      : (templateFromConfig(chatJson?.chat_template) ?? templateFromConfig(config.chat_template));
    return new TextTokenizer(tokenizer, merged, modelConfig, template, folder);
  }

  /** Token ids of `text`; with special tokens (default) the tokenizer's post-processor adds e.g. BOS. */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** Vocabulary size including added tokens. */
  get vocabSize(): number {
    return this.tokenizer.get_vocab(true).size;
  }

  /** Render a conversation with the chat template, as transformers' apply_chat_template(tokenize=False). */
  applyChatTemplate(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean } = {},
  ): string {
    if (this.chatTemplate === null) {
      throw new UserInputError(
        `${this.folder} has no chat template (chat_template.jinja or chat_template in tokenizer_config.json), ` +
          'so chat ("messages") rows cannot be rendered',
        [this.folder],
        'NO_CHAT_TEMPLATE',
      );
    }
    this.compiledTemplate ??= new Template(this.chatTemplate);
    const { bos, eos, pad, unk } = this.specialTokens;
    try {
      return this.compiledTemplate.render({
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? false,
        bos_token: bos ?? '',
        eos_token: eos ?? '',
        pad_token: pad ?? '',
        unk_token: unk ?? '',
      });
    } catch (err) {
      throw new UserInputError(
        `the chat template of ${this.folder} failed: ${(err as Error).message}`,
        [this.folder],
        'CHAT_TEMPLATE_FAILED',
      );
    }
  }
}

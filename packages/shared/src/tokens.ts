/**
 * Prompt token counts for routing decisions and per-task limits, with a real tokenizer: OpenAI's
 * o200k_base byte-pair encoding (GPT-4o's, from `gpt-tokenizer`, no download at run time). Other
 * models' tokenizers differ by some ten to twenty per cent, so this is an estimate of what a
 * provider will bill — far closer than characters / 4 for code, non-English text and numbers.
 */
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import type { ChatMessage } from "./contracts.js";

/** Tokens a chat message costs beyond its text (role and separators), as OpenAI's chat format counts them. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/**
 * Beyond this many characters a message's tokens are extrapolated from the counted part: the
 * count stays within a millisecond for any prompt (a 32 KB text counts in about 0.7 ms).
 */
const COUNTED_CHARS = 32_768;

/** Tokens of one text. */
export function countTextTokens(text: string): number {
  if (text.length <= COUNTED_CHARS) return countTokens(text);
  const counted = countTokens(text.slice(0, COUNTED_CHARS));
  return Math.ceil((counted * text.length) / COUNTED_CHARS);
}

/** Tokens a conversation sends: every message's text plus its overhead. */
export function countPromptTokens(messages: readonly Pick<ChatMessage, "content">[]): number {
  let total = 0;
  for (const m of messages) total += countTextTokens(m.content) + MESSAGE_OVERHEAD_TOKENS;
  return total;
}

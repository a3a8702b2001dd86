import { describe, expect, it } from "vitest";
import { parseLlmAnswer, type ParsedAnswer } from "./llm-answer.js";

const ANSWER = '{"complexity": "moderate", "risk": "normal", "taskType": "code", "confidence": 0.7}';
const PARSED = { complexity: "moderate", risk: "normal", taskType: "code", confidence: 0.7 };

function failureMessage(result: ParsedAnswer): string {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.answer)}`);
  return result.message;
}

describe("parseLlmAnswer", () => {
  it.each([
    ["a bare object", ANSWER],
    ["an object in a ```json fence with prose around it", `Here is my classification:\n\`\`\`json\n${ANSWER}\n\`\`\`\nHope that helps!`],
    ["an object after a <think> block holding a draft object", `<think>Maybe {"complexity":"expert","risk":"critical","taskType":"chat","confidence":0.1}?</think>\n${ANSWER}`],
    ["an object after prose with braces that are not JSON", `I'd call it {moderate} code. ${ANSWER}`],
    ["an object whose strings hold braces", ANSWER.replace('"confidence"', '"note": "a } and a {", "confidence"')],
    ["labels in capitals with spaces around them", ANSWER.replace('"moderate"', '" Moderate "').replace('"code"', '"CODE"')],
    ["an answer after other JSON the prose quotes", `The request mentions {"user": 1}. Answer: ${ANSWER}`],
    ["an answer wrapped in another object", `{"classification": ${ANSWER}}`],
    ["a confidence written as a string", ANSWER.replace("0.7", '"0.7"')],
    ["a confidence written as a percentage", ANSWER.replace("0.7", "70")],
    ["a confidence written as a percentage string", ANSWER.replace("0.7", '"70%"')],
  ])("reads %s", (_label, output) => {
    expect(parseLlmAnswer(output)).toEqual({ ok: true, answer: PARSED });
  });

  it("searches the first 8 KB of the answer and its first 64 opening braces only, so a huge answer costs bounded time", () => {
    expect(parseLlmAnswer(`${"x".repeat(8000)} ${ANSWER}`)).toEqual({ ok: true, answer: PARSED });
    expect(failureMessage(parseLlmAnswer(`${"x".repeat(8200)} ${ANSWER}`))).toMatch(/^no JSON object/);
    expect(parseLlmAnswer(`${"{x} ".repeat(63)}${ANSWER}`)).toEqual({ ok: true, answer: PARSED });
    expect(failureMessage(parseLlmAnswer(`${"{x} ".repeat(64)}${ANSWER}`))).toMatch(/^no JSON object/);
    // 160,000 characters of unclosed braces: each scan reads at most 8 KB.
    expect(failureMessage(parseLlmAnswer('{"a":'.repeat(32_000)))).toMatch(/^no JSON object/);
  });

  it("takes the first object when the model writes several", () => {
    const second = '{"complexity": "expert", "risk": "critical", "taskType": "reasoning", "confidence": 0.2}';
    expect(parseLlmAnswer(`${ANSWER}\n${second}`)).toEqual({ ok: true, answer: PARSED });
  });

  it.each([
    [1.4, 1],
    [-0.2, 0],
    [250, 1],
  ])("clamps a confidence of %d to %d", (given, clamped) => {
    const result = parseLlmAnswer(ANSWER.replace("0.7", String(given)));
    expect(result).toEqual({ ok: true, answer: { ...PARSED, confidence: clamped } });
  });

  it.each([
    ["prose without an object", "This looks like a moderate coding task.", /no JSON object/],
    ["an object cut off mid-way", '{"complexity": "moderate", "risk": "nor', /no JSON object/],
    ["an unknown complexity", ANSWER.replace('"moderate"', '"hard"'), /complexity: .*expected one of "simple"\|"moderate"\|"complex"\|"expert"/],
    ["an unknown task type", ANSWER.replace('"code"', '"coding"'), /taskType: /],
    ["a missing confidence", '{"complexity": "moderate", "risk": "normal", "taskType": "code"}', /confidence: .*expected number/],
    ["a confidence written as a word", ANSWER.replace("0.7", '"high"'), /confidence: /],
  ])("rejects %s, saying what was wrong", (_label, output, message) => {
    expect(failureMessage(parseLlmAnswer(output))).toMatch(message);
  });

  it("names every wrong field at once", () => {
    const message = failureMessage(parseLlmAnswer('{"complexity": "hard", "taskType": "code", "confidence": 0.5}'));
    expect(message).toMatch(/complexity: /);
    expect(message).toMatch(/risk: /);
  });

  it("says the output ended inside a <think> block, so the operator raises the token budget", () => {
    const message = failureMessage(parseLlmAnswer('<think>The user asks to deploy. {"complexity": "simple", "risk":'));
    expect(message).toMatch(/<think>/);
    expect(message).toMatch(/maxOutputTokens/);
  });

  it("never quotes the output, which may echo the user's prompt", () => {
    const secret = "my password is hunter2";
    expect(failureMessage(parseLlmAnswer(`You said: ${secret}`))).not.toContain("hunter2");
    expect(failureMessage(parseLlmAnswer(`{"complexity": "${secret}", "risk": "normal", "taskType": "qa", "confidence": 1}`))).not.toContain("hunter2");
  });
});

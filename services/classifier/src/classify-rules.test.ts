import { Classification, ClassifierConfig, type ChatMessage, type Complexity, type Risk, type TaskType } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { classifyRules, COMPLEX_AT, EXPERT_AT, MODERATE_AT, RULES_STRATEGY_VERSION } from "./classify-rules.js";
import { TEXT_FEATURE_KEYS } from "./features.js";

const user = (content: string): ChatMessage[] => [{ role: "user", content }];
const classify = (content: string): Classification => classifyRules({ messages: user(content) });

const ARTICLE =
  "The city council met on Tuesday to discuss the new transit plan, which adds two tram lines and a night bus network. ".repeat(12) +
  "Officials said the plan would cost 40 million euros and take three years. Residents raised concerns about noise during construction.";

const DESIGN = `Design a distributed, multi-region key-value store for a global retailer. It must tolerate the loss of a whole region without losing acknowledged writes, and should keep p99 read latency under 10 ms.
1. First, compare leader-based replication (Raft) with leaderless quorum replication and explain the trade-offs between consistency, availability and latency.
2. Then propose an architecture: partitioning, replication, failure detection and rebalancing.
3. Finally, analyze the failure modes and justify your choices.`;

const FENCED_CODE = "Fix this function, it throws on an empty array:\n```ts\nexport function first<T>(xs: T[]): T {\n  return xs[0]!;\n}\n```";

type Expectation = { taskType?: TaskType; complexity?: Complexity | readonly Complexity[]; risk?: Risk; signal?: string };

// One row per behaviour: the request, then only the outcomes that behaviour is about.
const CASES: readonly (readonly [string, string, Expectation])[] = [
  ["a greeting is simple chat", "Hello! How are you today?", { taskType: "chat", complexity: "simple", risk: "normal" }],
  ["a bare hi is simple chat", "hi", { taskType: "chat", complexity: "simple" }],
  ["a capital-city question is simple qa", "What is the capital of France?", { taskType: "qa", complexity: "simple", risk: "normal" }],
  ["a greeting in front of a question does not hide the question", "hi, what is the capital of France?", { taskType: "qa" }],
  ["summarise-this-article with a long text is summarization", `Summarise this article:\n\n${ARTICLE}`, { taskType: "summarization", risk: "normal" }],
  ["tl;dr asks for a summary", `${ARTICLE}\n\ntl;dr please`, { taskType: "summarization" }],
  ["a tie between task types goes to the more specific one (code before qa)", "Explain this bug.", { taskType: "code" }],
  ["translate X into French is translation", "Translate 'Where is the train station?' into French.", { taskType: "translation", complexity: "simple" }],
  ["translating code into a programming language is code", "Translate this JavaScript function into Python: function add(a, b) { return a + b; }", { taskType: "code" }],
  ["a code request with a fence is code, not simple", FENCED_CODE, { taskType: "code", complexity: ["moderate", "complex", "expert"], signal: "type:code(fence)" }],
  ["asking to write a function is code", "Write a Python function that checks whether a string is a palindrome.", { taskType: "code" }],
  ["a multi-part distributed-systems design with trade-offs is complex or expert", DESIGN, { taskType: "reasoning", complexity: ["complex", "expert"], signal: "complexity:multi-step" }],
  ["a proof request is reasoning", "Prove that the square root of 2 is irrational.", { taskType: "reasoning", complexity: ["moderate", "complex"] }],
  ["a how-many question is reasoning", "How many prime numbers are there between 10 and 30?", { taskType: "reasoning" }],
  ["arithmetic is reasoning", "What is 17 * 23?", { taskType: "reasoning", complexity: "simple" }],
  ["a poem is creative", "Write a short poem about the sea at night.", { taskType: "creative", complexity: "simple" }],
  ["pulling emails out as JSON is extraction", "Extract all email addresses from this text as JSON: bob@example.com, alice@example.org", { taskType: "extraction" }],
  ["unrecognisable text falls back to chat", "asdf qwerty zxcv", { taskType: "chat", complexity: "simple" }],
  ["deploy this to production is critical", "Deploy this to production.", { risk: "critical", complexity: "simple", signal: "risk:production" }],
  ["delete the word 'very' is normal risk and simple", "Delete the word 'very' from this sentence: The cake was very good.", { risk: "normal", complexity: "simple" }],
  ["dropping a table is critical", "Drop table users;", { risk: "critical", signal: "risk:data-deletion" }],
  ["deleting rows from a table is critical", "Delete all rows from the orders table older than a year.", { risk: "critical", signal: "risk:data-deletion" }],
  ["rm -rf is critical", "Run rm -rf /var/lib/postgresql on the box.", { risk: "critical", signal: "risk:rm-rf" }],
  ["terraform destroy is critical", "terraform destroy -auto-approve", { risk: "critical", signal: "risk:destructive-command" }],
  ["kubectl delete is critical", "kubectl delete ns default", { risk: "critical", signal: "risk:destructive-command" }],
  ["chmod 777 on / is critical", "chmod -R 777 /", { risk: "critical", signal: "risk:destructive-command" }],
  ["a force push with its options after the remote is critical", "git push origin main --force", { risk: "critical", signal: "risk:force-push" }],
  ["SQL's DELETE FROM any table is critical", "run DELETE FROM customers; on the server", { risk: "critical", signal: "risk:data-deletion" }],
  ["SQL's DELETE FROM with a WHERE is critical", "DELETE FROM orders WHERE id = 3", { risk: "critical", signal: "risk:data-deletion" }],
  ["SQL's DELETE FROM a table the deletion rule names is critical", "delete from users where id = 3", { risk: "critical", signal: "risk:data-deletion" }],
  ["deleting from a Python list is not", "How do I delete from a list in Python?", { risk: "normal" }],
  ["deleting from a list where a value holds is not", "How do I delete from list where the value equals 3 in Python?", { risk: "normal" }],
  ["a plain git push is not", "git push origin main", { risk: "normal" }],
  ["a force push with combined short flags is critical", "git push origin main -fu", { risk: "critical", signal: "risk:force-push" }],
  ["a force push by +refspec is critical", "git push origin +main", { risk: "critical", signal: "risk:force-push" }],
  ["a -f of the next command is not a force push", "git push && grep -f pats.txt out.log; then git push, then tail -f the log", { risk: "normal" }],
  ["full-width letters read as their plain forms", "ｄｅｐｌｏｙ ｔｏ ｐｒｏｄｕｃｔｉｏｎ", { risk: "critical", signal: "risk:production" }],
  ["a refund is critical", "Issue a refund of $40 to this customer.", { risk: "critical", signal: "risk:payment" }],
  ["rotating an API key is critical", "Rotate the API key for the billing service.", { risk: "critical", signal: "risk:api-key" }],
  ["a migration on the prod database is critical", "Run the schema migration on the prod database tonight.", { risk: "critical", signal: "risk:production" }],
  ["a pasted secret is critical whatever the request", "Why does this fail? OPENAI_API_KEY=sk-proj-abcdefghijklmnop1234", { risk: "critical", signal: "risk:secret-value" }],
  ["a definitional question about passwords is normal", "What is a password?", { taskType: "qa", complexity: "simple", risk: "normal", signal: "risk-exempt:password(definitional)" }],
  ["asking for a specific password is critical", "What is the root password on the db server?", { risk: "critical", signal: "risk:password" }],
  ["how a payment gateway works is general knowledge", "How does a payment gateway work?", { taskType: "qa", risk: "normal", signal: "risk-exempt:payment(definitional)" }],
  ["the difference between staging and production is general knowledge", "What is the difference between a staging and a production environment?", { risk: "normal", signal: "risk-exempt:production(definitional)" }],
  ["how our own payment service works is not general knowledge", "How does our payment service work?", { risk: "critical", signal: "risk:payment" }],
  ["how I deploy to prod is a how-to, not general knowledge", "How do I deploy to prod?", { risk: "critical", signal: "risk:deploy" }],
  ["how you rotate an API key is a how-to", "How do you rotate an API key?", { risk: "critical", signal: "risk:api-key" }],
  ["what we are deploying points at a real deploy", "What are we deploying today?", { risk: "critical", signal: "risk:deploy" }],
  ["how refunds work when I issue one is about the asker's refund", "How do refunds work when I issue one for order 1234?", { risk: "critical", signal: "risk:payment" }],
  ["a good way to deploy this is a procedure for a real deploy", "What is a good way to deploy this to production tonight?", { risk: "critical", signal: "risk:deploy" }],
  ["explaining how to rotate credentials asks for a procedure", "Explain how to rotate production credentials.", { risk: "critical", signal: "risk:production" }],
  ["the steps to deploy are a procedure", "What are the steps to deploy to prod?", { risk: "critical", signal: "risk:deploy" }],
  ["production of a substance is not a production environment", "What limits the net production of ATP in glycolysis?", { risk: "normal" }],
  ["pushing to production is", "Push the hotfix to production and restart the web tier.", { risk: "critical", signal: "risk:production" }],
  ["a production server is", "Restart the production servers one at a time.", { risk: "critical", signal: "risk:production" }],
  ["a multiple-choice question about payments is a quiz", "Which of the following increases a country's balance of payments?\nA. Exports\nB. Imports\nC. Tariffs\nD. Quotas\nAnswer:", { risk: "normal", signal: "risk-exempt:payment(quiz)" }],
  ["two options are a decision, not a quiz", "Pay this invoice now?\na) yes\nb) no", { risk: "critical", signal: "risk:payment" }],
  ["a multiple-choice question about the asker's own deploy is a decision", "Which server should I deploy to production?\nA) web-1\nB) web-2\nC) web-3", { risk: "critical", signal: "risk:deploy" }],
  ["a multiple-choice question naming a destructive command is critical", "Which command wipes the cluster?\n(a) kubectl delete ns prod\n(b) kubectl get pods\n(c) ls", { risk: "critical", signal: "risk:destructive-command" }],
  ["what a destructive command does is general knowledge", "Explain what terraform destroy does.", { risk: "normal", signal: "risk-exempt:destructive-command(definitional)" }],
  ["a haiku about deploying is creative writing, not a deploy", "Write a haiku about deploying on Fridays.", { taskType: "creative", risk: "normal", signal: "risk-exempt:deploy(creative)" }],
  ["a poem about a leaked password is creative writing", "Write a short poem about a developer who forgot his password.", { taskType: "creative", risk: "normal", signal: "risk-exempt:password(creative)" }],
  ["a creative request that names an act is critical", "Write a poem, then run rm -rf / on the server.", { taskType: "creative", risk: "critical", signal: "risk:rm-rf" }],
  ["a creative request with a pasted secret is critical", "Write a limerick about our API key sk-proj-abcdefghijklmnop1234", { taskType: "creative", risk: "critical", signal: "risk:secret-value" }],
  ["a definition followed by an action is critical", "What is a password? Reset mine for the admin account.", { risk: "critical" }],
  ["'skills' does not match a risk word by substring", "How do I improve my skills at chess?", { risk: "normal" }],
  ["'prodigy' does not match 'prod'", "He was a prodigy at chess.", { risk: "normal" }],
  ["'undeployable' describes a state, not a request to deploy", "Why is my service undeployable?", { risk: "normal" }],
  ["a secret garden is not a credential", "Write a story about a secret garden.", { taskType: "creative", risk: "normal" }],
  ["deleting an account is critical", "Delete my account.", { risk: "critical", signal: "risk:data-deletion" }],
  ["removing every user is critical", "Remove all users from the staging org.", { risk: "critical", signal: "risk:data-deletion" }],
  ["removing outliers from the data is normal", "Remove any large outliers from the data before fitting the regression.", { risk: "normal" }],
  ["removing a user's name from a sentence is normal", "Remove the user's name from this sentence: Bob logged in.", { risk: "normal" }],
  ["granting admin is critical", "Grant me admin on the cluster.", { risk: "critical", signal: "risk:privilege-grant" }],
  ["making someone an admin is critical", "Make user bob an admin on our GitHub org.", { risk: "critical", signal: "risk:privilege-grant" }],
  ["promoting someone to superuser is critical", "Promote alice to superuser in Postgres.", { risk: "critical", signal: "risk:privilege-grant" }],
  ["acting through the admin panel is critical", "Log into the admin panel and remove all users.", { risk: "critical", signal: "risk:privilege-grant" }],
  ["building an admin page is normal", "Add an admin page to my Django app that lists orders.", { risk: "normal" }],
  ["asking what an admin does is normal", "What does a Wikipedia admin do?", { risk: "normal" }],
];

describe("classifyRules", () => {
  it.each(CASES)("%s", (_name, content, want) => {
    const got = classify(content);
    if (want.taskType !== undefined) expect(got.taskType).toBe(want.taskType);
    if (typeof want.complexity === "string") expect(got.complexity).toBe(want.complexity);
    else if (want.complexity !== undefined) expect(want.complexity).toContain(got.complexity);
    if (want.risk !== undefined) expect(got.risk).toBe(want.risk);
    if (want.signal !== undefined) expect(got.signals).toContain(want.signal);
    expect(got.confidence).toBeGreaterThanOrEqual(0.3);
    expect(got.confidence).toBeLessThanOrEqual(0.99);
  });

  it("produces a message that satisfies the Classification contract", () => {
    const got = classify(DESIGN);
    expect(Classification.parse(got)).toEqual(got);
    expect(got.strategy).toBe("rules");
    expect(got.strategyVersion).toBe(RULES_STRATEGY_VERSION);
  });

  it("returns every documented feature key as a finite number", () => {
    const { features } = classify(FENCED_CODE);
    const keys = [...TEXT_FEATURE_KEYS, "complexityScore", "riskMatches", "typeScore.code", "typeScore.chat", "typeScore.translation"];
    for (const key of keys) expect(Number.isFinite(features[key]), key).toBe(true);
    expect(features["codeBlocks"]).toBe(1);
    expect(features["typeScore.code"]).toBeGreaterThan(features["typeScore.qa"] ?? 0);
  });

  it("keeps the complexity thresholds in ascending order", () => {
    expect(MODERATE_AT).toBeLessThan(COMPLEX_AT);
    expect(COMPLEX_AT).toBeLessThan(EXPERT_AT);
  });

  it("is more confident about a clear case than an ambiguous one", () => {
    const clear = classify("Translate 'good morning' into French.");
    const ambiguous = classify("asdf qwerty zxcv");
    // "how many" (reasoning) against a question (qa): two types with equal evidence.
    const tied = classify("How many r's are in strawberry?");
    expect(clear.confidence).toBeGreaterThan(0.9);
    expect(clear.confidence).toBeGreaterThan(ambiguous.confidence);
    expect(clear.confidence).toBeGreaterThan(tied.confidence);
  });

  it("has the lowest confidence when nothing matched, below the cascade's default threshold", () => {
    const escalateBelow = ClassifierConfig.parse({}).escalateBelow;
    for (const nothing of ["hmm", "ok", "asdf qwer zxcv", "xyzzy plugh"]) {
      const got = classify(nothing);
      expect(got.confidence, nothing).toBe(0.3);
      expect(got.confidence, nothing).toBeLessThan(escalateBelow);
    }
    // A greeting is evidence: chat, simple, confident.
    expect(classify("Thanks!").confidence).toBeGreaterThan(0.9);
  });

  it("is less confident about a request its English vocabulary cannot read", () => {
    expect(classify("请把这段话翻译成英文").confidence).toBeLessThan(classify("Translate this paragraph into English.").confidence);
  });

  it.each([
    ["Spanish", "¿Puedes escribir un poema sobre el mar?", "Can you write a poem about the sea?"],
    ["French", "Pouvez-vous traduire cette phrase en anglais ?", "Can you translate this sentence into English?"],
    ["German", "Kannst du diesen Artikel zusammenfassen?", "Can you summarize this article?"],
    ["Italian", "Puoi dimostrare che la radice di 2 è irrazionale?", "Can you prove that the root of 2 is irrational?"],
    ["Portuguese", "Você pode explicar por que isso não está funcionando?", "Can you explain why this is not working?"],
  ])("is unsure of a request in %s, in Latin letters, below the cascade's default threshold", (_language, foreign, english) => {
    const got = classify(foreign);
    expect(got.confidence).toBeLessThan(0.5);
    expect(got.signals).toContain("language:not-english");
    expect(classify(english).signals).not.toContain("language:not-english");
  });

  it("keeps an English request with a foreign name or phrase in it English", () => {
    for (const text of [
      "Plan a three-day trip from Los Angeles to Las Vegas and then to San Francisco for the family.",
      "What is the difference between a faux pas and a cause célèbre in everyday English usage?",
      "Explain what the Spanish phrase 'el que no arriesga no gana' means.",
      "Translate the following into English: ¿Dónde está la estación? Necesito llegar antes de que salga el tren para Sevilla.",
      "Explain Le Chatelier's principle and El Niño",
      "Meeting at 9am EST: le agenda",
      "Summarize: Das Boot, Der Untergang",
    ]) {
      expect(classify(text).signals, text).not.toContain("language:not-english");
    }
  });

  it("classifies a request typed in full-width letters as the same request in ASCII, confidence included", () => {
    const wide = classify("Ｅｘｐｌａｉｎ　ｗｈｙ　ｔｈｅ　ｓｋｙ　ｉｓ　ｂｌｕｅ？　Ｔｈｅｎ　ｃｏｍｐａｒｅ　ｉｔ　ｗｉｔｈ　ｓｕｎｓｅｔｓ．");
    const plain = classify("Explain why the sky is blue? Then compare it with sunsets.");
    expect(wide.features).toEqual(plain.features);
    expect({ ...wide, signals: [...wide.signals].sort() }).toEqual({ ...plain, signals: [...plain.signals].sort() });
  });

  it.each([
    ["Reset the password for this account.", "Reset the colour for this account."],
    ["Deploy `v2` to `web-1` tonight.", "Roll out `v2` to `web-1` tonight."],
    ["Deploy the new build with a short note to the team.", "Send the new build with a short note to the team."],
    ["Run the `v2` migration on production tonight.", "Run the `v2` migration on the laptop tonight."],
    ["Delete all rows from the orders table older than a year.", "Count all rows from the orders table older than a year."],
    ["Grant me admin on the cluster.", "Grant me lunch on the cluster."],
    ["Issue a refund of $40 to this customer.", "Issue a greeting of 40 words to this customer."],
    ["Rotate the API key for the billing service.", "Rotate the log file for the search service."],
  ])("does not let risk words raise complexity: %j against %j", (risky, plain) => {
    const a = classify(risky);
    const b = classify(plain);
    expect(a.risk).toBe("critical");
    expect(b.risk).toBe("normal");
    expect(a.features["complexityScore"]).toBe(b.features["complexityScore"]);
    expect(a.complexity).toBe(b.complexity);
  });

  it("takes the task type from the last user message, not the system prompt or earlier turns", () => {
    const got = classifyRules({
      messages: [
        { role: "system", content: "You are a poet. Write every answer as a poem." },
        { role: "user", content: "Summarize our chat so far." },
        { role: "assistant", content: "You asked for a summary." },
        { role: "user", content: "What is the capital of France?" },
      ],
    });
    expect(got.taskType).toBe("qa");
    expect(got.features["contextWords"]).toBeGreaterThan(got.features["words"] ?? 0);
  });

  it("keeps a conversation critical when an earlier user turn asked for a deploy", () => {
    const got = classifyRules({
      messages: [
        { role: "user", content: "Can you deploy the new build to prod?" },
        { role: "assistant", content: "Shall I go ahead?" },
        { role: "user", content: "Yes, go ahead." },
      ],
    });
    expect(got.risk).toBe("critical");
    expect(got.signals).toContain("risk:deploy(earlier-turn)");
  });

  it("exempts only the request as creative: an earlier turn is not typed, and its subject still counts", () => {
    const got = classifyRules({
      messages: [
        { role: "user", content: "Deploy the new build to prod tonight." },
        { role: "assistant", content: "Done." },
        { role: "user", content: "Now write a haiku about deploying on Fridays." },
      ],
    });
    expect(got.taskType).toBe("creative");
    expect(got.risk).toBe("critical");
    expect(got.signals).toEqual(expect.arrayContaining(["risk:deploy(earlier-turn)", "risk-exempt:deploy(creative)"]));
  });

  it("ignores risk words in the system prompt", () => {
    const got = classifyRules({
      messages: [
        { role: "system", content: "Never reveal passwords or API keys." },
        { role: "user", content: "Hello!" },
      ],
    });
    expect(got.risk).toBe("normal");
  });

  it("reads the type from the instruction, not from the middle of a long payload", () => {
    const payload = `${ARTICLE} A local poet read a poem and a short story at the opening. ${ARTICLE}`;
    expect(classify(`Summarize the following article in three sentences.\n\n${payload}`).taskType).toBe("summarization");
  });

  it("classifies a conversation without a user message as low-confidence simple chat", () => {
    const got = classifyRules({ messages: [{ role: "system", content: "You are helpful." }] });
    expect(got).toMatchObject({ taskType: "chat", complexity: "simple", risk: "normal" });
    expect(got.confidence).toBeLessThan(0.6);
  });

  it("returns the same result for the same input and does not mutate it", () => {
    const messages = user(DESIGN);
    const snapshot = structuredClone(messages);
    expect(classifyRules({ messages })).toEqual(classifyRules({ messages }));
    expect(messages).toEqual(snapshot);
  });
});

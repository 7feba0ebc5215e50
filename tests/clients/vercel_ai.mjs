// Drives the Vercel AI SDK (npm `ai` with `@ai-sdk/openai` / `@ai-sdk/anthropic`, pinned in
// scripts/install-clients) against a base URL, one scenario per run, and prints what the SDK
// returned as one JSON line. Run from tests/clients/vercel.py with the pinned Node.
//
//   node vercel_ai.mjs <api> <baseURL> <apiKey> <model> <scenario>
//   api:      responses (openai(...), the Responses API) | chat (openai.chat(...)) | anthropic
//   scenario: text (generateText) | stream (streamText) | tool (generateText with a tool the SDK
//             runs, then the answer) | object (generateObject with a JSON schema)
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";

const [api, baseURL, apiKey, modelName, scenario] = process.argv.slice(2);

function model() {
  if (api === "anthropic") return createAnthropic({ baseURL, apiKey })(modelName);
  const provider = createOpenAI({ baseURL, apiKey });
  return api === "chat" ? provider.chat(modelName) : provider.responses(modelName);
}

const weather = jsonSchema({
  type: "object",
  properties: { city: { type: "string" }, temp: { type: "number" } },
  required: ["city", "temp"],
  additionalProperties: false,
});

async function run() {
  const base = { model: model(), maxRetries: 0 };
  if (scenario === "text") {
    const result = await generateText({ ...base, prompt: "say hi" });
    return { text: result.text, usage: result.usage, finishReason: result.finishReason };
  }
  if (scenario === "stream") {
    const result = streamText({ ...base, prompt: "say hi" });
    let text = "";
    for await (const delta of result.textStream) text += delta;
    return { text, usage: await result.usage, finishReason: await result.finishReason };
  }
  if (scenario === "tool") {
    const calls = [];
    const result = await generateText({
      ...base,
      prompt: "What is the weather in Oslo?",
      tools: {
        get_weather: tool({
          description: "The weather in a city",
          inputSchema: jsonSchema({
            type: "object",
            properties: { city: { type: "string" } },
            required: ["city"],
            additionalProperties: false,
          }),
          execute: async (input) => {
            calls.push(input);
            return { temp: 3 };
          },
        }),
      },
      stopWhen: stepCountIs(3),
    });
    return { text: result.text, calls, steps: result.steps.length };
  }
  if (scenario === "object") {
    const result = await generateObject({ ...base, prompt: "weather in Oslo", schema: weather });
    return { object: result.object, usage: result.usage };
  }
  throw new Error(`unknown scenario ${scenario}`);
}

run().then(
  (out) => console.log(JSON.stringify(out)),
  (error) => {
    console.log(JSON.stringify({ error: String(error?.message ?? error), data: error?.responseBody ?? null }));
    process.exitCode = 1;
  },
);

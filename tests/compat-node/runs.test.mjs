// Runs through the official openai SDK against a running Threadloom (THREADLOOM_URL).
//
// This process cannot script the model, so the server under test (NodeSdkTests' fixture) points at a scripted model
// that follows a rule on the last message it is sent (MessageRules in tests/Threadloom.Compatibility.Tests/RunsServer.cs):
//   - tool results (the last messages are role "tool")  -> "Done: <output>, <output>, ..." in call order;
//   - a user message "CALL name {json} | name {json}"   -> those function calls, in parallel;
//   - a user message starting "SLOW"                    -> "Echo: <text>", one character per chunk, 20 ms apart;
//   - any other user message                            -> "Echo: <text>".
// Only the part after the last blank line counts, so "Today is: ...\n\nCALL ..." works as the notebooks write it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AzureOpenAI } from 'openai';

const base = process.env.THREADLOOM_URL ?? 'http://127.0.0.1:8080';
const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'node-key', maxRetries: 0 });
const azure = new AzureOpenAI({ endpoint: base, apiKey: 'azure-key', apiVersion: '2024-05-01-preview', maxRetries: 0 });

const priceTool = {
  type: 'function',
  function: {
    name: 'get_stock_price',
    description: 'Retrieve the latest closing price of a stock using its ticker symbol.',
    parameters: { type: 'object', properties: { symbol: { type: 'string' } }, required: ['symbol'] },
  },
};

async function assistantWithThread(client, text, model = 'gpt-4o') {
  const assistant = await client.beta.assistants.create({ model, name: 'fta-Securities Trading Assistant', tools: [priceTool] });
  const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: text }] });
  return { assistant, thread };
}

test('runs.createAndPoll: a plain reply, then messages.list shows it first', async () => {
  const { assistant, thread } = await assistantWithThread(openai, 'Today is: 2024-02-20 10:00\n\nHello node');
  const run = await openai.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 50 });
  assert.equal(run.status, 'completed');
  assert.equal(run.thread_id, thread.id);
  const messages = await openai.beta.threads.messages.list(thread.id);
  assert.equal(messages.data[0].role, 'assistant');
  assert.equal(messages.data[0].run_id, run.id);
  assert.equal(messages.data[0].content[0].text.value, 'Echo: Today is: 2024-02-20 10:00\n\nHello node');
});

test('runs.stream: textDelta events add up to the final message; finalRun and finalMessages resolve', async () => {
  const { assistant, thread } = await assistantWithThread(openai, 'SLOW stream me');
  const events = [];
  let text = '';
  const stream = openai.beta.threads.runs
    .stream(thread.id, { assistant_id: assistant.id })
    .on('event', (e) => events.push(e.event))
    .on('textDelta', (delta) => { text += delta.value; });
  const run = await stream.finalRun();
  const messages = await stream.finalMessages();

  assert.equal(run.status, 'completed');
  assert.equal(text, 'Echo: SLOW stream me');
  assert.equal(messages.length, 1);
  assert.equal(messages[0].content[0].text.value, 'Echo: SLOW stream me');
  // AssistantStream keeps the snapshot of thread.message.created (status in_progress); the stored message is completed.
  assert.equal((await openai.beta.threads.messages.retrieve(messages[0].id, { thread_id: thread.id })).status, 'completed');
  assert.deepEqual(events.slice(0, 3), ['thread.run.created', 'thread.run.queued', 'thread.run.in_progress']);
  assert.ok(events.filter((e) => e === 'thread.message.delta').length > 1);
  assert.equal(events.at(-1), 'thread.run.completed');
});

test('runs.stream async iteration, requires_action, then submitToolOutputsStream to the final answer', async () => {
  const { assistant, thread } = await assistantWithThread(openai,
    'CALL get_stock_price {"symbol":"MSFT"} | get_stock_price {"symbol":"TSLA"}');
  const stream = openai.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
  const names = [];
  for await (const event of stream) names.push(event.event);
  const waiting = await stream.finalRun();

  assert.equal(names.at(-1), 'thread.run.requires_action');
  assert.equal(waiting.status, 'requires_action');
  const calls = waiting.required_action.submit_tool_outputs.tool_calls;
  assert.deepEqual(calls.map((c) => c.function.name), ['get_stock_price', 'get_stock_price']);
  assert.deepEqual(calls.map((c) => JSON.parse(c.function.arguments).symbol), ['MSFT', 'TSLA']);
  const steps = await stream.finalRunSteps();
  assert.equal(steps[0].step_details.tool_calls.length, 2);

  let text = '';
  const resumed = openai.beta.threads.runs
    .submitToolOutputsStream(waiting.id, {
      thread_id: thread.id,
      // The notebooks send prices as JSON numbers; the server keeps them as text.
      tool_outputs: [{ tool_call_id: calls[0].id, output: 388.99 }, { tool_call_id: calls[1].id, output: '219.91' }],
    })
    .on('textDelta', (delta) => { text += delta.value; });
  const done = await resumed.finalRun();
  const messages = await resumed.finalMessages();

  assert.equal(done.status, 'completed');
  assert.equal(text, 'Done: 388.99, 219.91');
  assert.equal(messages[0].content[0].text.value, 'Done: 388.99, 219.91');
  const listed = await openai.beta.threads.messages.list(thread.id);
  assert.equal(listed.data[0].content[0].text.value, 'Done: 388.99, 219.91');
});

test('AzureOpenAI client: runs.createAndPoll and submitToolOutputsAndPoll under /openai', async () => {
  const { assistant, thread } = await assistantWithThread(azure, 'CALL get_stock_price {"symbol":"NVDA"}', 'gpt4-1106-fta-assistants');
  const waiting = await azure.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 50 });
  assert.equal(waiting.status, 'requires_action');
  const [call] = waiting.required_action.submit_tool_outputs.tool_calls;
  assert.equal(call.function.name, 'get_stock_price');

  const run = await azure.beta.threads.runs.submitToolOutputsAndPoll(waiting.id,
    { thread_id: thread.id, tool_outputs: [{ tool_call_id: call.id, output: '560.53' }] }, { pollIntervalMs: 50 });
  assert.equal(run.status, 'completed');
  const messages = await azure.beta.threads.messages.list(thread.id);
  assert.equal(messages.data[0].content[0].text.value, 'Done: 560.53');
});

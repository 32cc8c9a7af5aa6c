// The Assistants v1 dialect through the official openai npm SDK of that era, openai@4.28.0 (installed as "openai-v1"),
// against a running Threadloom (THREADLOOM_URL). That release sends "OpenAI-Beta: assistants=v1" itself and has
// beta.assistants.files and beta.threads.messages.files. It predates the AzureOpenAI class (4.39) and the Assistants
// streaming helpers (4.29), so the Azure client is built as Azure's docs of the time built it (baseURL .../openai,
// an api-version default query, an api-key header), and a stream is read from the client's raw response.
// The model follows the rules in runs.test.mjs ("CALL name {json}" makes it call tools; it answers "Done: <outputs>",
// and a file_search output's source markers so repeated become citations).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import OpenAI, { toFile } from 'openai-v1';

const base = process.env.THREADLOOM_URL ?? 'http://127.0.0.1:8080';
const openaiV1 = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'node-v1-key', maxRetries: 0 });
const azureV1 = new OpenAI({
  baseURL: `${base}/openai`,
  apiKey: 'azure-key',
  defaultQuery: { 'api-version': '2024-02-15-preview' },
  defaultHeaders: { 'api-key': 'azure-key' },
  maxRetries: 0,
});

const hrFile = (name) => new URL(`../../../shared/scenarios/data/HR/${name}`, import.meta.url);
const collapse = (text) => text.replace(/\s+/g, ' ').trim();

async function upload(client, name, content) {
  return client.files.create({ file: await toFile(Buffer.from(content), name), purpose: 'assistants' });
}

async function poll(client, threadId, runId) {
  for (const started = Date.now(); Date.now() - started < 120_000;) {
    const run = await client.beta.threads.runs.retrieve(threadId, runId);
    if (!['queued', 'in_progress'].includes(run.status)) return run;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the run did not settle');
}

/** The events of an SSE body: [{ event, data }], data parsed unless it is [DONE]. */
function parseSse(text) {
  return text.split('\n\n').filter((block) => block.trim()).map((block) => {
    const lines = block.split('\n');
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
    const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
    return { event, data: data === '[DONE]' ? data : JSON.parse(data) };
  });
}

for (const [label, client] of [['OpenAI routes', openaiV1], ['Azure routes', azureV1]]) {
  test(`v1 ${label}: beta.assistants.files create, auto-paginated list, retrieve, del keep file_ids in step`, async () => {
    const files = [];
    for (const name of ['a.csv', 'b.csv', 'c.csv']) files.push(await upload(client, name, `x,y\n1,${name}\n`));
    const assistant = await client.beta.assistants.create({ model: 'gpt4-1106-fta-assistants', tools: [{ type: 'code_interpreter' }] });
    assert.deepEqual(assistant.file_ids, []);
    assert.equal(assistant.tool_resources, undefined);

    for (const file of files) {
      const attached = await client.beta.assistants.files.create(assistant.id, { file_id: file.id });
      assert.equal(attached.object, 'assistant.file');
      assert.equal(attached.id, file.id);
      assert.equal(attached.assistant_id, assistant.id);
    }
    assert.deepEqual((await client.beta.assistants.retrieve(assistant.id)).file_ids, files.map((f) => f.id));

    // limit 1 makes the SDK walk three pages, re-requesting with after = the last id.
    const walked = [];
    for await (const file of client.beta.assistants.files.list(assistant.id, { limit: 1, order: 'asc' })) walked.push(file.id);
    assert.deepEqual(walked, files.map((f) => f.id));
    const desc = await client.beta.assistants.files.list(assistant.id);
    assert.deepEqual(desc.data.map((f) => f.id), files.map((f) => f.id).reverse());

    assert.equal((await client.beta.assistants.files.retrieve(assistant.id, files[1].id)).id, files[1].id);
    const deleted = await client.beta.assistants.files.del(assistant.id, files[1].id);
    assert.deepEqual(deleted, { id: files[1].id, object: 'assistant.file.deleted', deleted: true });
    await assert.rejects(client.beta.assistants.files.retrieve(assistant.id, files[1].id), (e) => e.status === 404);
    assert.deepEqual((await client.beta.assistants.retrieve(assistant.id)).file_ids, [files[0].id, files[2].id]);
  });

  test(`v1 ${label}: beta.threads.messages.files list and retrieve`, async () => {
    const a = await upload(client, 'notes-a.txt', 'alpha');
    const b = await upload(client, 'notes-b.txt', 'beta');
    const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'two files', file_ids: [a.id, b.id] }] });
    const [message] = (await client.beta.threads.messages.list(thread.id)).data;
    assert.deepEqual(message.file_ids, [a.id, b.id]);
    assert.equal(message.attachments, undefined);

    const listed = [];
    for await (const file of client.beta.threads.messages.files.list(thread.id, message.id, { limit: 1, order: 'asc' })) listed.push(file);
    assert.deepEqual(listed.map((f) => f.id), [a.id, b.id]);
    for (const file of listed) {
      assert.equal(file.object, 'thread.message.file');
      assert.equal(file.message_id, message.id);
      assert.equal(file.created_at, message.created_at);
    }
    assert.equal((await client.beta.threads.messages.files.retrieve(thread.id, message.id, b.id)).id, b.id);
    await assert.rejects(client.beta.threads.messages.files.retrieve(thread.id, message.id, 'file-nope'), (e) => e.status === 404);
  });
}

test('v1 HR notebook (Azure, 2024-02-15-preview): retrieval over file_ids, citations with quotes, retrieval steps, run file_ids', async () => {
  const names = ['contoso-benefits.txt', 'contoso-401k.txt'];
  const texts = await Promise.all(names.map((n) => readFile(hrFile(n), 'utf8')));
  const files = await Promise.all(names.map((n, i) => upload(azureV1, n, texts[i])));
  const byId = Object.fromEntries(files.map((f, i) => [f.id, collapse(texts[i])]));
  const assistant = await azureV1.beta.assistants.create({
    name: 'HR Assistant', model: 'gpt4-1106-fta-assistants', tools: [{ type: 'retrieval' }], file_ids: files.map((f) => f.id),
    instructions: "You HR support chatbot. Use your knowledge base to best respond to the employee queries.",
  });
  assert.deepEqual(assistant.tools, [{ type: 'retrieval' }]);

  const thread = await azureV1.beta.threads.create();
  await azureV1.beta.threads.messages.create(thread.id, {
    role: 'user', content: 'Today is: 2024-02-20 10:00\n\nCALL file_search {"queries":["What is the 401k matching percentage?"]}',
  });
  const created = await azureV1.beta.threads.runs.create(thread.id, { assistant_id: assistant.id });
  assert.deepEqual(created.file_ids, files.map((f) => f.id));
  const run = await poll(azureV1, thread.id, created.id);
  assert.equal(run.status, 'completed');
  assert.deepEqual(run.file_ids, files.map((f) => f.id));
  assert.deepEqual(run.tools, [{ type: 'retrieval' }]);

  const steps = await azureV1.beta.threads.runs.steps.list(thread.id, run.id, { order: 'asc' });
  const [call] = steps.data[0].step_details.tool_calls;
  assert.deepEqual(call, { id: call.id, type: 'retrieval', retrieval: {} });
  assert.equal(steps.data[1].step_details.type, 'message_creation');

  // What the notebook reads: messages.list(thread_id).data[0].content[0].text.value, and its citations.
  const [reply] = (await azureV1.beta.threads.messages.list(thread.id)).data;
  assert.equal(reply.content[0].type, 'text');
  const { value, annotations } = reply.content[0].text;
  assert.ok(value.startsWith('Done: '));
  assert.ok(annotations.length >= 1);
  for (const a of annotations) {
    assert.equal(a.type, 'file_citation');
    assert.equal(value.slice(a.start_index, a.end_index), a.text);
    const quote = collapse(a.file_citation.quote);
    assert.ok(quote.length > 0, 'a v1 citation carries its quote');
    assert.ok(byId[a.file_citation.file_id].includes(quote.slice(0, 60)), `the quote comes from ${a.file_citation.file_id}`);
  }
});

test('v1 function calling (notebook 04, Azure): parallel calls, numeric outputs, steps carry the outputs', async () => {
  const assistant = await azureV1.beta.assistants.create({
    model: 'gpt4-1106-fta-assistants', name: 'fta-Securities Trading Assistant',
    tools: [{ type: 'function', function: { name: 'get_stock_price', description: 'Retrieve the latest closing price of a stock using its ticker symbol.', parameters: { type: 'object', properties: { symbol: { type: 'string' } }, required: ['symbol'] } } }],
  });
  const thread = await azureV1.beta.threads.create({
    messages: [{ role: 'user', content: 'CALL get_stock_price {"symbol":"MSFT"} | get_stock_price {"symbol":"TSLA"}' }],
  });
  const waiting = await poll(azureV1, thread.id, (await azureV1.beta.threads.runs.create(thread.id, { assistant_id: assistant.id })).id);
  assert.equal(waiting.status, 'requires_action');
  const calls = waiting.required_action.submit_tool_outputs.tool_calls;
  assert.deepEqual(calls.map((c) => JSON.parse(c.function.arguments).symbol), ['MSFT', 'TSLA']);
  // The notebooks submit numbers; the hosted API took them.
  const queued = await azureV1.beta.threads.runs.submitToolOutputs(thread.id, waiting.id, {
    tool_outputs: [{ tool_call_id: calls[0].id, output: 388.99 }, { tool_call_id: calls[1].id, output: 219.45 }],
  });
  assert.ok(['queued', 'in_progress'].includes(queued.status));
  const run = await poll(azureV1, thread.id, waiting.id);
  assert.equal(run.status, 'completed');
  const [reply] = (await azureV1.beta.threads.messages.list(thread.id)).data;
  assert.equal(reply.content[0].text.value, 'Done: 388.99, 219.45');
  const steps = await azureV1.beta.threads.runs.steps.list(thread.id, run.id, { order: 'asc' });
  assert.deepEqual(steps.data[0].step_details.tool_calls.map((c) => c.function.output), ['388.99', '219.45']);
});

test('v1 streaming shape: a retrieval run streamed as v1 events (retrieval step deltas, quoted citations, file_ids)', async () => {
  const text = await readFile(hrFile('contoso-401k.txt'), 'utf8');
  const file = await upload(openaiV1, 'contoso-401k.txt', text);
  const assistant = await openaiV1.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'retrieval' }], file_ids: [file.id] });
  const thread = await openaiV1.beta.threads.create({
    messages: [{ role: 'user', content: 'CALL file_search {"queries":["401k matching percentage"]}' }],
  });
  const response = await openaiV1.beta.threads.runs.create(thread.id, { assistant_id: assistant.id, stream: true }).asResponse();
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  const events = parseSse(await response.text());

  assert.deepEqual(events.slice(0, 3).map((e) => e.event), ['thread.run.created', 'thread.run.queued', 'thread.run.in_progress']);
  assert.deepEqual(events[0].data.file_ids, [file.id]);
  assert.deepEqual(events[0].data.tools, [{ type: 'retrieval' }]);
  const deltas = events.filter((e) => e.event === 'thread.run.step.delta').flatMap((e) => e.data.delta.step_details.tool_calls);
  assert.ok(deltas.length >= 1);
  for (const d of deltas) {
    assert.equal(d.type, 'retrieval');
    assert.equal(d.file_search, undefined);
  }
  const stepDone = events.find((e) => e.event === 'thread.run.step.completed' && e.data.type === 'tool_calls').data;
  assert.deepEqual(stepDone.step_details.tool_calls[0], { id: stepDone.step_details.tool_calls[0].id, type: 'retrieval', retrieval: {} });
  const cited = events.filter((e) => e.event === 'thread.message.delta').flatMap((e) => e.data.delta.content[0].text.annotations ?? []);
  assert.ok(cited.length >= 1);
  for (const a of cited) assert.ok(collapse(text).includes(collapse(a.file_citation.quote).slice(0, 60)));
  const completed = events.find((e) => e.event === 'thread.message.completed').data;
  assert.deepEqual(completed.file_ids, []);
  assert.equal(completed.attachments, undefined);
  assert.equal(events.at(-2).event, 'thread.run.completed');
  assert.deepEqual(events.at(-1), { event: 'done', data: '[DONE]' });
});

// File search through the official openai SDK against a running Threadloom (THREADLOOM_URL); the model follows the
// rules described in runs.test.mjs ("CALL file_search {...}" makes it call the tool, then it answers "Done: <output>",
// which repeats every source marker it was shown, so each becomes a citation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';

const base = process.env.THREADLOOM_URL ?? 'http://127.0.0.1:8080';
const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'node-key', maxRetries: 0 });

const withoutIndex = ({ index, ...annotation }) => annotation;

test('file search: a streamed run accumulates to the stored message, citations included', async () => {
  const policy = await openai.files.create({
    file: await toFile(Buffer.from('Parental leave\n\nEmployees get sixteen weeks of paid parental leave.\n'), 'parental-leave.txt'),
    purpose: 'assistants',
  });
  let store = await openai.vectorStores.create({ name: 'policies', file_ids: [policy.id] });
  for (const started = Date.now(); store.status === 'in_progress' && Date.now() - started < 120_000;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    store = await openai.vectorStores.retrieve(store.id);
  }
  assert.equal(store.status, 'completed');
  assert.deepEqual(store.file_counts, { in_progress: 0, completed: 1, failed: 0, cancelled: 0, total: 1 });
  const file = await openai.vectorStores.files.retrieve(policy.id, { vector_store_id: store.id });
  assert.equal(file.status, 'completed');
  assert.deepEqual(file.chunking_strategy, { type: 'static', static: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 } });

  const assistant = await openai.beta.assistants.create({
    model: 'gpt-4o', tools: [{ type: 'file_search' }], tool_resources: { file_search: { vector_store_ids: [store.id] } },
  });
  const thread = await openai.beta.threads.create({
    messages: [{ role: 'user', content: 'CALL file_search {"queries":["How many weeks of parental leave?"]}' }],
  });

  let text = '';
  let snapshot;
  const toolCalls = [];
  const stream = openai.beta.threads.runs
    .stream(thread.id, { assistant_id: assistant.id })
    .on('toolCallCreated', (call) => toolCalls.push(call.type))
    .on('textDelta', (delta, accumulated) => { text += delta.value; snapshot = accumulated; });
  const run = await stream.finalRun();

  assert.equal(run.status, 'completed');
  assert.deepEqual(toolCalls, ['file_search']);
  const [message] = (await openai.beta.threads.messages.list(thread.id)).data;
  const stored = message.content[0].text;
  assert.ok(stored.value.startsWith('Done: '));
  assert.equal(text, stored.value);
  assert.ok(stored.annotations.length >= 2, 'both markers the model repeated are cited');
  assert.ok(stored.annotations.every((a) => a.type === 'file_citation' && a.file_citation.file_id === policy.id));
  // The SDK merges streamed annotations by their index: the result must be the stored list.
  assert.deepEqual(snapshot.annotations.map(withoutIndex), stored.annotations);
  for (const a of stored.annotations) assert.equal(stored.value.slice(a.start_index, a.end_index), a.text);
});

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

test('vector stores: batch upload and poll, attributes, search with filters and rewrite_query, content, delete', async () => {
  const store = await openai.vectorStores.create({ name: 'handbook' });
  const batch = await openai.vectorStores.fileBatches.uploadAndPoll(store.id, {
    files: [
      await toFile(Buffer.from('Expenses\n\nTaxi receipts over 25 euros need a manager approval.\n'), 'expenses.md'),
      await toFile(Buffer.from('Travel\n\nBook trains for trips under four hours; flights otherwise.\n'), 'travel.md'),
    ],
  }, { pollIntervalMs: 100 });
  assert.equal(batch.status, 'completed');
  assert.deepEqual(batch.file_counts, { in_progress: 0, completed: 2, failed: 0, cancelled: 0, total: 2 });
  const batchFiles = [];
  for await (const f of openai.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id })) batchFiles.push(f);
  assert.equal(batchFiles.length, 2);

  const byName = {};
  for (const f of batchFiles) byName[(await openai.files.retrieve(f.id)).filename] = f.id;
  const updated = await openai.vectorStores.files.update(byName['travel.md'], { vector_store_id: store.id, attributes: { topic: 'travel' } });
  assert.deepEqual(updated.attributes, { topic: 'travel' });

  const page = await openai.vectorStores.search(store.id, { query: 'Do I need approval for a taxi receipt?', max_num_results: 5 });
  assert.equal(page.data[0].file_id, byName['expenses.md']);
  assert.equal(page.data[0].filename, 'expenses.md');
  assert.ok(page.data[0].score > 0 && page.data[0].score <= 1);
  assert.match(page.data[0].content[0].text, /manager approval/);

  const filtered = await openai.vectorStores.search(store.id, {
    query: 'Do I need approval for a taxi receipt?', filters: { type: 'eq', key: 'topic', value: 'travel' },
  });
  assert.deepEqual(filtered.data.map((r) => r.file_id), [byName['travel.md']]);
  assert.deepEqual(filtered.data[0].attributes, { topic: 'travel' });

  // The SDK's page keeps only `data`; search_query is read from the response body.
  const rewritten = await (await openai.vectorStores.search(store.id, { query: 'Could you tell me how to book a trip, please?', rewrite_query: true }).asResponse()).json();
  assert.deepEqual(rewritten.search_query, ['book trip']);
  assert.equal(rewritten.data[0].file_id, byName['travel.md']);

  const content = [];
  for await (const part of openai.vectorStores.files.content(byName['expenses.md'], { vector_store_id: store.id })) content.push(part);
  assert.equal(content[0].type, 'text');
  assert.match(content.map((c) => c.text).join(''), /Taxi receipts/);

  const deleted = await openai.vectorStores.files.delete(byName['expenses.md'], { vector_store_id: store.id });
  assert.equal(deleted.deleted, true);
  const after = await openai.vectorStores.search(store.id, { query: 'taxi receipt approval' });
  assert.ok(after.data.every((r) => r.file_id !== byName['expenses.md']));
  assert.equal((await openai.vectorStores.delete(store.id)).deleted, true);
});

// Drives a running Threadloom (THREADLOOM_URL, e.g. http://127.0.0.1:8080) through the official openai SDK,
// with both its OpenAI and AzureOpenAI clients, exactly as an application would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AzureOpenAI, toFile, NotFoundError, BadRequestError } from 'openai';

const base = process.env.THREADLOOM_URL ?? 'http://127.0.0.1:8080';
const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'node-key', maxRetries: 0 });
const azure = new AzureOpenAI({ endpoint: base, apiKey: 'azure-key', apiVersion: '2024-05-01-preview', maxRetries: 0 });

test('assistants: create, retrieve, update, list, delete', async () => {
  const assistant = await openai.beta.assistants.create({
    model: 'gpt-4o',
    name: 'Math Tutor',
    instructions: 'You are a personal math tutor. Write and run code to answer math questions.',
    tools: [{ type: 'code_interpreter' }, { type: 'function', function: { name: 'get_stock_price', parameters: { type: 'object', properties: { symbol: { type: 'string' } } } } }],
    metadata: { team: 'math' },
  });
  assert.match(assistant.id, /^asst_/);
  assert.equal(assistant.object, 'assistant');
  assert.equal(assistant.tools[1].function.name, 'get_stock_price');

  const updated = await openai.beta.assistants.update(assistant.id, { name: 'Algebra Tutor' });
  assert.equal(updated.name, 'Algebra Tutor');
  assert.equal(updated.instructions, assistant.instructions);

  const ids = [];
  for await (const a of openai.beta.assistants.list({ limit: 2 })) ids.push(a.id);
  assert.ok(ids.includes(assistant.id));

  const deleted = await openai.beta.assistants.delete(assistant.id);
  assert.deepEqual([deleted.id, deleted.object, deleted.deleted], [assistant.id, 'assistant.deleted', true]);
  await assert.rejects(openai.beta.assistants.retrieve(assistant.id), NotFoundError);
});

test('threads and messages: auto-pagination over 45 messages, newest first by default', async () => {
  const thread = await openai.beta.threads.create({ messages: [{ role: 'user', content: 'first' }], metadata: { user: 'jane' } });
  for (let i = 0; i < 44; i++) await openai.beta.threads.messages.create(thread.id, { role: 'user', content: `m${i}` });
  const texts = [];
  for await (const m of openai.beta.threads.messages.list(thread.id, { limit: 10 })) texts.push(m.content[0].text.value);
  assert.equal(texts.length, 45);
  assert.equal(texts[0], 'm43');
  assert.equal(texts.at(-1), 'first');
  assert.equal(new Set(texts).size, 45);

  const page = await openai.beta.threads.messages.list(thread.id);
  assert.equal(page.data[0].content[0].text.value, 'm43');

  const updated = await openai.beta.threads.update(thread.id, { metadata: { user: 'john' } });
  assert.equal(updated.metadata.user, 'john');
  assert.equal((await openai.beta.threads.delete(thread.id)).deleted, true);
});

test('bad input surfaces as BadRequestError with param', async () => {
  await assert.rejects(
    openai.beta.assistants.create({ model: 'gpt-4o', metadata: Object.fromEntries([...Array(17).keys()].map(i => [`k${i}`, 'v'])) }),
    (e) => e instanceof BadRequestError && e.param === 'metadata');
});

test('files: upload, retrieve, download, list, delete', async () => {
  const file = await openai.files.create({ file: await toFile(Buffer.from('Lodging,5000.00\nFlights,4000.00\n'), 'airbnb_bills.csv'), purpose: 'assistants' });
  assert.match(file.id, /^file-/);
  assert.equal(file.filename, 'airbnb_bills.csv');
  const content = await (await openai.files.content(file.id)).text();
  assert.equal(content, 'Lodging,5000.00\nFlights,4000.00\n');
  const listed = [];
  for await (const f of openai.files.list({ purpose: 'assistants' })) listed.push(f.id);
  assert.ok(listed.includes(file.id));
  assert.equal((await openai.files.delete(file.id)).deleted, true);
});

test('AzureOpenAI client: same surface under /openai with api-key', async () => {
  const assistant = await azure.beta.assistants.create({ model: 'gpt4-1106-fta-assistants', name: 'HR Assistant', tools: [{ type: 'file_search' }] });
  const thread = await azure.beta.threads.create();
  await azure.beta.threads.messages.create(thread.id, { role: 'user', content: 'What is the 401k matching percentage?' });
  const messages = await azure.beta.threads.messages.list(thread.id);
  assert.equal(messages.data[0].content[0].text.value, 'What is the 401k matching percentage?');
  // The same objects are visible through the OpenAI route set.
  assert.equal((await openai.beta.assistants.retrieve(assistant.id)).name, 'HR Assistant');
  await azure.beta.assistants.delete(assistant.id);
});

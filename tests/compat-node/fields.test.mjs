// Issue #10 §2–§3 through the official openai SDK (6.49.0) against a running Threadloom (THREADLOOM_URL).
// The server's model follows MessageRules (tests/Threadloom.Compatibility.Tests/RunsServer.cs); "UPSTREAM" makes it
// answer with what its request carried. Model names starting "o3" are routed as reasoning models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import OpenAI, { AzureOpenAI, toFile } from 'openai';

const base = process.env.THREADLOOM_URL ?? 'http://127.0.0.1:8080';
const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'node-key', maxRetries: 0 });
const azure = new AzureOpenAI({ endpoint: base, apiKey: 'azure-key', apiVersion: '2024-05-01-preview', maxRetries: 0 });

async function upstreamSeen(model, runParams = {}, assistantParams = {}) {
  const assistant = await openai.beta.assistants.create({ model, ...assistantParams });
  const thread = await openai.beta.threads.create({ messages: [{ role: 'user', content: 'UPSTREAM' }] });
  const run = await openai.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id, ...runParams }, { pollIntervalMs: 50 });
  assert.equal(run.status, 'completed');
  const messages = await openai.beta.threads.messages.list(thread.id);
  const text = messages.data[0].content[0].text.value;
  return JSON.parse(text.slice('Upstream: '.length));
}

test('reasoning_effort: sent to a reasoning route (the run overrides the assistant), without temperature', async () => {
  const seen = await upstreamSeen('o3-mini', { reasoning_effort: 'high' }, { reasoning_effort: 'low' });
  assert.equal(seen.reasoning_effort, 'high');
  assert.equal(seen.temperature, null);
});

test('reasoning_effort: never sent to other routes', async () => {
  const seen = await upstreamSeen('gpt-4o', { reasoning_effort: 'high' });
  assert.equal(seen.reasoning_effort, null);
  assert.equal(seen.temperature, 1);
});

test('reasoning_effort: a value outside the enum is a BadRequestError with param', async () => {
  await assert.rejects(openai.beta.assistants.create({ model: 'o3-mini', reasoning_effort: 'extreme' }), (error) => {
    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.param, 'reasoning_effort');
    assert.equal(error.code, 'invalid_value');
    return true;
  });
});

test('max_completion_tokens reaches the model', async () => {
  const seen = await upstreamSeen('gpt-4o', { max_completion_tokens: 512 });
  assert.equal(seen.max_completion_tokens, 512);
});

test('uploads: create, parts in any order, complete with md5 into one file; cancel', async () => {
  const parts = [Buffer.from('first part, '), Buffer.from('second part, '), Buffer.from('third part')];
  const whole = Buffer.concat(parts);
  const upload = await openai.uploads.create({ bytes: whole.length, filename: 'joined.txt', mime_type: 'text/plain', purpose: 'assistants' });
  assert.equal(upload.object, 'upload');
  assert.equal(upload.status, 'pending');
  assert.equal(upload.expires_at, upload.created_at + 3600);
  const ids = [];
  for (const [i, part] of parts.entries()) {
    const added = await openai.uploads.parts.create(upload.id, { data: await toFile(part, `part${i}`) });
    assert.equal(added.object, 'upload.part');
    assert.equal(added.upload_id, upload.id);
    ids.push(added.id);
  }
  const md5 = createHash('md5').update(whole).digest('hex');
  const completed = await openai.uploads.complete(upload.id, { part_ids: ids, md5 });
  assert.equal(completed.status, 'completed');
  assert.equal(completed.file.bytes, whole.length);
  assert.equal(completed.file.filename, 'joined.txt');
  const content = await openai.files.content(completed.file.id);
  assert.equal(Buffer.from(await content.arrayBuffer()).toString(), whole.toString());

  const other = await openai.uploads.create({ bytes: 4, filename: 'x.bin', mime_type: 'application/octet-stream', purpose: 'assistants' });
  const cancelled = await openai.uploads.cancel(other.id);
  assert.equal(cancelled.status, 'cancelled');
  await assert.rejects(openai.uploads.parts.create(other.id, { data: await toFile(Buffer.from('abcd'), 'p') }), OpenAI.BadRequestError);
});

test('uploads: the Azure route set serves them too, and a wrong total is a BadRequestError', async () => {
  const upload = await azure.uploads.create({ bytes: 10, filename: 'short.txt', mime_type: 'text/plain', purpose: 'assistants' });
  const part = await azure.uploads.parts.create(upload.id, { data: await toFile(Buffer.from('12345'), 'p') });
  await assert.rejects(azure.uploads.complete(upload.id, { part_ids: [part.id] }), (error) => {
    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.param, 'part_ids');
    return true;
  });
});

test('files.create with expires_after sets expires_at', async () => {
  const file = await openai.files.create({
    file: await toFile(Buffer.from('temporary'), 'temp.txt'),
    purpose: 'assistants',
    expires_after: { anchor: 'created_at', seconds: 3600 },
  });
  assert.equal(file.expires_at, file.created_at + 3600);
});

test('vectorStores.update with expires_after null clears the expiry', async () => {
  const store = await openai.vectorStores.create({ name: 'temp', expires_after: { anchor: 'last_active_at', days: 3 } });
  assert.equal(store.expires_after.days, 3);
  const cleared = await openai.vectorStores.update(store.id, { expires_after: null });
  // The spec makes expires_after optional, never null: a store without an expiry policy leaves it out.
  assert.equal(cleared.expires_after, undefined);
  assert.equal(cleared.expires_at, null);
});

test('x-request-id: the SDK exposes it on results and on errors', async () => {
  const { data, request_id: requestId, response } = await openai.beta.assistants.create({ model: 'gpt-4o' }).withResponse();
  assert.match(data.id, /^asst_/);
  assert.match(requestId, /^req_[0-9a-f]{32}$/);
  assert.match(response.headers.get('openai-processing-ms'), /^\d+$/);
  await assert.rejects(openai.beta.assistants.retrieve('asst_missing'), (error) => {
    assert.ok(error instanceof OpenAI.NotFoundError);
    assert.match(error.requestID, /^req_[0-9a-f]{32}$/);
    return true;
  });
});

test('models.list under a catch-all route lists the upstream models', async () => {
  const ids = [];
  for await (const model of openai.models.list()) {
    ids.push(model.id);
  }
  assert.ok(ids.includes('scripted-model'), JSON.stringify(ids));
});

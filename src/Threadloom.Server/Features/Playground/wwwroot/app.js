// Threadloom Playground. Plain JavaScript over the public API (/v1) with the user's key, plus /playground/api for
// Markdown rendering and run prompts. Text from the API is put in the page with textContent; the only HTML inserted
// is what /playground/api/render returns (Markdig with raw HTML disabled), under a CSP that allows no inline script.

const KEY_STORAGE = 'threadloom.playground.key';
const DEV_KEY = 'playground-dev-mode';
const INCLUDE_RESULTS = 'include[]=step_details.tool_calls[*].file_search.results[*].content';
const ACTIVE = new Set(['queued', 'in_progress', 'requires_action', 'cancelling']);
const main = document.getElementById('main');

// ---------------------------------------------------------------- small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fmtTime(unix) { return unix ? new Date(unix * 1000).toLocaleString() : '—'; }
function fmtBytes(n) { return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`; }
function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return '';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return seconds < 90 ? `${seconds.toFixed(seconds < 10 ? 2 : 1)} s` : `${(seconds / 60).toFixed(1)} min`;
}
function status(s) { return h('span', { class: `status ${s}`, text: s.replace('_', ' ') }); }
function pretty(text) { try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; } }
function toast(message) {
  const t = document.getElementById('toast');
  t.textContent = message; t.classList.add('show');
  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.remove('show'), 2600);
}
function usageText(u) { return u ? `${u.prompt_tokens} prompt + ${u.completion_tokens} completion = ${u.total_tokens} tokens` : ''; }

// ---------------------------------------------------------------- API access (the key stays in sessionStorage)

class ApiError extends Error {
  constructor(status, message, param) { super(message); this.status = status; this.param = param; }
}

const auth = {
  get key() { return sessionStorage.getItem(KEY_STORAGE); },
  set key(value) { value ? sessionStorage.setItem(KEY_STORAGE, value) : sessionStorage.removeItem(KEY_STORAGE); },
  bearer() { return this.key || DEV_KEY; },
};

function headers(extra) {
  return { Authorization: `Bearer ${auth.bearer()}`, 'OpenAI-Beta': 'assistants=v2', ...extra };
}

async function api(method, path, body) {
  const init = { method, headers: headers() };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
  const res = await fetch(path, init);
  return readResponse(res);
}

async function readResponse(res) {
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    const message = json?.error?.message || `${res.status} ${res.statusText}`;
    if (res.status === 401) askForKey(message);
    throw new ApiError(res.status, message, json?.error?.param);
  }
  return json;
}

async function listAll(path, limit = 100) {
  const sep = path.includes('?') ? '&' : '?';
  return (await api('GET', `${path}${sep}limit=${limit}`)).data;
}

/** Uploads with progress through XMLHttpRequest (fetch has no upload progress). */
function uploadFile(file, purpose, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append('purpose', purpose);
    form.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/files');
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = e => { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let json = null;
      try { json = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(json);
      else {
        if (xhr.status === 401) askForKey(json?.error?.message);
        reject(new ApiError(xhr.status, json?.error?.message || `Upload failed (${xhr.status})`, json?.error?.param));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'The upload could not reach the server.'));
    xhr.send(form);
  });
}

const blobUrls = new Map();
async function fileBlobUrl(fileId) {
  if (!blobUrls.has(fileId)) {
    blobUrls.set(fileId, (async () => {
      const res = await fetch(`/v1/files/${encodeURIComponent(fileId)}/content`, { headers: headers() });
      if (!res.ok) await readResponse(res);
      return URL.createObjectURL(await res.blob());
    })());
  }
  return blobUrls.get(fileId);
}

const fileNames = new Map();
async function fileName(fileId) {
  if (!fileNames.has(fileId)) fileNames.set(fileId, api('GET', `/v1/files/${encodeURIComponent(fileId)}`).then(f => f.filename, () => fileId));
  return fileNames.get(fileId);
}

async function download(fileId) {
  try {
    const url = await fileBlobUrl(fileId);
    const a = h('a', { href: url, download: await fileName(fileId) });
    document.body.append(a); a.click(); a.remove();
  } catch (e) { toast(`Download failed: ${e.message}`); }
}

function imageOf(fileId, alt) {
  const img = h('img', { alt: alt || `Image ${fileId}`, 'data-file-id': fileId });
  fileBlobUrl(fileId).then(url => { img.src = url; }, e => img.replaceWith(h('span', { class: 'run-error', text: `Image ${fileId}: ${e.message}` })));
  return img;
}

/** Markdown to safe HTML on the server (Markdig, raw HTML disabled). */
async function renderMarkdown(items) {
  const res = await api('POST', '/playground/api/render', { items });
  return res.html;
}

function setHtml(el, html) {
  el.innerHTML = html; // from /playground/api/render only: Markdig with DisableHtml, link schemes filtered
  for (const pre of el.querySelectorAll('pre > code[class*="language-"]')) {
    const lang = [...pre.classList].find(c => c.startsWith('language-'));
    if (lang) pre.parentElement.dataset.lang = lang.slice('language-'.length);
  }
  for (const a of el.querySelectorAll('a[href^="http"]')) { a.target = '_blank'; a.rel = 'noopener noreferrer nofollow'; }
  // A link whose URL was refused (javascript:, data:, …) goes nowhere; "#" must not move the page's own router.
  for (const a of el.querySelectorAll('a.unsafe-link')) {
    a.title = 'Link removed: its URL scheme is not allowed';
    a.addEventListener('click', e => e.preventDefault());
  }
}

// ---------------------------------------------------------------- key dialog and auth state

const keyDialog = document.getElementById('key-dialog');
function askForKey(reason) {
  document.getElementById('key-reason').textContent = reason || 'This server needs an API key.';
  document.getElementById('key-input').value = '';
  if (!keyDialog.open) keyDialog.showModal();
}
document.getElementById('key-form').addEventListener('submit', () => {
  auth.key = document.getElementById('key-input').value.trim();
  probe().then(route);
});
document.getElementById('key-forget').addEventListener('click', () => { auth.key = null; keyDialog.close(); probe().then(route); });
document.getElementById('key-button').addEventListener('click', () => askForKey(auth.key ? 'A key is set for this tab.' : 'No key is set: the server is in dev mode, or asks for one.'));

let models = [];
async function probe() {
  const state = document.getElementById('auth-state');
  try {
    models = (await api('GET', '/v1/models')).data.map(m => m.id);
    state.textContent = auth.key ? 'key set' : 'dev mode';
    return true;
  } catch (e) {
    state.textContent = e.status === 401 ? 'key needed' : 'server unreachable';
    return false;
  }
}

// ---------------------------------------------------------------- theme

const themeButton = document.getElementById('theme-button');
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  themeButton.textContent = theme === 'dark' ? 'Light theme' : 'Dark theme';
  localStorage.setItem('threadloom.playground.theme', theme);
}
applyTheme(localStorage.getItem('threadloom.playground.theme') || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
themeButton.addEventListener('click', () => applyTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark'));

// ---------------------------------------------------------------- routing

let leaveView = () => {};
async function route() {
  leaveView(); leaveView = () => {};
  const parts = (location.hash.replace(/^#\/?/, '') || 'assistants').split('/').map(decodeURIComponent);
  for (const a of document.querySelectorAll('nav a')) a.toggleAttribute('aria-current', a.dataset.section === parts[0]);
  for (const a of document.querySelectorAll('nav a[aria-current]')) a.setAttribute('aria-current', 'page');
  main.replaceChildren(h('p', { class: 'loading', text: 'Loading…' }));
  try {
    if (parts[0] === 'assistants' && parts[1]) await assistantEditor(parts[1] === 'new' ? null : parts[1]);
    else if (parts[0] === 'threads' && parts[1] && parts[2] === 'runs' && parts[3]) await runInspector(parts[1], parts[3]);
    else if (parts[0] === 'threads' && parts[1]) await threadView(parts[1]);
    else if (parts[0] === 'threads') await threadList();
    else if (parts[0] === 'files') await filesView();
    else if (parts[0] === 'vector_stores' && parts[1]) await vectorStoreView(parts[1]);
    else if (parts[0] === 'vector_stores') await vectorStoresView();
    else await assistantList();
  } catch (e) {
    main.replaceChildren(h('div', { class: 'panel' }, h('h1', { text: 'Something went wrong' }), h('p', { class: 'form-error', role: 'alert', text: e.message })));
  }
}
window.addEventListener('hashchange', route);

function page(title, ...children) {
  document.title = `${title} · Threadloom Playground`;
  main.replaceChildren(...children);
}

// ---------------------------------------------------------------- assistants

function toolSummary(a) {
  return a.tools.map(t => t.type === 'function' ? t.function.name : t.type).join(', ') || 'no tools';
}

async function assistantList() {
  const assistants = await listAll('/v1/assistants');
  const rows = assistants.map(a => h('tr', {},
    h('td', {}, h('a', { href: `#/assistants/${a.id}`, text: a.name || '(unnamed)' }), h('div', { class: 'id', text: a.id })),
    h('td', { text: a.model }),
    h('td', { text: toolSummary(a) }),
    h('td', { class: 'actions' },
      h('button', { type: 'button', onclick: () => startChat(a.id), text: 'Chat' }), ' ',
      h('a', { class: 'button', href: `#/assistants/${a.id}`, text: 'Edit' }), ' ',
      h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${a.name || a.id}`, text: 'Delete', onclick: async () => {
        if (!confirm(`Delete assistant ${a.name || a.id}?`)) return;
        await api('DELETE', `/v1/assistants/${a.id}`); toast('Assistant deleted'); route();
      } }))));
  page('Assistants', h('section', { class: 'panel' },
    h('div', { class: 'row between' }, h('h1', { text: 'Assistants' }), h('a', { class: 'button primary', href: '#/assistants/new', text: 'New assistant' })),
    assistants.length === 0
      ? h('p', { class: 'empty', text: 'No assistants yet. Create one to start chatting.' })
      : h('table', { class: 'responsive' }, h('thead', {}, h('tr', {}, h('th', { text: 'Name' }), h('th', { text: 'Model' }), h('th', { text: 'Tools' }), h('th', {}))), h('tbody', {}, rows))));
}

async function startChat(assistantId) {
  const thread = await api('POST', '/v1/threads', {});
  sessionStorage.setItem(`threadloom.playground.assistant.${thread.id}`, assistantId);
  location.hash = `#/threads/${thread.id}`;
}

const RESERVED = new Set(['code_interpreter', 'file_search']);
/** Client-side check of one function definition; returns an error message or null. */
function validateFunction(text) {
  let value;
  try { value = JSON.parse(text); } catch (e) { return `Not valid JSON: ${e.message}`; }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'A function must be a JSON object: {"name": …, "description": …, "parameters": {…}}.';
  for (const key of Object.keys(value)) {
    if (!['name', 'description', 'parameters', 'strict'].includes(key)) return `Unknown field "${key}": a function has name, description, parameters and strict.`;
  }
  if (typeof value.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(value.name)) return '"name" is required: 1 to 64 letters, digits, underscores or dashes.';
  if (RESERVED.has(value.name)) return `"${value.name}" is the name of a built-in tool; choose another.`;
  if (value.description !== undefined && typeof value.description !== 'string') return '"description" must be a string.';
  if (value.parameters !== undefined) {
    if (typeof value.parameters !== 'object' || value.parameters === null || Array.isArray(value.parameters)) return '"parameters" must be a JSON Schema object.';
    if (value.parameters.type !== undefined && value.parameters.type !== 'object') return '"parameters.type" must be "object".';
    if (value.parameters.properties !== undefined && (typeof value.parameters.properties !== 'object' || Array.isArray(value.parameters.properties))) return '"parameters.properties" must be an object.';
  }
  if (value.strict !== undefined && typeof value.strict !== 'boolean') return '"strict" must be true or false.';
  return null;
}

const FUNCTION_TEMPLATE = JSON.stringify({
  name: 'get_weather', description: 'Get the current weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}, null, 2);

async function assistantEditor(id) {
  const [assistant, stores, files] = await Promise.all([
    id ? api('GET', `/v1/assistants/${id}`) : null,
    listAll('/v1/vector_stores'),
    listAll('/v1/files'),
  ]);
  const a = assistant || { name: '', instructions: '', model: models[0] || 'gpt-4o', tools: [], tool_resources: {} };
  const formError = h('div', { class: 'form-error', role: 'alert', id: 'assistant-error' });
  const name = h('input', { type: 'text', id: 'a-name', value: a.name || '', maxlength: 256 });
  const instructions = h('textarea', { id: 'a-instructions', rows: 5 });
  instructions.value = a.instructions || '';
  const modelOptions = [...new Set([...models, a.model])].filter(Boolean);
  const model = h('select', { id: 'a-model' }, modelOptions.map(m => h('option', { value: m, text: m, selected: m === a.model })));
  const codeTool = h('input', { type: 'checkbox', id: 'a-code', checked: a.tools.some(t => t.type === 'code_interpreter') });
  const searchTool = h('input', { type: 'checkbox', id: 'a-search', checked: a.tools.some(t => t.type === 'file_search') });

  // Functions: one JSON editor each, validated as typed, the error right under the field.
  const functionList = h('div', { class: 'functions' });
  let functionCount = 0;
  function addFunction(definition) {
    const index = functionCount++;
    const errorId = `fn-error-${index}`;
    const editor = h('textarea', { class: 'code', id: `fn-${index}`, 'aria-describedby': errorId, spellcheck: 'false', 'aria-label': `Function ${index + 1} (JSON)` });
    editor.value = definition;
    const error = h('p', { class: 'field-error', id: errorId, role: 'alert' });
    const check = () => { const problem = validateFunction(editor.value); error.textContent = problem || ''; editor.setAttribute('aria-invalid', problem ? 'true' : 'false'); return !problem; };
    editor.addEventListener('input', check);
    const box = h('div', { class: 'function', dataset: { index } },
      h('label', { for: editor.id, text: `Function ${index + 1}` }), editor, error,
      h('div', { class: 'row end' }, h('button', { type: 'button', class: 'danger', text: 'Remove function', onclick: () => box.remove() })));
    box.check = check; box.editor = editor; box.error = error;
    functionList.append(box);
    if (definition.trim()) check();
    return box;
  }
  for (const t of a.tools.filter(t => t.type === 'function')) addFunction(JSON.stringify(t.function, null, 2));

  // Files: code interpreter file ids, and one vector store for file search.
  const codeFiles = new Set(a.tool_resources?.code_interpreter?.file_ids || []);
  const codeFileList = h('ul', { class: 'file-list' });
  const renderCodeFiles = () => codeFileList.replaceChildren(...[...codeFiles].map(fid => {
    const label = h('span', { text: fid });
    fileName(fid).then(n => { label.textContent = `${n} (${fid})`; });
    return h('li', {}, label, ' ', h('button', { type: 'button', class: 'ghost', text: 'Detach', 'aria-label': `Detach ${fid}`, onclick: () => { codeFiles.delete(fid); renderCodeFiles(); } }));
  }));
  renderCodeFiles();
  const existing = h('select', { id: 'a-code-existing', 'aria-label': 'Attach an uploaded file to the code interpreter' },
    h('option', { value: '', text: 'Attach an uploaded file…' }), files.map(f => h('option', { value: f.id, text: `${f.filename} (${f.purpose})` })));
  existing.addEventListener('change', () => { if (existing.value) { codeFiles.add(existing.value); existing.value = ''; renderCodeFiles(); } });
  const codeUpload = uploadControl('a-code-upload', 'Upload a file for the code interpreter', 'assistants', f => { codeFiles.add(f.id); renderCodeFiles(); });

  let storeId = a.tool_resources?.file_search?.vector_store_ids?.[0] || '';
  const storeSelect = h('select', { id: 'a-store' }, h('option', { value: '', text: 'No vector store' }),
    stores.map(s => h('option', { value: s.id, text: `${s.name || s.id} (${s.file_counts.completed}/${s.file_counts.total} files)`, selected: s.id === storeId })));
  const storeUpload = uploadControl('a-store-upload', 'Upload a file to the vector store (a new store is created when none is chosen)', 'assistants', async f => {
    if (!storeSelect.value) {
      const store = await api('POST', '/v1/vector_stores', { name: `${name.value || 'Assistant'} files`, file_ids: [f.id] });
      storeSelect.append(h('option', { value: store.id, text: store.name }));
      storeSelect.value = store.id;
    } else {
      await api('POST', `/v1/vector_stores/${storeSelect.value}/files`, { file_id: f.id });
    }
    toast('File added to the vector store; it is being indexed.');
  });

  async function save(e) {
    e.preventDefault();
    formError.textContent = '';
    const boxes = [...functionList.querySelectorAll('.function')];
    const bad = boxes.filter(b => !b.check());
    if (bad.length) { bad[0].editor.focus(); formError.textContent = 'Fix the function definitions marked below.'; return; }
    const tools = [];
    if (codeTool.checked) tools.push({ type: 'code_interpreter' });
    if (searchTool.checked) tools.push({ type: 'file_search' });
    for (const b of boxes) tools.push({ type: 'function', function: JSON.parse(b.editor.value) });
    const body = {
      name: name.value || null, instructions: instructions.value, model: model.value, tools,
      tool_resources: { code_interpreter: { file_ids: [...codeFiles] }, file_search: { vector_store_ids: storeSelect.value ? [storeSelect.value] : [] } },
    };
    try {
      const saved = await api('POST', id ? `/v1/assistants/${id}` : '/v1/assistants', body);
      toast('Assistant saved');
      location.hash = `#/assistants/${saved.id}`;
      if (id) route();
    } catch (err) {
      // An error about one function goes next to that function's field.
      const m = /^tools\[(\d+)\]/.exec(err.param || '');
      const box = m ? boxes[Number(m[1]) - (tools.length - boxes.length)] : null;
      if (box) { box.error.textContent = err.message; box.editor.setAttribute('aria-invalid', 'true'); box.editor.focus(); }
      formError.textContent = err.message;
    }
  }

  page(id ? `Edit ${a.name || id}` : 'New assistant', h('form', { class: 'panel', id: 'assistant-form', onsubmit: save, novalidate: true },
    h('div', { class: 'row between' }, h('h1', { text: id ? `Edit assistant` : 'New assistant' }),
      id ? h('button', { type: 'button', onclick: () => startChat(id), text: 'Chat with it' }) : null),
    id ? h('p', { class: 'id', text: id }) : null,
    formError,
    h('label', { for: 'a-name', text: 'Name' }), name,
    h('label', { for: 'a-model', text: 'Model' }), model,
    h('p', { class: 'hint', text: 'Models come from GET /v1/models (the server\'s configured routes).' }),
    h('label', { for: 'a-instructions', text: 'Instructions' }), instructions,
    h('fieldset', {}, h('legend', { text: 'Tools' }),
      h('label', { class: 'inline', for: 'a-code' }, codeTool, 'Code interpreter'),
      h('label', { class: 'inline', for: 'a-search' }, searchTool, 'File search'),
      h('h3', { text: 'Functions' }),
      h('p', { class: 'hint', text: 'Each function is a JSON object with name, description and parameters (a JSON Schema).' }),
      functionList,
      h('button', { type: 'button', id: 'add-function', text: 'Add function', onclick: () => addFunction(FUNCTION_TEMPLATE).editor.focus() })),
    h('fieldset', {}, h('legend', { text: 'Code interpreter files' }), codeFileList, existing, codeUpload),
    h('fieldset', {}, h('legend', { text: 'File search' }),
      h('label', { for: 'a-store', text: 'Vector store' }), storeSelect, storeUpload),
    h('div', { class: 'row end' }, h('a', { class: 'button', href: '#/assistants', text: 'Cancel' }), h('button', { type: 'submit', class: 'primary', id: 'save-assistant', text: 'Save' }))));
}

/** A file input that uploads at once, with a progress bar and the server's error next to it. */
function uploadControl(id, labelText, purpose, onUploaded) {
  const input = h('input', { type: 'file', id });
  const progress = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const message = h('p', { class: 'field-error', role: 'alert', id: `${id}-error` });
  const done = h('p', { class: 'hint', 'aria-live': 'polite' });
  input.addEventListener('change', async () => {
    message.textContent = ''; done.textContent = '';
    for (const file of input.files) {
      progress.hidden = false; progress.value = 0;
      try {
        const uploaded = await uploadFile(file, typeof purpose === 'function' ? purpose() : purpose, p => { progress.value = p; });
        progress.value = 1;
        await onUploaded(uploaded);
        done.textContent = `Uploaded ${uploaded.filename} (${fmtBytes(uploaded.bytes)}).`;
      } catch (e) { message.textContent = e.message; }
      progress.hidden = true;
    }
    input.value = '';
  });
  return h('div', { class: 'upload' }, h('label', { for: id, text: labelText }), input, progress, message, done);
}

// ---------------------------------------------------------------- threads

async function threadList() {
  const threads = await listAll('/v1/threads');
  page('Threads', h('section', { class: 'panel' },
    h('div', { class: 'row between' }, h('h1', { text: 'Threads' }),
      h('button', { type: 'button', class: 'primary', text: 'New thread', onclick: async () => { const t = await api('POST', '/v1/threads', {}); location.hash = `#/threads/${t.id}`; } })),
    threads.length === 0 ? h('p', { class: 'empty', text: 'No threads yet.' }) :
      h('table', { class: 'responsive' }, h('thead', {}, h('tr', {}, h('th', { text: 'Thread' }), h('th', { text: 'Created' }), h('th', {}))),
        h('tbody', {}, threads.map(t => h('tr', {},
          h('td', {}, h('a', { href: `#/threads/${t.id}`, text: t.metadata?.title || t.id })),
          h('td', { text: fmtTime(t.created_at) }),
          h('td', { class: 'actions' }, h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete ${t.id}`, onclick: async () => {
            if (!confirm(`Delete thread ${t.id}?`)) return;
            await api('DELETE', `/v1/threads/${t.id}`); route();
          } }))))))));
}

/** What the playground saw of each run's status, with the browser's clock (the inspector merges it in). */
const seenStatuses = new Map();
function noteStatus(run) {
  const list = seenStatuses.get(run.id) || [];
  if (list.at(-1)?.status !== run.status) list.push({ status: run.status, at: Date.now() / 1000 });
  seenStatuses.set(run.id, list);
}

async function threadView(threadId) {
  const [thread, assistants, messages, runs] = await Promise.all([
    api('GET', `/v1/threads/${threadId}`),
    listAll('/v1/assistants'),
    listAll(`/v1/threads/${threadId}/messages?order=asc`),
    listAll(`/v1/threads/${threadId}/runs?order=asc`),
  ]);
  const stepsByRun = new Map(await Promise.all(runs.map(async r => [r.id, await listAll(`/v1/threads/${threadId}/runs/${r.id}/steps?order=asc&${INCLUDE_RESULTS}`)])));
  const remembered = sessionStorage.getItem(`threadloom.playground.assistant.${threadId}`) || runs.at(-1)?.assistant_id;
  const assistantSelect = h('select', { id: 'chat-assistant' }, assistants.map(a => h('option', { value: a.id, text: a.name || a.id, selected: a.id === remembered })));
  assistantSelect.addEventListener('change', () => sessionStorage.setItem(`threadloom.playground.assistant.${threadId}`, assistantSelect.value));
  const list = h('ol', { class: 'messages', id: 'messages', 'aria-label': 'Conversation' });
  const input = h('textarea', { id: 'composer-input', rows: 2, placeholder: 'Message… (Enter sends, Shift+Enter for a new line)', 'aria-label': 'Message' });
  const send = h('button', { type: 'submit', class: 'primary', id: 'send', text: 'Send' });
  const cancel = h('button', { type: 'button', id: 'cancel-run', class: 'danger', text: 'Cancel run', hidden: true });
  const statusLine = h('span', { class: 'muted small', id: 'chat-status', 'aria-live': 'polite' });
  const chat = new Chat(threadId, list, { send, cancel, statusLine, input });

  // History: user messages and runs in order; a run expands to its steps (tool calls and its messages).
  const byId = new Map(messages.map(m => [m.id, m]));
  const items = [
    ...messages.filter(m => !m.run_id).map(m => ({ at: m.created_at, order: 0, message: m })),
    ...runs.map(r => ({ at: r.created_at, order: 1, run: r })),
  ].sort((x, y) => x.at - y.at || x.order - y.order);
  const shown = new Set();
  for (const item of items) {
    if (item.message) { list.append(chat.messageElement(item.message)); continue; }
    const view = chat.runView(item.run.id);
    for (const step of stepsByRun.get(item.run.id) || []) {
      if (step.type === 'message_creation') {
        const m = byId.get(step.step_details.message_creation.message_id);
        if (m) { shown.add(m.id); view.add(chat.messageElement(m)); }
      } else {
        view.setStep(step);
      }
    }
    for (const m of messages.filter(x => x.run_id === item.run.id && !shown.has(x.id))) view.add(chat.messageElement(m));
    view.finish(item.run);
  }
  const active = runs.find(r => ACTIVE.has(r.status));
  if (active) chat.follow(active);

  const form = h('form', { class: 'composer', id: 'composer', onsubmit: e => { e.preventDefault(); chat.send(input.value, assistantSelect.value); } },
    h('div', { class: 'row' }, h('label', { for: 'chat-assistant', class: 'inline', text: 'Assistant' }), h('div', { class: 'grow' }, assistantSelect)),
    input,
    h('div', { class: 'row between' }, statusLine, h('div', { class: 'row' }, cancel, send)));
  input.addEventListener('keydown', e => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); } });
  page(`Thread ${threadId}`, h('section', { class: 'chat' },
    h('div', { class: 'row between' }, h('h1', {}, 'Thread ', h('span', { class: 'id', text: thread.id })),
      h('a', { href: '#/threads', text: 'All threads' })),
    assistants.length === 0 ? h('p', { class: 'form-error', text: 'No assistant yet: create one under Assistants first.' }) : null,
    list, form));
  leaveView = () => chat.close();
  if (!active) input.focus();
}

/** One thread's conversation: renders history and follows runs through their event streams. */
class Chat {
  constructor(threadId, list, controls) {
    this.threadId = threadId; this.list = list; this.controls = controls;
    this.runs = new Map(); this.messages = new Map(); this.abort = null; this.activeRun = null;
    controls.cancel.addEventListener('click', () => this.cancel());
  }

  close() { this.abort?.abort(); }

  runView(runId) {
    if (!this.runs.has(runId)) {
      const view = new RunView(this, runId);
      this.runs.set(runId, view);
      this.list.append(view.el);
    }
    return this.runs.get(runId);
  }

  messageElement(m) {
    const body = h('div', { class: 'body' });
    const el = h('li', { class: `msg ${m.role}`, 'data-message-id': m.id }, h('div', { class: 'who', text: m.role }), body);
    const state = { el, body, text: '', annotations: [], images: [], html: null, rendering: false, dirty: false, message: m };
    this.messages.set(m.id, state);
    this.fillMessage(state, m);
    return el;
  }

  fillMessage(state, m) {
    state.text = ''; state.annotations = []; state.images = [];
    for (const part of m.content || []) {
      if (part.type === 'text') { state.text += part.text.value; state.annotations.push(...(part.text.annotations || [])); }
      else if (part.type === 'image_file') state.images.push(part.image_file.file_id);
    }
    this.paint(state, true);
  }

  /** Text shows at once as plain text; Markdown replaces it when the server has rendered it (one request in flight). */
  paint(state, final) {
    if (state.imagesShown !== state.images.length) {
      state.el.querySelectorAll('.msg-images').forEach(x => x.remove());
      if (state.images.length) state.el.insertBefore(h('div', { class: 'msg-images' }, state.images.map(id => imageOf(id, 'Image from the code interpreter'))), state.body);
      state.imagesShown = state.images.length;
    }
    if (state.html === null) state.body.textContent = state.text;
    state.dirty = true; state.final = final;
    if (!state.rendering) this.renderLoop(state);
  }

  async renderLoop(state) {
    state.rendering = true;
    try {
      while (state.dirty) {
        state.dirty = false;
        const text = state.text;
        const citations = state.annotations.filter(a => a.type === 'file_citation' && a.end_index > a.start_index)
          .map(a => ({ start_index: a.start_index, end_index: a.end_index }));
        const cited = state.annotations.filter(a => a.type === 'file_citation' && a.end_index > a.start_index);
        const [html] = await renderMarkdown([{ text, citations }]);
        // Deltas came while this rendered: its html is older than what is shown (it was once the empty message's,
        // blanking a streamed reply), so the newer text's render, next round, replaces it instead.
        if (state.text !== text) continue;
        state.html = html; state.cited = cited;
        setHtml(state.body, html);
        this.wire(state);
      }
    } catch (e) {
      state.body.textContent = state.text; // fall back to plain text
    } finally { state.rendering = false; }
  }

  wire(state) {
    for (const b of state.body.querySelectorAll('button.cite')) {
      b.addEventListener('click', () => showCitation(state.cited[Number(b.dataset.annotation)], this.runs.get(state.message.run_id)));
    }
    for (const a of state.body.querySelectorAll('a.sandbox-link')) {
      const path = `sandbox:${a.dataset.sandboxPath}`;
      const target = state.annotations.find(x => x.type === 'file_path' && x.text === path);
      a.title = target ? `Download ${a.dataset.sandboxPath}` : 'File not available';
      a.addEventListener('click', e => { e.preventDefault(); if (target) download(target.file_path.file_id); });
    }
  }

  async send(text, assistantId) {
    text = text.trim();
    if (!text || this.activeRun) return;
    if (!assistantId) { toast('Choose an assistant first.'); return; }
    this.controls.input.value = '';
    try {
      const message = await api('POST', `/v1/threads/${this.threadId}/messages`, { role: 'user', content: text });
      this.list.append(this.messageElement(message));
      await this.stream(`/v1/threads/${this.threadId}/runs?${INCLUDE_RESULTS}`, { assistant_id: assistantId, stream: true });
    } catch (e) {
      this.controls.statusLine.textContent = e.message;
      this.controls.input.value = text;
    }
  }

  busy(run) {
    this.activeRun = run && ACTIVE.has(run.status) && run.status !== 'requires_action' ? run : null;
    this.controls.send.disabled = !!this.activeRun;
    this.controls.cancel.hidden = !(run && ACTIVE.has(run.status) && run.status !== 'cancelling');
    this.cancelTarget = run && ACTIVE.has(run.status) ? run : null;
    this.controls.statusLine.textContent = run ? `Run ${run.id}: ${run.status.replace('_', ' ')}` : '';
  }

  async cancel() {
    const run = this.cancelTarget;
    if (!run) return;
    try { const r = await api('POST', `/v1/threads/${this.threadId}/runs/${run.id}/cancel`); this.busy(r); noteStatus(r); }
    catch (e) { toast(e.message); }
  }

  /** A run that is active when the thread opens: poll it until it ends (its stream began elsewhere). */
  async follow(run) {
    this.busy(run);
    while (!this.closed && run && ACTIVE.has(run.status)) {
      if (run.status === 'requires_action') { this.runView(run.id).finish(run); this.busy(run); return; }
      await new Promise(r => setTimeout(r, 1000));
      if (!document.body.contains(this.list)) return;
      run = await api('GET', `/v1/threads/${this.threadId}/runs/${run.id}`);
      noteStatus(run);
    }
    route();
  }

  /** POSTs with stream:true and applies each Assistants event as it arrives. */
  async stream(path, body) {
    this.abort = new AbortController();
    const res = await fetch(path, { method: 'POST', headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body), signal: this.abort.signal });
    if (!res.ok) await readResponse(res);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        let event = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += (data ? '\n' : '') + line.slice(6);
        }
        if (data && data !== '[DONE]') this.onEvent(event, JSON.parse(data));
      }
    }
  }

  onEvent(event, data) {
    if (event.startsWith('thread.run.step.')) {
      const view = this.runView(data.run_id || this.currentRunId);
      if (event === 'thread.run.step.delta') view.stepDelta(data);
      else if (data.type === 'tool_calls') view.setStep(data);
      return;
    }
    if (event.startsWith('thread.run.')) {
      this.currentRunId = data.id;
      noteStatus(data);
      const view = this.runView(data.id);
      this.busy(data);
      if (!ACTIVE.has(data.status) || data.status === 'requires_action') view.finish(data);
      return;
    }
    if (event === 'thread.message.created') {
      const view = this.runView(data.run_id);
      const el = this.messageElement(data);
      el.classList.add('streaming');
      view.add(el);
      return;
    }
    const state = this.messages.get(data.id);
    if (!state) return;
    if (event === 'thread.message.delta') {
      for (const part of data.delta.content || []) {
        if (part.type === 'text') {
          state.text += part.text?.value || '';
          state.annotations.push(...(part.text?.annotations || []));
        } else if (part.type === 'image_file') state.images.push(part.image_file.file_id);
      }
      this.paint(state, false);
    } else if (event === 'thread.message.completed' || event === 'thread.message.incomplete') {
      state.el.classList.remove('streaming');
      state.message = data;
      this.fillMessage(state, data);
    }
  }
}

/** A run inside the conversation: its tool-call steps, its messages, its action form and its outcome. */
class RunView {
  constructor(chat, runId) {
    this.chat = chat; this.runId = runId; this.steps = new Map(); this.stepData = new Map();
    this.items = h('ol', {});
    this.footer = h('div', { class: 'run-footer' });
    this.el = h('li', { class: 'run', 'data-run-id': runId }, this.items, this.footer);
  }

  add(el) { this.items.append(el); }

  setStep(step) {
    this.stepData.set(step.id, step);
    const el = renderToolStep(step, this.chat.threadId);
    const old = this.steps.get(step.id);
    if (old) old.replaceWith(el); else this.items.append(el);
    this.steps.set(step.id, el);
  }

  /** Streams a tool call's arguments or code as it arrives; the completed step replaces it whole. */
  stepDelta(delta) {
    const calls = delta.delta?.step_details?.tool_calls || [];
    let live = this.steps.get(delta.id);
    if (!live) { live = h('li', { class: 'tool', 'data-step-id': delta.id }, h('div', { class: 'label', text: 'Tool call…' })); this.items.append(live); this.steps.set(delta.id, live); }
    for (const call of calls) {
      let box = live.querySelector(`[data-index="${call.index}"]`);
      if (!box) {
        const title = call.type === 'code_interpreter' ? 'Code interpreter' : call.type === 'file_search' ? 'File search' : `Function ${call.function?.name || ''}`;
        box = h('div', { 'data-index': call.index }, h('div', { class: 'label', text: title }), h('pre', {}, h('code', { class: call.type === 'code_interpreter' ? 'language-python' : '' })), h('div', { class: 'outputs' }));
        live.append(box);
      }
      const code = box.querySelector('code');
      if (call.function?.arguments) code.textContent += call.function.arguments;
      if (call.code_interpreter?.input) code.textContent += call.code_interpreter.input;
      for (const out of call.code_interpreter?.outputs || []) box.querySelector('.outputs').append(renderCodeOutput(out));
    }
  }

  finish(run) {
    this.run = run;
    this.items.querySelectorAll('.action').forEach(x => x.remove());
    const parts = [status(run.status), h('a', { href: `#/threads/${this.chat.threadId}/runs/${run.id}`, text: 'Inspect run', class: 'inspect-link' })];
    if (run.usage) parts.push(h('span', { text: usageText(run.usage) }));
    if (run.last_error) parts.push(h('span', { class: 'run-error', role: 'alert', text: `${run.last_error.code}: ${run.last_error.message}` }));
    if (run.incomplete_details) parts.push(h('span', { class: 'run-error', text: `incomplete: ${run.incomplete_details.reason}` }));
    this.footer.replaceChildren(...parts);
    if (run.status === 'requires_action') this.items.append(this.actionForm(run));
    if (!ACTIVE.has(run.status)) this.refreshSteps();
  }

  /** After the run: the steps again, with file search passages (the include the events may not carry). */
  async refreshSteps() {
    try {
      for (const step of await listAll(`/v1/threads/${this.chat.threadId}/runs/${this.runId}/steps?order=asc&${INCLUDE_RESULTS}`)) {
        if (step.type === 'tool_calls') this.setStep(step);
      }
    } catch { /* the run's history stays as streamed */ }
  }

  actionForm(run) {
    const calls = run.required_action.submit_tool_outputs.tool_calls;
    const fields = calls.map((c, i) => {
      const output = h('textarea', { id: `output-${c.id}`, class: 'code tool-output', rows: 3, 'data-call-id': c.id });
      return h('div', { class: 'call' },
        h('div', { class: 'label' }, 'Function ', h('strong', { text: c.function.name }), ` (call ${c.id})`),
        h('pre', {}, h('code', { class: 'language-json', text: pretty(c.function.arguments) })),
        h('label', { for: output.id, text: `Output of ${c.function.name}${calls.length > 1 ? ` #${i + 1}` : ''}` }), output);
    });
    const error = h('p', { class: 'field-error', role: 'alert' });
    const form = h('form', { class: 'action', 'aria-label': 'Submit tool outputs', onsubmit: async e => {
      e.preventDefault();
      error.textContent = '';
      const tool_outputs = calls.map(c => ({ tool_call_id: c.id, output: form.querySelector(`[data-call-id="${c.id}"]`).value }));
      try {
        form.querySelector('button[type=submit]').disabled = true;
        form.remove();
        await this.chat.stream(`/v1/threads/${this.chat.threadId}/runs/${run.id}/submit_tool_outputs?${INCLUDE_RESULTS}`, { tool_outputs, stream: true });
      } catch (err) { error.textContent = err.message; this.items.append(form); form.querySelector('button[type=submit]').disabled = false; }
    } },
    h('h3', { text: 'The assistant called a function: submit its output' }), fields, error,
    h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'primary', id: 'submit-outputs', text: 'Submit outputs' })));
    setTimeout(() => form.querySelector('textarea')?.focus(), 0);
    return form;
  }
}

function renderCodeOutput(out) {
  if (out.type === 'logs') return h('div', {}, h('div', { class: 'label', text: 'Output' }), h('pre', { class: 'logs', text: out.logs }));
  if (out.type === 'image') return h('div', {}, h('div', { class: 'label', text: 'Image' }), imageOf(out.image.file_id, 'Image drawn by the code'));
  return h('pre', { text: JSON.stringify(out) });
}

function renderToolStep(step, threadId) {
  const details = step.step_details.tool_calls || [];
  const el = h('li', { class: 'tool', 'data-step-id': step.id });
  for (const call of details) {
    if (call.type === 'code_interpreter') {
      el.append(h('details', { open: true, class: 'code-call' }, h('summary', { text: 'Code interpreter' }),
        h('div', { class: 'label', text: 'Code' }), h('pre', {}, h('code', { class: 'language-python', text: call.code_interpreter.input })),
        call.code_interpreter.outputs.map(renderCodeOutput)));
    } else if (call.type === 'file_search') {
      const results = call.file_search.results || [];
      el.append(h('details', { open: true, class: 'search-call' }, h('summary', { text: `File search: ${results.length} passage${results.length === 1 ? '' : 's'} retrieved` }),
        results.length === 0 ? h('p', { class: 'muted', text: 'No passages (or the step was read without them).' }) :
          results.map(r => h('div', {}, h('div', { class: 'label', text: `${r.file_name} · score ${r.score.toFixed(3)}` }),
            (r.content || []).map(c => h('div', { class: 'passage', text: c.text }))))));
    } else if (call.type === 'function') {
      el.append(h('details', { open: true, class: 'function-call' }, h('summary', {}, 'Function ', h('code', { text: call.function.name })),
        h('div', { class: 'label', text: 'Arguments' }), h('pre', {}, h('code', { class: 'language-json', text: pretty(call.function.arguments) })),
        call.function.output !== null && call.function.output !== undefined ? [h('div', { class: 'label', text: 'Output' }), h('pre', { text: call.function.output })] : null));
    }
  }
  el.append(h('div', { class: 'run-footer' }, status(step.status), step.usage ? usageText(step.usage) : ''));
  return el;
}

async function showCitation(annotation, runView) {
  const body = document.getElementById('cite-body');
  if (!annotation) return;
  const fileId = annotation.file_citation.file_id;
  const name = await fileName(fileId);
  const passages = [];
  for (const step of runView?.stepData.values() || []) {
    for (const call of step.step_details.tool_calls || []) {
      for (const r of call.file_search?.results || []) if (r.file_id === fileId) passages.push(...(r.content || []).map(c => c.text));
    }
  }
  const quote = annotation.file_citation.quote;
  body.replaceChildren(...[
    h('p', {}, 'From ', h('strong', { text: name }), ' ', h('span', { class: 'id', text: fileId })),
    h('p', { class: 'muted small', text: `Marker ${annotation.text} (characters ${annotation.start_index}–${annotation.end_index})` }),
    quote ? h('blockquote', { class: 'passage', id: 'cite-quote', text: quote }) : null,
    !quote && passages.length ? passages.map(p => h('blockquote', { class: 'passage', text: p })) : null,
    !quote && !passages.length ? h('p', { class: 'muted', text: 'The run did not keep the passage text.' }) : null,
    h('button', { type: 'button', text: 'Download source file', onclick: () => download(fileId) })].flat().filter(Boolean));
  document.getElementById('cite-dialog').showModal();
}

// ---------------------------------------------------------------- run inspector

async function runInspector(threadId, runId) {
  let timer = null;
  leaveView = () => clearTimeout(timer);
  const load = async () => {
    const [run, steps, prompts] = await Promise.all([
      api('GET', `/v1/threads/${threadId}/runs/${runId}`),
      listAll(`/v1/threads/${threadId}/runs/${runId}/steps?order=asc&${INCLUDE_RESULTS}`),
      api('GET', `/playground/api/threads/${threadId}/runs/${runId}/prompts`).then(p => p.data, () => []),
    ]);
    noteStatus(run);
    return { run, steps, prompts };
  };
  const draw = ({ run, steps, prompts }) => {
    const t0 = run.created_at;
    const events = [{ at: run.created_at, text: 'created, queued' }];
    if (run.started_at) events.push({ at: run.started_at, text: 'in progress (last start)' });
    for (const p of prompts) events.push({ at: p.created_at_ms / 1000, precise: true, text: `model call ${p.turn} sent (${p.prompt.truncation.prompt_tokens} prompt tokens estimated, ${p.prompt.messages.length} messages)` });
    for (const s of steps) {
      const kind = s.type === 'tool_calls' ? `tool calls: ${s.step_details.tool_calls.map(c => c.type === 'function' ? `function ${c.function.name}` : c.type).join(', ')}` : 'message';
      const end = s.completed_at || s.failed_at || s.cancelled_at || s.expired_at;
      events.push({ at: s.created_at, text: `step ${kind} started`, step: s });
      if (end) events.push({ at: end, text: `step ${kind} ${s.status}`, duration: end - s.created_at, usage: s.usage });
    }
    for (const seen of seenStatuses.get(run.id) || []) events.push({ at: seen.at, precise: true, text: `status ${seen.status} (seen live)` });
    const endAt = run.completed_at || run.failed_at || run.cancelled_at;
    if (endAt) events.push({ at: endAt, text: `run ${run.status}`, duration: endAt - run.created_at, usage: run.usage });
    events.sort((a, b) => a.at - b.at);

    // Run and step times are whole seconds on the wire; model calls and what the page saw live carry milliseconds.
    const offset = e => e.precise ? `+${fmtDuration(Math.max(0, e.at - t0)) || '0 ms'}` : `+${Math.max(0, Math.round(e.at - t0))} s`;
    const timeline = h('ol', { class: 'timeline', id: 'timeline' }, events.map(e => h('li', {},
      h('span', { class: 't', text: offset(e) }), e.text,
      e.duration !== undefined ? h('span', { class: 'muted', text: ` · took ${fmtDuration(e.duration) || '<1 s'}` }) : null,
      e.usage ? h('span', { class: 'muted', text: ` · ${usageText(e.usage)}` }) : null)));

    const stepRows = steps.map(s => {
      const end = s.completed_at || s.failed_at || s.cancelled_at || s.expired_at;
      return h('tr', { 'data-step-type': s.type },
        h('td', {}, s.type === 'tool_calls' ? 'Tool calls' : 'Message', h('div', { class: 'id', text: s.id })),
        h('td', {}, status(s.status)),
        h('td', { text: end ? (fmtDuration(end - s.created_at) || '<1 s') : '…' }),
        h('td', { text: usageText(s.usage) || '—' }));
    });

    const promptViews = prompts.map(p => h('details', { class: 'panel prompt', open: p === prompts.at(-1) },
      h('summary', { text: `Model call ${p.turn}: ${p.prompt.model} → ${p.prompt.upstream_model}, ${p.prompt.messages.length} message${p.prompt.messages.length === 1 ? '' : 's'}, ${p.prompt.tools.length} tool${p.prompt.tools.length === 1 ? '' : 's'}` }),
      h('dl', { class: 'kv' },
        h('dt', { text: 'Truncation' }), h('dd', { text: `${p.prompt.truncation.type}: ${p.prompt.truncation.thread_messages} thread messages, ${p.prompt.truncation.dropped_messages} dropped; ~${p.prompt.truncation.prompt_tokens} of ${p.prompt.truncation.prompt_budget} tokens` }),
        h('dt', { text: 'Tool choice' }), h('dd', { text: p.prompt.tool_choice || 'none offered' }),
        h('dt', { text: 'Max output tokens' }), h('dd', { text: p.prompt.max_output_tokens ?? 'model default' })),
      h('h3', { text: 'Instructions' }), h('pre', { class: 'json', text: p.prompt.instructions ?? '(none)' }),
      h('h3', { text: 'Messages as sent' }),
      p.prompt.messages.map(m => h('div', { class: 'prompt-msg' }, h('div', { class: 'role', text: m.role }),
        m.content.map(c => c.type === 'text' ? h('pre', { text: c.text })
          : c.type === 'tool_call' ? h('pre', { text: `→ ${c.name}(${c.arguments})  [${c.id}]` })
          : c.type === 'tool_result' ? h('pre', { text: `← ${c.tool_call_id}: ${c.output}` })
          : c.type === 'image' ? h('p', { class: 'muted', text: `[image ${c.media_type}, ${fmtBytes(c.bytes)}]` })
          : h('pre', { text: JSON.stringify(c) })))),
      h('h3', { text: 'Tools' }), h('pre', { class: 'json', text: JSON.stringify(p.prompt.tools, null, 2) })));

    const active = ACTIVE.has(run.status);
    page(`Run ${run.id}`,
      h('section', { class: 'panel' },
        h('div', { class: 'row between' }, h('h1', {}, 'Run ', h('span', { class: 'id', text: run.id })),
          h('div', { class: 'row' },
            active && run.status !== 'cancelling' ? h('button', { type: 'button', class: 'danger', id: 'inspector-cancel', text: 'Cancel run', onclick: async () => { await api('POST', `/v1/threads/${threadId}/runs/${runId}/cancel`); refresh(); } }) : null,
            h('a', { class: 'button', href: `#/threads/${threadId}`, text: 'Back to thread' }))),
        h('dl', { class: 'kv' },
          h('dt', { text: 'Status' }), h('dd', {}, status(run.status)),
          h('dt', { text: 'Model' }), h('dd', { text: run.model }),
          h('dt', { text: 'Assistant' }), h('dd', { class: 'id', text: run.assistant_id }),
          h('dt', { text: 'Usage' }), h('dd', { text: usageText(run.usage) || '—' }),
          run.last_error ? [h('dt', { text: 'Last error' }), h('dd', { class: 'run-error', id: 'last-error', role: 'alert', text: `${run.last_error.code}: ${run.last_error.message}` })] : null,
          run.incomplete_details ? [h('dt', { text: 'Incomplete' }), h('dd', { class: 'run-error', text: run.incomplete_details.reason })] : null)),
      h('section', { class: 'panel' }, h('h2', { text: 'Timeline' }),
        h('p', { class: 'hint', text: 'Run and step times are whole seconds (as the API gives them); model calls and the statuses this page saw live are to the millisecond.' }), timeline),
      h('section', { class: 'panel' }, h('h2', { text: 'Steps' }),
        steps.length === 0 ? h('p', { class: 'empty', text: 'No steps yet.' }) :
          h('table', { class: 'responsive', id: 'steps' }, h('thead', {}, h('tr', {}, h('th', { text: 'Step' }), h('th', { text: 'Status' }), h('th', { text: 'Duration' }), h('th', { text: 'Tokens' }))), h('tbody', {}, stepRows)),
        h('h3', { text: 'Tool calls and outputs' }),
        h('ol', { class: 'messages' }, steps.filter(s => s.type === 'tool_calls').map(s => renderToolStep(s, threadId)))),
      h('section', { id: 'prompts' }, h('h2', { text: 'Prompt as the model received it' }),
        prompts.length === 0 ? h('p', { class: 'empty', text: 'No model call recorded for this run.' }) : promptViews));
    if (active) timer = setTimeout(refresh, 1000);
  };
  const refresh = async () => { try { draw(await load()); } catch (e) { toast(e.message); } };
  draw(await load());
}

// ---------------------------------------------------------------- files

async function filesView() {
  const files = await listAll('/v1/files');
  const purpose = h('select', { id: 'file-purpose', 'aria-label': 'Purpose' }, ['assistants', 'vision', 'user_data'].map(p => h('option', { value: p, text: p })));
  const control = uploadControl('file-upload', 'Upload a file', () => purpose.value, () => route());
  page('Files', h('section', { class: 'panel' }, h('h1', { text: 'Files' }),
    h('div', { class: 'row' }, h('label', { for: 'file-purpose', class: 'inline', text: 'Purpose' }), purpose), control,
    files.length === 0 ? h('p', { class: 'empty', text: 'No files yet.' }) :
      h('table', { class: 'responsive', id: 'files' }, h('thead', {}, h('tr', {}, h('th', { text: 'File' }), h('th', { text: 'Purpose' }), h('th', { text: 'Size' }), h('th', { text: 'Created' }), h('th', {}))),
        h('tbody', {}, files.map(f => h('tr', {},
          h('td', {}, f.filename, h('div', { class: 'id', text: f.id })),
          h('td', { text: f.purpose }), h('td', { text: fmtBytes(f.bytes) }), h('td', { text: fmtTime(f.created_at) }),
          h('td', { class: 'actions' },
            h('button', { type: 'button', text: 'Download', 'aria-label': `Download ${f.filename}`, onclick: () => download(f.id) }), ' ',
            h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete ${f.filename}`, onclick: async () => {
              if (!confirm(`Delete ${f.filename}?`)) return;
              await api('DELETE', `/v1/files/${f.id}`); route();
            } }))))))));
}

// ---------------------------------------------------------------- vector stores

function counts(fc) { return `${fc.completed} done, ${fc.in_progress} indexing, ${fc.failed} failed, ${fc.cancelled} cancelled (of ${fc.total})`; }

async function vectorStoresView() {
  const stores = await listAll('/v1/vector_stores');
  const name = h('input', { type: 'text', id: 'vs-name', placeholder: 'Name' });
  const form = h('form', { class: 'row', onsubmit: async e => {
    e.preventDefault();
    const s = await api('POST', '/v1/vector_stores', { name: name.value || null });
    location.hash = `#/vector_stores/${s.id}`;
  } }, h('label', { for: 'vs-name', class: 'inline', text: 'New store' }), h('div', { class: 'grow' }, name), h('button', { type: 'submit', class: 'primary', text: 'Create' }));
  page('Vector stores', h('section', { class: 'panel' }, h('h1', { text: 'Vector stores' }), form,
    stores.length === 0 ? h('p', { class: 'empty', text: 'No vector stores yet.' }) :
      h('table', { class: 'responsive' }, h('thead', {}, h('tr', {}, h('th', { text: 'Store' }), h('th', { text: 'Status' }), h('th', { text: 'Files' }), h('th', { text: 'Size' }))),
        h('tbody', {}, stores.map(s => h('tr', {},
          h('td', {}, h('a', { href: `#/vector_stores/${s.id}`, text: s.name || s.id }), h('div', { class: 'id', text: s.id })),
          h('td', {}, status(s.status)), h('td', { text: counts(s.file_counts) }), h('td', { text: fmtBytes(s.usage_bytes) })))))));
}

async function vectorStoreView(storeId) {
  let timer = null;
  leaveView = () => clearTimeout(timer);
  const files = await listAll('/v1/files');
  const draw = async () => {
    const [store, storeFiles] = await Promise.all([api('GET', `/v1/vector_stores/${storeId}`), listAll(`/v1/vector_stores/${storeId}/files`)]);
    const names = new Map(files.map(f => [f.id, f.filename]));
    const attach = h('select', { id: 'vs-attach', 'aria-label': 'Add an uploaded file' }, h('option', { value: '', text: 'Add an uploaded file…' }),
      files.filter(f => !storeFiles.some(sf => sf.id === f.id)).map(f => h('option', { value: f.id, text: f.filename })));
    attach.addEventListener('change', async () => { if (attach.value) { await api('POST', `/v1/vector_stores/${storeId}/files`, { file_id: attach.value }); draw(); } });
    const upload = uploadControl('vs-upload', 'Upload a file into this store', 'assistants', async f => { await api('POST', `/v1/vector_stores/${storeId}/files`, { file_id: f.id }); draw(); });
    page(`Vector store ${store.name || storeId}`, h('section', { class: 'panel' },
      h('div', { class: 'row between' }, h('h1', { text: store.name || store.id }), h('a', { href: '#/vector_stores', text: 'All stores' })),
      h('dl', { class: 'kv' },
        h('dt', { text: 'Id' }), h('dd', { class: 'id', text: store.id }),
        h('dt', { text: 'Status' }), h('dd', {}, status(store.status)),
        h('dt', { text: 'file_counts' }), h('dd', { id: 'vs-counts', text: counts(store.file_counts) }),
        h('dt', { text: 'Size' }), h('dd', { text: fmtBytes(store.usage_bytes) })),
      attach, upload,
      storeFiles.length === 0 ? h('p', { class: 'empty', text: 'No files in this store.' }) :
        h('table', { class: 'responsive', id: 'vs-files' }, h('thead', {}, h('tr', {}, h('th', { text: 'File' }), h('th', { text: 'Ingestion' }), h('th', {}))),
          h('tbody', {}, storeFiles.map(f => h('tr', {},
            h('td', {}, names.get(f.id) || f.id, h('div', { class: 'id', text: f.id })),
            h('td', {}, status(f.status), f.last_error ? h('div', { class: 'run-error', text: f.last_error.message }) : null),
            h('td', { class: 'actions' }, h('button', { type: 'button', class: 'danger', text: 'Remove', onclick: async () => { await api('DELETE', `/v1/vector_stores/${storeId}/files/${f.id}`); draw(); } }))))))));
    clearTimeout(timer);
    if (store.file_counts.in_progress > 0) timer = setTimeout(draw, 1000);
  };
  await draw();
}

// ---------------------------------------------------------------- start

probe().then(route);

// The spanqa web page: ask /v1/answer and /v1/explain, highlight the answers, draw the heat maps;
// on a server started with --index, ask /v1/ask across its documents and show each cited answer.
// Plain DOM code, no dependencies; user text is only ever set with textContent.
"use strict";

const $ = (id) => document.getElementById(id);

// A server started with API keys wants "Authorization: Bearer KEY" on /v1/; the key typed in the
// page is only kept in the field, never stored.
function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify(body),
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch (_) {
    payload = null;
  }
  if (!response.ok) {
    if (response.status === 401) $("api-key-row").hidden = false;
    const error = payload && payload.error;
    const message = error ? error.message : `the server answered ${response.status}`;
    throw new Error(message);
  }
  return payload;
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

function renderAnswers(answers) {
  const list = $("answers");
  list.replaceChildren();
  if (answers.length === 0) {
    const item = document.createElement("li");
    item.textContent = "no answer found (the context has no span the model can point at)";
    list.append(item);
  }
  answers.forEach((answer) => {
    const item = document.createElement("li");
    const text = document.createElement("span");
    text.className = "answer-text";
    text.textContent = answer.answer === "" ? "(no answer)" : answer.answer;
    const score = document.createElement("span");
    score.className = "score";
    const where = answer.answer === "" ? "" : `  [${answer.start}:${answer.end}]`;
    score.textContent = `${(100 * answer.score).toFixed(1)}%${where}`;
    item.append(text, score);
    list.append(item);
  });
}

// The context with every answer marked; where answers overlap, the better-ranked one wins,
// so the best answer is always one <mark> holding exactly its text.
function renderHighlights(context, answers) {
  const view = $("highlighted");
  view.replaceChildren();
  const chars = Array.from(context); // code points: the server's offsets count those, not UTF-16 units
  const rankAt = new Int32Array(chars.length).fill(0);
  answers.forEach((answer, index) => {
    for (let i = answer.start; i < answer.end; i += 1) {
      if (rankAt[i] === 0) rankAt[i] = index + 1;
    }
  });
  let begin = 0;
  while (begin < chars.length) {
    let end = begin;
    while (end < chars.length && rankAt[end] === rankAt[begin]) end += 1;
    const piece = chars.slice(begin, end).join("");
    const rank = rankAt[begin];
    if (rank === 0) {
      view.append(document.createTextNode(piece));
    } else {
      const mark = document.createElement("mark");
      const answer = answers[rank - 1];
      mark.className = `answer ${rank === 1 ? "rank-1" : "rank-other"}`;
      mark.dataset.rank = String(rank);
      mark.title = `answer ${rank}: ${(100 * answer.score).toFixed(1)}%`;
      mark.textContent = piece;
      view.append(mark);
    }
    begin = end;
  }
}

function renderHeat(viewId, context, tokens, key, rgb) {
  const view = $(viewId);
  view.replaceChildren();
  const chars = Array.from(context);
  const slice = (begin, end) => chars.slice(begin, end).join("");
  const peak = tokens.reduce((best, t) => Math.max(best, t[key]), 1e-12);
  let cursor = 0;
  tokens.forEach((token) => {
    if (token.start < cursor) return;
    if (token.start > cursor) view.append(document.createTextNode(slice(cursor, token.start)));
    const span = document.createElement("span");
    span.className = "tok";
    span.textContent = slice(token.start, token.end);
    const alpha = Math.sqrt(token[key] / peak); // sqrt: small probabilities stay visible
    span.style.backgroundColor = `rgba(${rgb}, ${alpha.toFixed(3)})`;
    span.title = `${token.text}: P(start) ${token.start_prob.toFixed(4)}, P(end) ${token.end_prob.toFixed(4)}`;
    view.append(span);
    cursor = token.end;
  });
  if (cursor < chars.length) view.append(document.createTextNode(slice(cursor, chars.length)));
}

async function ask(event) {
  event.preventDefault();
  if (documentsMode()) {
    await askDocuments();
    return;
  }
  const context = $("context").value;
  const question = $("question").value;
  const topK = Number.parseInt($("top-k").value, 10);
  const request = { question, context, top_k: Number.isFinite(topK) ? topK : 1 };
  if ($("impossible").checked) request.handle_impossible_answer = true;
  $("ask").disabled = true;
  setStatus("thinking…", false);
  try {
    const [answered, explained] = await Promise.all([
      postJSON("v1/answer", request),
      postJSON("v1/explain", request),
    ]);
    renderAnswers(answered.answers);
    $("doc-results").hidden = true;
    renderHighlights(context, answered.answers);
    renderHeat("heat-start", context, explained.tokens, "start_prob", "34, 139, 34");
    renderHeat("heat-end", context, explained.tokens, "end_prob", "200, 40, 40");
    $("no-answer").textContent = `P(no answer) = ${explained.no_answer_probability.toFixed(4)}`;
    $("results").hidden = false;
    setStatus(`answered in ${answered.took_ms.toFixed(0)} ms`, false);
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    $("ask").disabled = false;
  }
}

async function showModel() {
  try {
    const response = await fetch("v1/model", { headers: authHeaders() });
    if (response.ok) $("model-name").textContent = (await response.json()).name;
    // a server that serves a text classifier alone answers 409 (no_reader): say so instead of a blank page
    if (response.status === 409) setStatus((await response.json()).error.message, true);
    if (response.status === 401) {
      $("api-key-row").hidden = false;
      setStatus("this server needs an API key: type it in the API key field", true);
    }
  } catch (_) {
    // the page still works without the model name
  }
}

// ------------------------------------------------------------------ documents mode (/v1/ask)

function documentsMode() {
  return !$("mode-row").hidden && $("mode-documents").checked;
}

function applyMode() {
  const documents = documentsMode();
  $("context-row").hidden = documents;
  $("impossible-row").hidden = documents;
  $("passages-row").hidden = !documents;
  $("question").placeholder = documents ? "Ask across the indexed files…" : "Who, what, when, where…?";
}

// Where an answer is: "file:page" for a PDF, the file (and its record's key) otherwise.
function whereCited(answer) {
  const file = answer.path.split(/[\\/]/).pop();
  const where = answer.document_key ? `${file}#${answer.document_key}` : file;
  return answer.page === null ? where : `${where}:${answer.page}`;
}

// The passage as text nodes around one <mark> holding exactly the answer (offsets count code points).
function renderPassage(answer) {
  const view = document.createElement("blockquote");
  view.className = "passage text-view";
  const chars = Array.from(answer.passage);
  const start = answer.start - answer.passage_start;
  const end = answer.end - answer.passage_start;
  const mark = document.createElement("mark");
  mark.className = "answer rank-1";
  mark.textContent = chars.slice(start, end).join("");
  view.append(document.createTextNode(chars.slice(0, start).join("")), mark,
    document.createTextNode(chars.slice(end).join("")));
  return view;
}

function renderDocumentAnswers(result) {
  const list = $("doc-answers");
  list.replaceChildren();
  if (result.passages_read === 0) {
    const item = document.createElement("li");
    item.textContent = "no passage in the index shares a word with the question: no answer";
    list.append(item);
  }
  result.answers.forEach((answer) => {
    const item = document.createElement("li");
    item.className = "doc-answer";
    const head = document.createElement("div");
    const text = document.createElement("span");
    text.className = "answer-text";
    text.textContent = answer.no_answer ? "(no answer in these documents)" : answer.answer;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `${(100 * answer.score).toFixed(1)}%`;
    head.append(text, score);
    item.append(head);
    if (!answer.no_answer) {
      const citation = document.createElement("div");
      citation.className = "citation";
      const where = document.createElement("span");
      where.className = "where";
      where.textContent = whereCited(answer);
      const path = document.createElement("span");
      path.className = "path";
      path.textContent = `${answer.title ? `${answer.title} · ` : ""}${answer.path} [${answer.start}:${answer.end}]`;
      citation.append(where, path);
      item.append(citation, renderPassage(answer));
    }
    list.append(item);
  });
  const read = result.passages_read;
  $("doc-no-answer").textContent =
    `P(no answer in the ${read} passage${read === 1 ? "" : "s"} read) = ${result.no_answer_probability.toFixed(4)}`;
}

async function askDocuments() {
  const topK = Number.parseInt($("top-k").value, 10);
  const passages = Number.parseInt($("passages").value, 10);
  const request = { question: $("question").value };
  if (Number.isFinite(topK)) request.top_k = topK;
  if (Number.isFinite(passages)) request.passages = passages;
  $("ask").disabled = true;
  setStatus("searching and reading…", false);
  try {
    const result = await postJSON("v1/ask", request);
    renderDocumentAnswers(result);
    $("results").hidden = true;
    $("doc-results").hidden = false;
    setStatus(`answered in ${result.took_ms.toFixed(0)} ms`, false);
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    $("ask").disabled = false;
  }
}

// A server with an index shows the mode switch (documents first); one without answers 409 here.
async function showIndex() {
  try {
    const response = await fetch("v1/index", { headers: authHeaders() });
    if (!response.ok) return;
    const info = await response.json();
    const counts = info.counts;
    $("index-summary").textContent = `(${counts.files} files, ${counts.pages} pages)`;
    $("passages").max = String(info.limits.passages_max);
    $("mode-row").hidden = false;
    applyMode();
  } catch (_) {
    // the page still works on pasted texts
  }
}

$("mode-documents").addEventListener("change", applyMode);
$("mode-text").addEventListener("change", applyMode);
$("api-key").addEventListener("change", showIndex);
$("ask-form").addEventListener("submit", ask);
$("context").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("ask-form").requestSubmit();
});
showModel();
showIndex();

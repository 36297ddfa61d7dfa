// The agents' review console: calls the /v1 API with the agent's key (kept in sessionStorage).
// Everything shown is built with textContent (never innerHTML), so no complaint text can run script.
"use strict";

const KEY_STORAGE = "complaint-triage.api-key";
const QUEUE_PAGE = 50;
const TICK_MS = 60 * 1000;

/** The three heads of the model, each with its own highlight colour. */
const HEADS = [
  { code: "category", name: "大类", colour: "#ffd8a8" },
  { code: "subtype", name: "子类", colour: "#b2f2bb" },
  { code: "tier", name: "级别", colour: "#a5d8ff" },
];

const STAGES = {
  assigned: "已分派",
  in_progress: "处理中",
  customer_contacted: "已联系客户",
  escalated: "已升级",
  resolved: "已解决",
  closed: "已闭环",
  reopened: "重新打开",
};

const STATUS_MEANING = {
  0: "无法连接服务，请检查网络后重试",
  400: "请求有误",
  401: "API 密钥无效或缺失",
  403: "无权限",
  404: "未找到",
  409: "与工单当前状态冲突",
  412: "工单已被他人更新",
  413: "内容过大",
  422: "输入有误",
  500: "服务内部错误",
  503: "服务暂不可用",
};

/** The API's error types, said in Chinese (anything else shows the API's own message). */
const ERROR_TEXT = {
  comment_required: "调低级别需要在备注中说明原因。",
  note_required: "客户不满意时闭环，需要在备注中说明原因。",
  ticket_closed: "工单已闭环：请先记录「重新打开」再审核。",
  ticket_changed: "工单已被他人更新，页面已重新加载最新内容，请核对后再操作。",
  concurrent_update: "工单刚被他人更新，请重试。",
  subtype_not_in_category: "所选子类不属于所选大类。",
  subtype_required: "请选择子类。",
};

/** Chinese names of the fields an error can name. */
const FIELD_NAMES = {
  owner: "负责人",
  resolution: "处理结果",
  comment: "备注",
  note: "备注",
  feedback: "客户反馈",
  stage: "环节",
  category: "大类",
  subtype: "子类",
  tier: "级别",
  demand: "诉求",
};

/** The tier-cue groups of the taxonomy (the tier head's rule words), by their codes. */
const CUE_NAMES = {
  escalation: "投诉升级",
  safety: "安全健康",
  money: "资金风险",
  unusable: "无法使用",
};

const state = {
  key: null,
  taxonomy: null,
  queue: [],
  cursor: null,
  list: [],
  listCursor: null,
  ticket: null,
  etag: null,
  hiddenHeads: new Set(),
};

// ------------------------------------------------------------------------------ helpers

const $ = (id) => document.getElementById(id);

/** A new element with properties (className, textContent, dataset, …) and children. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "style") Object.assign(node.style, value);
    else node[name] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** The display name of a label ({code, name}) or of a plain code. */
function nameOf(label) {
  if (label === null || label === undefined) return "—";
  return typeof label === "object" ? label.name || label.code : String(label);
}

/** A name without its parenthesised gloss: "二级" for "二级（重要）" (the full name goes in a title). */
function shortName(label) {
  return nameOf(label).split("（")[0];
}

function codeOf(label) {
  if (label === null || label === undefined) return null;
  return typeof label === "object" ? label.code : String(label);
}

function percent(probability) {
  return typeof probability === "number" ? `${(probability * 100).toFixed(1)}%` : "—";
}

/** "2026-11-23 10:05" from an ISO time (shown in the service's business time zone, as sent). */
function shortTime(iso) {
  return iso ? String(iso).slice(0, 16).replace("T", " ") : "—";
}

function duration(minutes) {
  if (minutes < 60) return `${minutes} 分钟`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours < 48) return rest ? `${hours} 小时 ${rest} 分` : `${hours} 小时`;
  const days = Math.floor(hours / 24);
  const restHours = hours % 24;
  return restHours ? `${days} 天 ${restHours} 小时` : `${days} 天`;
}

/** "剩余 1 小时 20 分" before the due time, "已超时 3 小时" after it. */
function countdown(dueIso, now = Date.now()) {
  const ms = Date.parse(dueIso) - now;
  const minutes = Math.floor(Math.abs(ms) / 60000);
  return ms >= 0 ? { text: `剩余 ${duration(minutes)}`, overdue: false } : { text: `已超时 ${duration(minutes)}`, overdue: true };
}

/** Fill an element with a live countdown (re-rendered every minute by `tick`); from `warnIso`, the
 * deadline's warning time, on it is shown as near ("soon"). */
function setCountdown(node, dueIso, prefix = "", warnIso = null) {
  node.dataset.due = dueIso;
  node.dataset.prefix = prefix;
  if (warnIso) node.dataset.warn = warnIso;
  else delete node.dataset.warn;
  renderCountdown(node);
}

function renderCountdown(node) {
  const now = Date.now();
  const { text, overdue } = countdown(node.dataset.due, now);
  const soon = !overdue && Boolean(node.dataset.warn) && Date.parse(node.dataset.warn) <= now;
  node.textContent = node.dataset.prefix + text;
  node.classList.toggle("overdue", overdue);
  node.classList.toggle("soon", soon);
  node.classList.toggle("pending", !overdue && !soon);
}

function tick() {
  document.querySelectorAll("[data-due]").forEach(renderCountdown);
}

// ---------------------------------------------------------------------------- messages

function showMessage(text, kind = "error") {
  const box = $("message");
  box.replaceChildren(...String(text).split("\n").map((line) => el("div", { textContent: line })));
  box.className = `message ${kind}`;
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function clearMessage() {
  $("message").hidden = true;
}

class ApiError extends Error {
  constructor(status, messages) {
    super(messages.join("\n"));
    this.status = status;
    this.messages = messages;
  }
}

function describeDetail(item) {
  if (ERROR_TEXT[item.type]) return ERROR_TEXT[item.type];
  const parts = Array.isArray(item.loc) ? item.loc.filter((part) => part !== "body") : [];
  const field = parts.length ? String(parts[parts.length - 1]) : "";
  if (item.type === "missing" && FIELD_NAMES[field]) return `请填写${FIELD_NAMES[field]}。`;
  const loc = parts.map((part) => FIELD_NAMES[part] || part).join(".");
  let text = loc ? `${loc}：${item.msg}` : String(item.msg);
  if (Array.isArray(item.allowed)) {
    const names = item.allowed.map((stage) => STAGES[stage] || stage);
    text += names.length ? `（当前可记录：${names.join("、")}）` : "（当前不能记录任何环节）";
  }
  return text;
}

function showError(action, error) {
  if (error instanceof ApiError) {
    const meaning = STATUS_MEANING[error.status] || `HTTP ${error.status}`;
    showMessage(`${action}失败（${meaning}）：\n${error.messages.join("\n")}`);
  } else {
    showMessage(`${action}失败：${error && error.message ? error.message : error}`);
  }
}

/** An error the page can name before asking the API: shown, and the field gets the focus. */
function refuse(text, fieldId) {
  showMessage(text);
  if (fieldId) $(fieldId).focus();
}

// -------------------------------------------------------------------------------- API

/** Call the API with the agent's key: {data: the parsed JSON body, etag}, or an ApiError. */
async function request(method, path, body, extraHeaders = {}) {
  const headers = { "X-API-Key": state.key, Accept: "application/json", ...extraHeaders };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, ["请检查网络或服务是否在运行。"]);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = null;
    }
  }
  if (!response.ok) {
    const messages =
      data && Array.isArray(data.detail) ? data.detail.map(describeDetail) : [text.slice(0, 300) || response.statusText];
    if (response.status === 401) forgetKey();
    throw new ApiError(response.status, messages);
  }
  return { data, etag: response.headers.get("ETag") };
}

/** The parsed JSON body of an API call (see `request`). */
async function api(method, path, body) {
  return (await request(method, path, body)).data;
}

function ticketPath(ticketNo, suffix = "") {
  return `v1/tickets/${encodeURIComponent(ticketNo)}${suffix}`;
}

/** Read a ticket and remember its ETag (sent back with If-Match by every change). */
async function fetchTicket(ticketNo) {
  const { data, etag } = await request("GET", ticketPath(ticketNo));
  state.etag = etag;
  return data;
}

/** POST a change of the open ticket, based on the revision the page shows (412 if it changed). */
async function changeTicket(suffix, body) {
  const ticket = state.ticket;
  const headers = state.etag ? { "If-Match": state.etag } : {};
  const { data, etag } = await request("POST", ticketPath(ticket.ticket_no, suffix), body, headers);
  state.etag = etag;
  return data;
}

/** After a refused change (409, 412): show the ticket as it is now, keeping the message. */
async function reloadAfter(error) {
  if (!(error instanceof ApiError) || ![409, 412].includes(error.status) || !state.ticket) return;
  try {
    renderTicket(await fetchTicket(state.ticket.ticket_no));
  } catch (_) {
    // the error message already says what went wrong
  }
}

// ------------------------------------------------------------------------- log in / out

function forgetKey() {
  state.key = null;
  sessionStorage.removeItem(KEY_STORAGE);
  showView("login");
}

function showView(view) {
  $("login-view").hidden = view !== "login";
  $("console-view").hidden = view !== "console";
  $("logout").hidden = view !== "console";
  if (view === "login") $("api-key").focus();
}

async function logIn(key) {
  state.key = key;
  try {
    const model = await api("GET", "v1/model");
    state.taxonomy = model.taxonomy;
    $("model-version").textContent = `模型版本 ${model.version}`;
    fillListFilters();
    await loadQueue(false);
  } catch (error) {
    $("model-version").textContent = "";
    if (error instanceof ApiError && error.status === 403) {
      state.key = null;
      showMessage("登录失败：该密钥的角色不能审核工单（需要 agent 角色的密钥）。");
      return false;
    }
    if (state.key === null || (error instanceof ApiError && error.status === 401)) {
      showMessage("登录失败：API 密钥无效。");
    } else {
      showError("登录", error);
    }
    return false;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  showView("console");
  return true;
}

function logOut() {
  forgetKey();
  state.taxonomy = null;
  state.ticket = null;
  state.queue = [];
  $("queue-body").replaceChildren();
  $("ticket-view").hidden = true;
  $("model-version").textContent = "";
  history.replaceState(null, "", location.pathname);
  showMessage("已退出登录。", "info");
}

// ------------------------------------------------------------------------------- queue

/** Load the queue: its next page (`more`), or again from the start with as many rows as shown. */
async function loadQueue(more) {
  const shown = Math.min(200, Math.max(QUEUE_PAGE, state.queue.length));
  const query = new URLSearchParams({ limit: String(more ? QUEUE_PAGE : shown) });
  if (more && state.cursor) query.set("cursor", state.cursor);
  const page = await api("GET", `v1/review-queue?${query}`);
  state.queue = more ? state.queue.concat(page.items) : page.items;
  state.cursor = page.next_cursor || null;
  renderQueue();
}

async function refreshQueue() {
  try {
    await loadQueue(false);
  } catch (error) {
    showError("读取待审核队列", error);
  }
}

function renderQueue() {
  const rows = state.queue.map((item) => ticketRow(item));
  $("queue-body").replaceChildren(...rows);
  $("queue-count").textContent = `（${state.queue.length}${state.cursor ? "+" : ""}）`;
  $("queue-empty").hidden = state.queue.length > 0;
  $("queue-table").hidden = state.queue.length === 0;
  $("queue-more").hidden = !state.cursor;
}

/** One row of the queue (its confidence) or of the ticket list (its status). */
function ticketRow(item, listed = false) {
  const confidence = typeof item.confidence === "number" ? item.confidence : null;
  const firstResponse = el("span", { className: "countdown" });
  const resolution = el("span", { className: "countdown small" });
  for (const [node, sla, due, prefix] of [
    [firstResponse, item.first_response, item.first_response_due, "响应 "],
    [resolution, item.resolution, item.resolution_due, "解决 "],
  ]) {
    if (sla && sla.done_at) node.textContent = `${prefix}已完成`;
    else if (due) setCountdown(node, due, prefix, sla && sla.warn_at);
  }
  const tier = item.routed_tier || item.tier;
  const suggested = item.tier && typeof item.tier.probability === "number"
    ? `；模型建议 ${nameOf(item.tier)} ${percent(item.tier.probability)}` : "";
  const tierTitle = `${nameOf(tier)}${suggested}`;
  const row = el(
    "tr",
    { dataset: { ticketNo: item.ticket_no }, tabIndex: 0, title: item.text || "" },
    el("td", {}, el("span", { className: "ticket-link", textContent: item.ticket_no })),
    el("td", { textContent: shortTime(item.received_at).slice(5), title: shortTime(item.received_at) }),
    el("td", { textContent: nameOf(item.channel) }),
    el("td", {}, el("span", { className: `tier tier-${codeOf(tier)}`, textContent: shortName(tier), title: tierTitle })),
    el(
      "td",
      { className: "subtype-cell", title: item.subtype ? percent(item.subtype.probability) : "" },
      el("div", { textContent: nameOf(item.subtype) }),
      el("div", { className: "excerpt", textContent: Array.from(item.text || "").slice(0, 24).join("") }),
    ),
    listed
    ? el("td", { textContent: nameOf(item.status) })
    : el("td", { className: confidence !== null && confidence < 0.5 ? "low" : "", textContent: percent(confidence) }),
    el(
      "td",
      { className: "sla-cell" },
      firstResponse,
      resolution,
      item.escalation_level > 0
        ? el("span", { className: "escalated-badge", textContent: "已升级主管", title: escalationTitle(item) })
        : null,
    ),
  );
  if (state.ticket && state.ticket.ticket_no === item.ticket_no) row.classList.add("selected");
  row.addEventListener("click", () => openTicket(item.ticket_no));
  row.addEventListener("keydown", (event) => {
    if (event.key === "Enter") openTicket(item.ticket_no);
  });
  return row;
}

// ------------------------------------------------------------------------ ticket list

/** When and for which deadlines a ticket was escalated to the supervisor (list items have the SLAs). */
function escalationTitle(item) {
  const deadlines = [["首次响应", item.first_response], ["解决", item.resolution]]
    .filter(([, sla]) => sla && sla.escalated_at)
    .map(([name, sla]) => `${name}时限 ${shortTime(sla.escalated_at)}`);
  return deadlines.length ? `时限临近或超时，已自动升级至上级主管：${deadlines.join("；")}` : "已自动升级至上级主管";
}

/** The list of all tickets (newest first), with the filters of the list form. */
async function loadList(more) {
  const query = new URLSearchParams({ limit: String(QUEUE_PAGE) });
  for (const [id, name] of [["list-tier", "tier"], ["list-status", "status"]]) {
    if ($(id).value) query.set(name, $(id).value);
  }
  for (const [id, name] of [["list-overdue", "overdue"], ["list-due-soon", "due_soon"], ["list-escalated", "escalated"]]) {
    if ($(id).checked) query.set(name, "true");
  }
  if (more && state.listCursor) query.set("cursor", state.listCursor);
  const page = await api("GET", `v1/tickets?${query}`);
  state.list = more ? state.list.concat(page.items) : page.items;
  state.listCursor = page.next_cursor || null;
  $("list-body").replaceChildren(...state.list.map((item) => ticketRow(item, true)));
  $("list-empty").hidden = state.list.length > 0;
  $("list-table").hidden = state.list.length === 0;
  $("list-more").hidden = !state.listCursor;
}

/** The list's filters: the model's tiers, and the statuses of the tracking sheet. */
function fillListFilters() {
  const all = { code: "", name: "全部" };
  options($("list-tier"), [all, ...state.taxonomy.tiers], $("list-tier").value);
  const statuses = Object.entries({ received: "已登记", ...STAGES }).map(([code, name]) => ({ code, name }));
  options($("list-status"), [all, ...statuses], $("list-status").value);
}

function showTab(tab) {
  for (const name of ["queue", "list"]) {
    $(`${name}-panel`).hidden = name !== tab;
    $(`tab-${name}`).setAttribute("aria-selected", String(name === tab));
  }
  if (tab === "list") loadList(false).catch((error) => showError("读取工单列表", error));
}

// ------------------------------------------------------------------------------ ticket

/** Open a ticket; `keepMessage` leaves the message shown (a success that led here). */
async function openTicket(ticketNo, keepMessage = false) {
  if (!keepMessage) clearMessage();
  try {
    renderTicket(await fetchTicket(ticketNo));
    history.replaceState(null, "", `#${state.ticket.ticket_no}`);
    const view = $("ticket-view");
    if (view.getBoundingClientRect().top < 0 || view.getBoundingClientRect().top > window.innerHeight) {
      view.scrollIntoView({ block: "start" });
    }
    $("ticket-heading").focus({ preventScroll: true });
  } catch (error) {
    showError(`打开工单 ${ticketNo} `, error);
  }
}

function renderTicket(ticket) {
  state.ticket = ticket;
  $("ticket-view").hidden = false;
  $("ticket-no").textContent = ticket.ticket_no;
  $("ticket-status").textContent = nameOf(ticket.status);
  document.querySelectorAll("#queue-body tr, #list-body tr").forEach((row) => {
    row.classList.toggle("selected", row.dataset.ticketNo === ticket.ticket_no);
  });
  renderFacts(ticket);
  renderSla($("sla-first"), $("sla-first-due"), ticket.first_response, ticket.first_response_due);
  renderSla($("sla-resolution"), $("sla-resolution-due"), ticket.resolution, ticket.resolution_due);
  renderLegend();
  renderText();
  renderTerms();
  renderSuggestion(ticket);
  renderReviewState(ticket);
  fillCorrectionForm(ticket);
  renderHistory(ticket);
}

const REASON_NAMES = {
  "low_confidence:category": "大类置信度低",
  "low_confidence:subtype": "子类置信度低",
  "low_confidence:tier": "级别置信度低",
  "not_judgeable:too_short": "文本过短，无法判断",
  "not_judgeable:no_chinese": "没有中文，无法判断",
  "not_judgeable:empty": "文本为空",
  not_judgeable: "无法判断",
};

function renderFacts(ticket) {
  const reasons = (ticket.review_reasons || []).map((reason) => REASON_NAMES[reason] || reason);
  const facts = [
    ["受理时间", shortTime(ticket.received_at)],
    ["渠道", nameOf(ticket.channel)],
    ["责任部门", nameOf(ticket.department)],
    ["负责人", ticket.owner || "—"],
    ["情绪指数", `${ticket.emotion_index}${ticket.emotion_risk ? "（有升级风险）" : ""}`],
    ["升级规则", ticket.escalations && ticket.escalations.length
      ? ticket.escalations.map((rule) => `${rule.name}：${rule.matched} → ${shortName(codeName("tier", rule.tier))}`).join("；")
      : ticket.escalation_rule || "无"],
    ["时限升级", escalationFact(ticket)],
    ["重复投诉", ticket.repeat_of || "否"],
    ["待审核原因", reasons.length ? reasons.join("、") : "—"],
    ["客户姓名", ticket.customer_name || "—"],
    ["联系方式", ticket.contact || "—"],
    ["客户编号", ticket.customer_id || "—"],
    ["订单号", ticket.order_id || "—"],
    ["产品", ticket.product || "—"],
    ["地点", ticket.location || "—"],
    ["诉求说明", ticket.demand_note || "—"],
    ["接收人", ticket.received_by || "—"],
    ["满意度回访", surveyFact(ticket)],
  ];
  $("ticket-facts").replaceChildren(
    ...facts.flatMap(([term, value]) => [el("dt", { textContent: term }), el("dd", { textContent: value })]),
  );
}

/** Whether a deadline of the ticket came near or passed and it was escalated to the supervisor. */
function escalationFact(ticket) {
  if (ticket.escalation_level > 0) return escalationTitle(ticket);
  return ticket.due_soon ? "时限临近，尚未升级" : "未升级";
}

/** The survey of the ticket's closure: recorded (with its overall score), or when it is due. */
function surveyFact(ticket) {
  if (ticket.survey) return `已回访 ${shortTime(ticket.survey.surveyed_at)}（整体满意度 ${ticket.survey.overall} 分）`;
  if (ticket.survey_due) return `待回访，截止 ${shortTime(ticket.survey_due)}`;
  return "—";
}

function renderSla(node, dueNode, sla, dueIso) {
  delete node.dataset.due;
  node.classList.remove("overdue", "soon", "pending", "done");
  const due = (sla && sla.due) || dueIso;
  const escalated = sla && sla.escalated_at ? `；${shortTime(sla.escalated_at)} 已升级主管` : "";
  dueNode.textContent = due ? `截止 ${shortTime(due)}${escalated}` : "";
  if (sla && sla.done_at) {
    node.textContent = `已完成（${sla.state_name || sla.state}）`;
    node.classList.add(sla.state === "breached" ? "overdue" : "done");
  } else if (due) {
    setCountdown(node, due, "", sla && sla.warn_at);
  } else {
    node.textContent = "—";
  }
}

// ---------------------------------------------------------------------- highlighting

function renderLegend() {
  const items = HEADS.map((head) => {
    const box = el("input", { type: "checkbox", checked: !state.hiddenHeads.has(head.code) });
    box.dataset.head = head.code;
    box.addEventListener("change", () => {
      if (box.checked) state.hiddenHeads.delete(head.code);
      else state.hiddenHeads.add(head.code);
      renderText();
    });
    return el("label", { className: "legend-item" }, box, el("span", { className: "swatch", style: { background: head.colour } }), `${head.name}依据`);
  });
  $("highlight-legend").replaceChildren(...items);
}

/** Offsets of a span in the masked text (the ticket view gives start/end in it; classify gives masked_*). */
function spanOffsets(span) {
  const start = span.masked_start !== undefined ? span.masked_start : span.start;
  const end = span.masked_end !== undefined ? span.masked_end : span.end;
  return [start, end];
}

function headOf(code) {
  return HEADS.find((head) => head.code === code);
}

/** The masked text as runs of characters, each with the explanation terms covering it. */
function highlightRuns(text, explanation) {
  const chars = Array.from(text); // code points: the API's offsets count characters, not UTF-16 units
  const covers = chars.map(() => []);
  for (const head of HEADS) {
    if (state.hiddenHeads.has(head.code)) continue;
    for (const term of (explanation && explanation[head.code]) || []) {
      for (const span of term.spans || []) {
        const [start, end] = spanOffsets(span);
        const label = chars.slice(start, end).join("");
        for (let index = Math.max(0, start); index < Math.min(end, chars.length); index += 1) {
          const known = covers[index].some((cover) => cover.head === head.code && cover.term === term.term);
          if (!known) covers[index].push({ head: head.code, term: term.term, label, weight: term.weight });
        }
      }
    }
  }
  const runs = [];
  chars.forEach((char, index) => {
    const signature = covers[index].map((cover) => `${cover.head}:${cover.term}`).join("|");
    const last = runs[runs.length - 1];
    if (last && last.signature === signature) last.text += char;
    else runs.push({ text: char, signature, covers: covers[index] });
  });
  return runs;
}

function renderText() {
  const ticket = state.ticket;
  if (!ticket) return;
  const explanation = ticket.suggestion ? ticket.suggestion.explanation : {};
  const nodes = highlightRuns(ticket.text, explanation).map((run) => {
    if (!run.covers.length) return document.createTextNode(run.text);
    const heads = [...new Set(run.covers.map((cover) => cover.head))];
    const colours = heads.map((code) => headOf(code).colour);
    const background =
      colours.length === 1
        ? colours[0]
        : `linear-gradient(to bottom, ${colours
            .map((colour, index) => `${colour} ${(index * 100) / colours.length}% ${((index + 1) * 100) / colours.length}%`)
            .join(", ")})`;
    const title = run.covers
      .map((cover) => `${headOf(cover.head).name}依据「${cover.label}」 权重 ${cover.weight.toFixed(3)}`)
      .join("\n");
    return el("mark", {
      className: `hl ${heads.map((code) => `hl-${code}`).join(" ")}`,
      dataset: { heads: heads.join(" ") },
      title,
      textContent: run.text,
      style: { background },
    });
  });
  $("ticket-text").replaceChildren(...nodes);
}

/** A term's display text: where it occurs in the shown text, else (a feature such as a subtype
 * code or the text-length bin used by the tier head) its Chinese name. */
function termLabel(term) {
  const spans = term.spans || [];
  if (term.kind === "cue") {
    const chars = Array.from(state.ticket.text);
    const words = [...new Set(spans.map((span) => chars.slice(...spanOffsets(span)).join("")))];
    return `${CUE_NAMES[term.term] || term.term}规则词${words.length ? `「${words.join("、")}」` : ""}`;
  }
  if (spans.length) {
    const [start, end] = spanOffsets(spans[0]);
    return Array.from(state.ticket.text).slice(start, end).join("");
  }
  const taxonomy = state.taxonomy;
  const code = term.term;
  if (term.kind === "length") return `文本长度 ${code} 字`;
  if (taxonomy && /^[A-Za-z_]+$/.test(code)) {
    for (const category of taxonomy.categories) {
      if (category.code === code) return `${category.name}（大类特征）`;
      const subtype = category.subtypes.find((item) => item.code === code);
      if (subtype) return `${subtype.name}（子类特征）`;
    }
  }
  return code;
}

function renderTerms() {
  const explanation = (state.ticket.suggestion && state.ticket.suggestion.explanation) || {};
  const lines = HEADS.filter((head) => (explanation[head.code] || []).length).map((head) =>
    el(
      "div",
      { className: "terms-line" },
      el("span", { className: "terms-head", textContent: `${head.name}：` }),
      ...explanation[head.code].map((term) =>
        el("span", {
          className: `term-chip hl-${head.code}`,
          style: { background: head.colour },
          title: `「${term.term}」 权重 ${term.weight.toFixed(3)}`,
          textContent: `${termLabel(term)} ${term.weight.toFixed(2)}`,
        }),
      ),
    ),
  );
  $("explanation-terms").replaceChildren(...lines);
}

// -------------------------------------------------------------------------- suggestion

function probabilityCell(probability) {
  if (typeof probability !== "number") return el("td", { textContent: "—" });
  return el(
    "td",
    { className: "probability" },
    el("span", { className: "bar" }, el("span", { className: "fill", style: { width: `${Math.round(probability * 100)}%` } })),
    el("span", { textContent: percent(probability) }),
  );
}

function renderSuggestion(ticket) {
  const suggestion = ticket.suggestion || {};
  const rows = [
    ["大类", suggestion.category, ticket.category],
    ["子类", suggestion.subtype, ticket.subtype],
    ["级别", suggestion.tier, ticket.tier],
    ["诉求", suggestion.demand, ticket.demand],
    ["责任部门", suggestion.department, ticket.department],
  ].map(([head, suggested, current]) => {
    const changed = codeOf(suggested) !== codeOf(current);
    return el(
      "tr",
      { className: changed ? "changed" : "" },
      el("th", { textContent: head }),
      el("td", { textContent: nameOf(suggested) }),
      probabilityCell(suggested ? suggested.probability : undefined),
      el("td", { textContent: nameOf(current) + (changed ? " ✎" : "") }),
    );
  });
  $("suggestion-body").replaceChildren(...rows);
  const top = (suggestion.top_subtypes || []).map((item) => `${item.name} ${percent(item.probability)}`);
  $("top-subtypes").textContent = top.length ? `${top.join("，")}（首项是所选大类中最可能的子类）` : "—";
}

function renderReviewState(ticket) {
  const box = $("review-state");
  const review = ticket.review;
  if (!review || !review.reviewed_at) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const finals = [
    ["大类", review.category],
    ["子类", review.subtype],
    ["级别", review.tier],
    ["诉求", review.demand],
  ]
    .filter(([, label]) => label)
    .map(([head, label]) => `${head} ${nameOf(label)}`);
  box.replaceChildren(
    el("strong", { textContent: `已审核：${review.reviewed_by || "—"} 于 ${shortTime(review.reviewed_at)}` }),
    el("div", { textContent: finals.length ? `最终标签：${finals.join("，")}` : "" }),
    review.comment ? el("div", { textContent: `备注：${review.comment}` }) : null,
  );
  box.hidden = false;
}

// ------------------------------------------------------------------------------ review

function options(select, items, selected) {
  select.replaceChildren(
    ...items.map((item) => el("option", { value: item.code, textContent: item.name, selected: item.code === selected })),
  );
  if (selected && items.some((item) => item.code === selected)) select.value = selected;
}

/** The subtypes of the chosen category; when the chosen subtype is not one of them (and there
 * is more than one), the agent picks: nothing is chosen silently. */
function fillSubtypes(selected) {
  const subtypes = subtypesOf($("correct-category").value);
  options($("correct-subtype"), subtypes, selected);
  if (subtypes.length > 1 && !subtypes.some((item) => item.code === selected)) {
    $("correct-subtype").prepend(el("option", { value: "", textContent: "— 请选择子类 —" }));
    $("correct-subtype").value = "";
  }
}

function subtypesOf(categoryCode) {
  const category = state.taxonomy.categories.find((item) => item.code === categoryCode);
  return category ? category.subtypes : [];
}

function fillCorrectionForm(ticket) {
  const taxonomy = state.taxonomy;
  options($("correct-category"), taxonomy.categories, codeOf(ticket.category));
  fillSubtypes(codeOf(ticket.subtype));
  options($("correct-tier"), taxonomy.tiers, codeOf(ticket.tier));
  options($("correct-demand"), taxonomy.demands, codeOf(ticket.demand));
  $("correct-comment").value = "";
  updateDowngradeHint();
}

function tierRank(code) {
  return state.taxonomy.tiers.findIndex((tier) => tier.code === code);
}

/** True when the chosen tier is less urgent than the ticket's (the API wants a comment then). */
function isDowngrade() {
  return state.ticket && tierRank($("correct-tier").value) > tierRank(codeOf(state.ticket.tier));
}

function updateDowngradeHint() {
  const downgrade = Boolean(isDowngrade());
  $("downgrade-hint").hidden = !downgrade;
  $("correct-comment").classList.toggle("required", downgrade);
}

/** Send a review; after an accept, open the next ticket of the queue (the way through it). */
async function submitReview(body, done) {
  const ticketNo = state.ticket.ticket_no;
  const position = state.queue.findIndex((item) => item.ticket_no === ticketNo);
  clearMessage();
  const buttons = [$("accept"), $("save-correction")];
  buttons.forEach((button) => (button.disabled = true));
  try {
    renderTicket(await changeTicket("/review", body));
  } catch (error) {
    showError(body.action === "accept" ? "确认" : "保存修改", error);
    await reloadAfter(error);
    return;
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
  showMessage(`${ticketNo}：${done}`, "success");
  try {
    // the review is saved: a queue that cannot be read now is a separate problem
    await loadQueue(false);
  } catch (error) {
    showError(`${ticketNo}：${done}刷新待审核队列`, error);
    return;
  }
  const next = body.action === "accept" && position >= 0 ? state.queue[Math.min(position, state.queue.length - 1)] : null;
  if (next && next.ticket_no !== ticketNo) {
    showMessage(`${ticketNo}：${done}已打开下一张待审核工单 ${next.ticket_no}。`, "success");
    await openTicket(next.ticket_no, true);
  }
}

function accept() {
  const reviewed = Boolean(state.ticket.review && state.ticket.review.reviewed_at);
  return submitReview({ action: "accept" }, reviewed ? "已确认当前标签。" : "已确认模型建议。");
}

function saveCorrection(event) {
  event.preventDefault();
  const ticket = state.ticket;
  const body = { action: "correct" };
  const category = $("correct-category").value;
  const subtype = $("correct-subtype").value;
  if (category !== codeOf(ticket.category) || subtype !== codeOf(ticket.subtype)) {
    body.category = category;
    body.subtype = subtype;
  }
  if ($("correct-tier").value !== codeOf(ticket.tier)) body.tier = $("correct-tier").value;
  if ($("correct-demand").value !== codeOf(ticket.demand)) body.demand = $("correct-demand").value;
  if (!subtype) return refuse("请选择子类。", "correct-subtype");
  const comment = $("correct-comment").value.trim();
  if (comment) body.comment = comment;
  if (isDowngrade() && !comment) return refuse("调低级别需要在备注中说明原因。", "correct-comment");
  if (Object.keys(body).length === 1 || (Object.keys(body).length === 2 && body.comment)) {
    showMessage("没有修改任何标签：如果模型建议正确，请点击「确认建议」。");
    return undefined;
  }
  return submitReview(body, "修改已保存。");
}

// ---------------------------------------------------------------------------- tracking

const REVIEW_FIELDS = [
  ["category", "大类"],
  ["subtype", "子类"],
  ["tier", "级别"],
  ["demand", "诉求"],
  ["department", "部门"],
  ["owner", "负责人"],
];

/** The Chinese name of a taxonomy code of `field` (category, subtype, tier, demand, department), or the owner. */
function codeName(field, code) {
  const taxonomy = state.taxonomy;
  if (!taxonomy) return code;
  if (field === "owner") return code || "（待新部门指派）";
  if (field === "department") return taxonomy.departments[code] || code;
  if (field === "subtype") {
    for (const category of taxonomy.categories) {
      const subtype = category.subtypes.find((item) => item.code === code);
      if (subtype) return subtype.name;
    }
    return code;
  }
  const list = { category: taxonomy.categories, tier: taxonomy.tiers, demand: taxonomy.demands }[field] || [];
  const item = list.find((entry) => entry.code === code);
  return item ? item.name : code;
}

/** What a review event changed: "子类 响应迟缓 → 配送延迟；级别 …（调低）", or that it confirmed. */
function reviewChanges(event) {
  const changes = [];
  if (event.before && event.after) {
    for (const [field, label] of REVIEW_FIELDS) {
      if (event.before[field] !== event.after[field]) {
        changes.push(`${label} ${codeName(field, event.before[field])} → ${codeName(field, event.after[field])}`);
      }
    }
  }
  const action = event.action === "accept" ? "确认建议" : "修改标签";
  const downgrade = event.tier_downgrade ? "（级别调低）" : "";
  return changes.length ? `${action}：${changes.join("；")}${downgrade}` : `${action}：标签不变`;
}

function renderHistory(ticket) {
  const rows = (ticket.history || []).map((event) => {
    const details = [
      event.action ? reviewChanges(event) : null,
      event.owner ? `负责人 ${event.owner}` : null,
      event.resolution ? `处理结果：${event.resolution}` : null,
      event.feedback ? `客户反馈：${nameOf(event.feedback)}` : null,
      event.comment ? `客户意见：${event.comment}` : null,
      event.deadline
        ? `${nameOf(event.deadline)}时限（截止 ${shortTime(event.due)}）${event.deadline_passed ? "已超时" : "临近"}，已自动升级至上级主管`
        : null,
      event.note ? `备注：${event.note}` : null,
    ].filter(Boolean);
    return el(
      "tr",
      {},
      el("td", { textContent: shortTime(event.at) }),
      el("td", { textContent: event.stage_name || STAGES[event.stage] || event.stage }),
      el("td", { textContent: event.actor }),
      el("td", { textContent: details.join("；") || "—" }),
    );
  });
  $("history-body").replaceChildren(...rows);
  $("history-empty").hidden = rows.length > 0;
}

function updateEventFields() {
  const stage = $("event-stage").value;
  $("event-owner-field").hidden = stage !== "assigned" && stage !== "escalated";
  $("event-resolution-field").hidden = stage !== "resolved";
  $("event-feedback-field").hidden = stage !== "closed";
}

async function addEvent(event) {
  event.preventDefault();
  const ticketNo = state.ticket.ticket_no;
  const stage = $("event-stage").value;
  const body = { stage };
  const note = $("event-note").value.trim();
  if (note) body.note = note;
  const owner = $("event-owner").value.trim();
  if ((stage === "assigned" || stage === "escalated") && owner) body.owner = owner;
  if (stage === "resolved") body.resolution = $("event-resolution").value.trim();
  if (stage === "closed") body.feedback = $("event-feedback").value;
  if (stage === "assigned" && !owner) return refuse("请填写负责人。", "event-owner");
  if (stage === "resolved" && !body.resolution) return refuse("请填写处理结果。", "event-resolution");
  if (stage === "closed" && body.feedback === "not" && !note) {
    return refuse("客户不满意时闭环，请在备注中说明原因；否则请选择「重新打开」继续处理。", "event-note");
  }
  clearMessage();
  const button = $("add-event");
  if (button.disabled) return undefined; // one click, one event
  button.disabled = true;
  try {
    renderTicket(await changeTicket("/events", body));
    ["event-note", "event-owner", "event-resolution"].forEach((id) => ($(id).value = ""));
    showMessage(`${ticketNo}：已记录「${STAGES[stage]}」。`, "success");
  } catch (error) {
    showError("记录环节", error);
    await reloadAfter(error);
  } finally {
    button.disabled = false;
  }
  return undefined;
}

// ------------------------------------------------------------------------------- start

// --------------------------------------------------------------------------- shortcuts

/** Keys that work while no form field has the focus (letters in either case, no modifier):
 * A accepts the suggestion, J / K open the next / previous ticket of the shown table, C moves
 * to the correction form, / to the ticket number box. A key held down acts once. */
const SHORTCUTS = {
  a: () => state.ticket && !$("accept").disabled && $("accept").click(),
  j: () => openNeighbour(1),
  k: () => openNeighbour(-1),
  c: () => state.ticket && $("correct-category").focus(),
  "/": () => $("open-number").focus(),
};

function openNeighbour(step) {
  const body = $("list-panel").hidden ? $("queue-body") : $("list-body");
  const rows = Array.from(body.querySelectorAll("tr"));
  if (!rows.length) return;
  const current = rows.findIndex((row) => state.ticket && row.dataset.ticketNo === state.ticket.ticket_no);
  const index = current < 0 ? 0 : current + step;
  if (index >= 0 && index < rows.length) {
    rows[index].focus({ preventScroll: true });
    rows[index].scrollIntoView({ block: "nearest" });
    openTicket(rows[index].dataset.ticketNo);
  }
}

function onShortcut(event) {
  const target = event.target;
  const typing = target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName));
  if (typing || event.ctrlKey || event.metaKey || event.altKey || $("console-view").hidden) return;
  const action = SHORTCUTS[event.key.toLowerCase()];
  if (!action) return;
  event.preventDefault();
  if (!event.repeat) action();
}

function wire() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage();
    const key = $("api-key").value.trim();
    if (!key) {
      refuse("请输入 API 密钥。", "api-key");
      return;
    }
    if (await logIn(key)) {
      $("api-key").value = "";
      if (location.hash.length > 1) openTicket(decodeURIComponent(location.hash.slice(1)));
    }
  });
  $("logout").addEventListener("click", logOut);
  $("refresh-queue").addEventListener("click", () => {
    clearMessage();
    refreshQueue();
  });
  $("queue-more").addEventListener("click", async () => {
    try {
      await loadQueue(true);
    } catch (error) {
      showError("加载更多", error);
    }
  });
  $("accept").addEventListener("click", accept);
  document.addEventListener("keydown", onShortcut);
  $("correct-form").addEventListener("submit", saveCorrection);
  $("correct-category").addEventListener("change", () => fillSubtypes($("correct-subtype").value));
  $("tab-queue").addEventListener("click", () => showTab("queue"));
  $("tab-list").addEventListener("click", () => showTab("list"));
  $("list-form").addEventListener("change", () => loadList(false).catch((error) => showError("读取工单列表", error)));
  $("list-more").addEventListener("click", () => loadList(true).catch((error) => showError("加载更多", error)));
  $("open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const ticketNo = $("open-number").value.trim().toUpperCase();
    if (ticketNo) openTicket(ticketNo);
  });
  window.addEventListener("hashchange", () => {
    const ticketNo = decodeURIComponent(location.hash.slice(1));
    if (state.key && ticketNo && (!state.ticket || state.ticket.ticket_no !== ticketNo)) openTicket(ticketNo);
  });
  $("correct-tier").addEventListener("change", updateDowngradeHint);
  options(
    $("event-stage"),
    Object.entries(STAGES).map(([code, name]) => ({ code, name })),
    "assigned",
  );
  $("event-stage").addEventListener("change", updateEventFields);
  updateEventFields();
  $("event-form").addEventListener("submit", addEvent);
  setInterval(tick, TICK_MS);
}

async function start() {
  wire();
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (!saved) {
    showView("login");
    return;
  }
  if ((await logIn(saved)) && location.hash.length > 1) {
    await openTicket(decodeURIComponent(location.hash.slice(1)));
  }
}

document.addEventListener("DOMContentLoaded", start);

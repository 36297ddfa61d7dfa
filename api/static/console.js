// The agents' review console: calls the /v1 API with the agent's key (kept in sessionStorage). An
// analyst's key opens it read-only, with the 统计 tab (console-stats.js) instead of the review queue.
// Everything shown is built with textContent (never innerHTML), so no complaint text can run script.
"use strict";

const KEY_STORAGE = "complaint-triage.api-key";
/** The business time zone (`GET /v1/me`), kept in the tab for a reload while the service cannot be reached. */
const ZONE_STORAGE = "complaint-triage.time-zone";
const QUEUE_PAGE = 50;
const TICK_MS = 60 * 1000;
/** How often the queue and the ticket list are read again on their own while the tab is shown
 * (with the countdowns' minute); also whenever the tab is shown again. */
const REFRESH_MS = TICK_MS;
/** The most rows the API gives in one page (`limit`): a refresh reloads the rows shown in pages of this size. */
const PAGE_LIMIT = 200;
/** How often the page tries again while the service cannot be reached. */
const RETRY_MS = 10 * 1000;

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

/** The 满意度调查问卷's four scores (1–5), by the API's field names (api/schemas.py `SurveyCreate`). */
const SURVEY_SCORES = [
  ["timeliness", "处理及时性"],
  ["effectiveness", "解决方案有效性"],
  ["attitude", "服务态度"],
  ["overall", "整体满意度"],
];

/** How the customer was surveyed (the API's `SurveyMethod`) and the aspects of the handling they
 * may name (`Aspect`), with their Chinese names as the API gives them (`SURVEY_METHOD_NAMES`, `ASPECT_NAMES`). */
const SURVEY_METHODS = { phone: "电话回访", online: "在线问卷", sms: "短信", app: "APP推送" };
const ASPECTS = {
  response_speed: "响应速度",
  result: "处理结果",
  attitude: "服务态度",
  communication: "沟通清晰度",
  other: "其他",
};
/** The most aspects one list of a survey may name (`SurveyCreate.best_aspects`, `improve_aspects`). */
const ASPECT_LIMIT = 5;

/** What a ticket's status is called (a new ticket is 已登记, every other status is its last stage). */
const STATUS_NAMES = { received: "已登记", ...STAGES };

/** Accounts that are the service itself, not an agent (the actor of their history entries). */
const ACTOR_NAMES = {
  "deadline-sweep": "系统（时限升级）",
  "intake-policy": "系统（紧急投诉升级）",
};

const STATUS_MEANING = {
  0: "无法连接服务，请检查网络后重试",
  200: "服务的应答无法识别",
  400: "请求有误",
  401: "API 密钥无效或缺失",
  403: "无权限",
  404: "未找到",
  405: "请求方式不被接受",
  409: "与工单当前状态冲突",
  412: "工单已有新的变化",
  413: "内容过大",
  422: "输入有误",
  500: "服务内部错误",
  502: "网关错误",
  503: "服务暂不可用",
  504: "网关超时",
};

/** The API's error types (api/errors.py and the validation errors), said in Chinese: a text, or a
 * function of the error item, the Chinese name of its field and the request's body that gives
 * one (or null: then the API's own message is shown, after the field's name). */
const ERROR_TEXT = {
  comment_required: "调低级别需要在备注中说明原因。",
  note_required: "客户不满意时闭环，需要在备注中说明原因。",
  ticket_closed: "工单已闭环：请先记录「重新打开」再审核。",
  ticket_changed: "工单在本页打开后有了新的变化，这次操作没有生效。",
  concurrent_update: "工单刚刚被同时更新，这次操作没有生效，请核对后重试。",
  subtype_not_in_category: "所选子类不属于所选大类。",
  subtype_required: "请选择子类。",
  illegal_transition: (item, field, body) => {
    const from = STATUS_NAMES[item.status] || item.status;
    const stage = body && body.stage ? `「${STAGES[body.stage] || body.stage}」` : "这个环节";
    const allowed = Array.isArray(item.allowed) ? item.allowed.map((code) => STAGES[code] || code) : [];
    const next = allowed.length ? `当前可记录：${allowed.join("、")}` : "当前不能记录任何环节";
    return `工单当前为「${from || "—"}」，不能记录${stage}（${next}）。`;
  },
  not_found: (item) =>
    item.loc && item.loc.includes("ticket_no")
      ? "没有这个工单号（工单号形如 TS-20261123-000001）。"
      : "服务没有这个地址：页面可能与服务的版本不一致，请刷新页面。",
  string_too_long: (item, field) => `${field || "内容"}过长${item.max_length ? `：最多 ${item.max_length} 字` : ""}。`,
  missing: (item, field) => `请填写${field || "必填项"}。`,
  // the value_errors of the console's fields: nothing visible (api/schemas.py `_required`), or a
  // range of days the statistics refuse (console-stats.js `rangeErrorText`)
  value_error: (item, field) =>
    /must not be empty/.test(String(item.msg))
      ? `请填写${field || "内容"}（不能只有空格或不可见字符）。`
      : rangeErrorText(item, field),
  unknown_code: (item, field) => `${field || "所选的值"}不是可选的值，请刷新页面后重选。`,
  literal_error: (item, field) => `${field || "所选的值"}不是可选的值，请刷新页面后重选。`,
  missing_correction: "没有修改任何标签。",
  unexpected_label: "确认建议时不能同时修改标签。",
  invalid_api_key: "API 密钥无效（可能已被停用），请重新登录。",
  missing_api_key: "缺少 API 密钥，请重新登录。",
  forbidden: "该密钥的角色无权进行这项操作。",
  body_too_large: "提交的内容过大。",
  json_invalid: "页面发出的请求格式有误，请刷新页面后重试。",
  wrong_content_type: "页面发出的请求格式有误，请刷新页面后重试。",
  extra_forbidden: "页面发出的请求含有服务不认识的内容，请刷新页面后重试。",
  method_not_allowed: "页面发出的请求方式不被服务接受，请刷新页面后重试。",
  survey_exists: "这次闭环已经录入过另一份满意度回访（内容不同）。",
  too_long: (item, field) => `${field || "所选的项"}选得过多：最多 ${ASPECT_LIMIT} 项。`,
  greater_than_equal: (item, field) => `${field || "评分"}须为 1 到 5 分。`,
  less_than_equal: (item, field) => `${field || "评分"}须为 1 到 5 分。`,
  ticket_not_closed: "工单尚未闭环，不能录入满意度回访。",
  internal_error: "服务内部出错，这次操作没有生效，请稍后重试。",
  database_unavailable: "数据库暂时不可用，这次操作没有生效，请稍后重试。",
  model_unavailable: "模型暂时不可用（服务可能正在启动），请稍后重试。",
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
  action: "审核操作",
  ticket_no: "工单号",
  text: "投诉内容",
  cursor: "分页位置",
  limit: "每页条数",
  from: "开始日期",
  to: "结束日期",
  group_by: "统计周期",
  "X-API-Key": "API 密钥",
  "If-Match": "工单版本（If-Match）",
};

/** The names of the survey's fields (its `comment` is the customer's 其他建议, not an agent's 备注). */
const SURVEY_FIELD_NAMES = {
  ...Object.fromEntries(SURVEY_SCORES),
  method: "回访方式",
  best_aspects: "最满意的环节",
  improve_aspects: "需改进的环节",
  comment: "其他建议",
};

/** The Chinese name of a field an error names, for the request `body` it came from. */
function fieldNameOf(field, body) {
  if (body && typeof body === "object") {
    if (Object.hasOwn(body, "overall") && Object.hasOwn(SURVEY_FIELD_NAMES, field)) return SURVEY_FIELD_NAMES[field];
    if (body.stage === "closed" && field === "comment") return "客户意见";
  }
  return FIELD_NAMES[field] || field;
}

/** The states of an escalation notification (the API's `NotificationState`), and its kinds. */
const NOTIFICATION_STATES = { pending: "待发送", delivered: "已送达", failed: "发送失败" };
const NOTIFICATION_KINDS = { deadline_escalated: "时限升级", urgent_head_escalated: "紧急投诉" };
/** The header of GET /v1/notifications that says whether the service sends them ("on" / "off"). */
const NOTIFY_SWITCH = "X-Triage-Notifications";

/** The tier-cue groups of the taxonomy (the tier head's rule words), by their codes. */
const CUE_NAMES = {
  escalation: "投诉升级",
  safety: "安全健康",
  money: "资金风险",
  unusable: "无法使用",
};

const state = {
  key: null,
  /** The key's role (`GET /v1/me`): "agent" (the review queue), "analyst" (statistics, the rest read-only) or "admin" (both). */
  role: null,
  /** The key's name (`GET /v1/me`): whose session it is, so that another person logging in after a
   * 401 does not take over what was typed in it. */
  name: null,
  taxonomy: null,
  queue: [],
  cursor: null,
  list: [],
  listCursor: null,
  ticket: null,
  /** The ticket asked for last and still loading (null once shown), and a count of the asks: J/K
   * step from the ticket asked for, so that quick presses each move one row, and an answer
   * overtaken by a later ask is dropped rather than shown over it. */
  opening: null,
  opens: 0,
  etag: null,
  hiddenHeads: new Set(),
  /** The labels the correction form was filled with (what counts as the agent's edit). */
  formBase: null,
  /** The subtype last chosen in the correction form for each category (switching back keeps it). */
  subtypeChoice: {},
  retryTimer: null,
  /** True once the ticket list was read (its tab opened): the refresh reads it again too. */
  listLoaded: false,
  /** The escalation notifications shown (their tab), the cursor of the next page, whether their
   * tab was opened (the refresh reads them again too), and whether the service said it sends none. */
  notifications: [],
  notificationsCursor: null,
  notificationsLoaded: false,
  notifyOff: false,
  /** Each load of the queue / the list / the notifications / the failed count counts here: an
   * answer arriving after a later load began (a refresh overtaken by 加载更多 or a filter change) is dropped. */
  loads: { queue: 0, list: 0, notifications: 0, failed: 0, stats: 0, drift: 0 },
  /** Loads of each under way: no refresh starts while one is. */
  loading: { queue: 0, list: 0, notifications: 0, failed: 0, stats: 0, drift: 0 },
  /** True while a refresh of the lists runs (one at a time). */
  refreshing: false,
  /** A saved change asked for a refresh while one ran: it runs again once done. */
  refreshAgain: false,
  /** True once the 统计 tab read the statistics (console-stats.js): showing the tab again keeps them. */
  statsLoaded: false,
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

/** Text someone typed (a complaint, a name, a note) in an element of its own whose direction is
 * isolated (<bdi>), so that a direction control it holds (U+202E) cannot turn the page's text
 * around it; the style sheet isolates the blocks that show such text alone. */
function typed(text) {
  return el("bdi", { textContent: text });
}

/** Who did something: the service's own accounts by their Chinese name, an agent as named. */
function actorName(actor) {
  return ACTOR_NAMES[actor] || actor || "—";
}

function percent(probability) {
  return typeof probability === "number" ? `${(probability * 100).toFixed(1)}%` : "—";
}

/** "2026-11-23 10:05" from an ISO time (shown in the service's business time zone, as sent). */
function shortTime(iso) {
  return iso ? String(iso).slice(0, 16).replace("T", " ") : "—";
}

/** "10:05" ("10:05:30" with `seconds`): the browser's clock now, in the business time zone like
 * every time the API gives, whatever the browser's own zone. Before the service ever named its zone
 * in this tab, the browser's time, said to be so. */
function clockTime(seconds = false) {
  const options = { hourCycle: "h23", hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}) };
  const zone = sessionStorage.getItem(ZONE_STORAGE);
  try {
    if (zone) return new Intl.DateTimeFormat("zh-CN", { ...options, timeZone: zone }).format(new Date());
  } catch (_) {
    // a zone this browser does not know: its own time, said to be so
  }
  return `${new Intl.DateTimeFormat("zh-CN", options).format(new Date())}（本机时间）`;
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

/** Show a message: a text (one line per "\n"), or a list of lines, each a text or a list of
 * parts (texts and elements, such as `typed` names). */
function showMessage(content, kind = "error") {
  const box = $("message");
  const lines = Array.isArray(content) ? content : String(content).split("\n");
  box.replaceChildren(...lines.map((line) => el("div", {}, ...(Array.isArray(line) ? line : [line]))));
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

/** One item of an error answer in Chinese (ERROR_TEXT), naming its field in Chinese; `body` is
 * the request's (what the agent tried, for the texts that say it). */
function describeDetail(item, body) {
  const parts = Array.isArray(item.loc) ? item.loc.filter((part) => part !== "body") : [];
  // the field, not the place in its list (["best_aspects", 0]: the first aspect named)
  const names = parts.filter((part) => typeof part !== "number");
  const field = names.length ? String(names[names.length - 1]) : "";
  const fieldName = fieldNameOf(field, body);
  const known = Object.hasOwn(ERROR_TEXT, item.type) ? ERROR_TEXT[item.type] : null;
  const text = typeof known === "function" ? known(item, fieldName, body) : known;
  if (text) return text;
  const loc = parts.map((part) => fieldNameOf(part, body)).join(".");
  return loc ? `${loc}：${item.msg}` : String(item.msg);
}

/** What the page says of an answer it cannot read (no JSON: a proxy's error page, a cut answer). */
function unreadableAnswer(status) {
  if (status >= 500) return "服务或其前面的网关出错，返回的不是服务的应答，请稍后重试。";
  if (status >= 400) return "请求被拒绝，返回的不是服务的应答，请刷新页面后重试。";
  return "服务返回的内容无法识别，请稍后重试；刚才若是保存操作，请重新打开工单核对是否已保存。";
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

/** Call the API with the agent's key: {data: the parsed JSON body, etag, headers}, or an ApiError. */
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
  let data = null;
  try {
    data = JSON.parse(await response.text());
  } catch (_) {
    data = null; // no JSON: a proxy's error page, a cut answer
  }
  if (!response.ok) {
    const messages =
      data && Array.isArray(data.detail)
        ? data.detail.map((item) => describeDetail(item, body))
        : [unreadableAnswer(response.status)];
    if (response.status === 401) keyRefused();
    throw new ApiError(response.status, messages);
  }
  // every answer of the API the page asks for is a JSON object
  if (data === null || typeof data !== "object") throw new ApiError(200, [unreadableAnswer(response.status)]);
  return { data, etag: response.headers.get("ETag"), headers: response.headers };
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

/** Say why a change of the open ticket failed; after a refusal because of the ticket's state (409)
 * or revision (412), show the ticket as it is now, with what changed since the page read it (the
 * new history entries: who, which stage, when), keeping what the agent typed in the forms. */
async function reportRefusal(action, error) {
  showError(action, error);
  if (!(error instanceof ApiError) || ![409, 412].includes(error.status) || !state.ticket) return;
  const before = state.ticket;
  let answer;
  try {
    answer = await request("GET", ticketPath(before.ticket_no));
  } catch (_) {
    return; // the message already says what went wrong
  }
  if (!state.ticket || state.ticket.ticket_no !== before.ticket_no) return; // another ticket was opened meanwhile
  state.etag = answer.etag;
  renderTicket(answer.data);
  const changes = changesSince(before, answer.data);
  if (error.status !== 412 && !changes.length) return;
  const said =
    error.status === 412
      ? [`${action}失败：工单在本页打开后有了新的变化，这次操作没有生效。`]
      : [`${action}失败（${STATUS_MEANING[error.status]}）：`, ...error.messages];
  const kept = unsavedWork().length ? "您填写的内容仍在表单中，" : "";
  showMessage([
    ...said,
    "在此期间：",
    ...(changes.length ? changes : ["· 工单有更新（处理记录没有新增）"]),
    `页面已载入工单的最新内容，${kept}请核对后再操作。`,
  ]);
}

/** What happened to a ticket between two readings of it: its new history entries, one line each,
 * and a new survey. */
function changesSince(before, now) {
  const lines = (now.history || []).slice((before.history || []).length).map((event) => {
    const details = eventDetails(event);
    return [
      `· ${shortTime(event.at)} `,
      typed(actorName(event.actor)),
      `：${event.stage_name || STAGES[event.stage] || event.stage}`,
      ...(details.length ? ["（", ...details, "）"] : []),
    ];
  });
  const surveys = now.surveys || [];
  for (const survey of surveys.slice((before.surveys || []).length)) {
    lines.push([`· ${shortTime(survey.surveyed_at)} `, typed(survey.surveyed_by), "：录入满意度回访"]);
  }
  return lines;
}

// ------------------------------------------------------------------------- log in / out

function forgetKey() {
  state.key = null;
  sessionStorage.removeItem(KEY_STORAGE);
  sessionStorage.removeItem(ZONE_STORAGE);
  showView("login");
}

/** The service no longer takes the key (401: expired or revoked): back to the log-in, which says
 * why when the console was in use (also when it was a refresh of the lists that ran into it), and
 * that what was typed for the open ticket is still in the page until the same person logs in again.
 * Nothing else of the session stays, beside the log-in or behind it (`forgetLists`). */
function keyRefused() {
  const working = !$("console-view").hidden;
  const unsaved = working && state.ticket ? unsavedWork() : [];
  forgetKey();
  if (!working) return;
  forgetLists();
  const lines = ["登录已失效：服务不再接受这个 API 密钥（可能已过期或被停用），请重新登录。"];
  if (unsaved.length) {
    lines.push(
      `工单 ${state.ticket.ticket_no} 尚未保存的内容仍保留在本页：${unsaved.join("；")}。` +
        "用同一人的密钥重新登录后即可核对并保存；换用他人的密钥登录、关闭或刷新本页则会丢失。",
    );
  }
  $("login-expired").replaceChildren(...lines.map((line) => el("div", { textContent: line })));
  $("login-expired").hidden = false;
}

function showView(view) {
  $("login-view").hidden = view !== "login";
  $("offline-view").hidden = view !== "offline";
  $("console-view").hidden = view !== "console";
  $("logout").hidden = view !== "console";
  if (view !== "offline") stopRetrying();
  if (view === "login") $("api-key").focus();
}

/** Log in with `key`: "ok" (the console is shown); "refused" (a wrong key or role: said, and the
 * key forgotten); or else the error that kept the service from answering (not the key's fault:
 * the caller says so, and keeps the key). */
async function logIn(key) {
  state.key = key;
  let dropped = [];
  try {
    const model = await api("GET", "v1/model");
    const me = await api("GET", "v1/me");
    if (state.name !== null && me.name !== state.name) dropped = forgetPreviousPerson();
    state.taxonomy = model.taxonomy;
    $("model-version").textContent = `模型版本 ${model.version}`;
    fillListFilters();
    state.role = me.role;
    state.name = me.name;
    sessionStorage.setItem(ZONE_STORAGE, me.timezone);
    if (mayReview()) await loadQueue(false);
  } catch (error) {
    $("model-version").textContent = "";
    if (error instanceof ApiError && [401, 403].includes(error.status)) {
      forgetKey();
      showMessage(
        error.status === 403
          ? "登录失败：该密钥的角色不能使用审核台（需要 agent 角色或 analyst 角色的密钥）。"
          : "登录失败：API 密钥无效。",
      );
      return "refused";
    }
    return error;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  $("login-expired").hidden = true;
  showRole();
  showView("console");
  if (dropped.length) showMessage(dropped, "info");
  loadFailedCount().catch(() => sayRefreshFailed(true)); // not a reason to refuse the log-in
  return "ok";
}

/** Another person logs in after a 401 (`GET /v1/me` names someone else): what the previous one
 * typed for the open ticket is theirs, not to be saved under the new name. It goes, with the
 * ticket and everything else of their session; the lines saying what went (none if nothing did). */
function forgetPreviousPerson() {
  const unsaved = state.ticket ? unsavedWork() : [];
  const said = unsaved.length
    ? [
        ["上一位登录者（", typed(state.name), `）在工单 ${state.ticket.ticket_no} 尚未保存的内容已清除，没有保存：`],
        ...unsaved.map((line) => `· ${line}`),
        "如仍需要，请其本人登录后重新填写。",
      ]
    : [];
  forgetSession();
  return said;
}

/** Whether the key reviews and tracks tickets (the queue, the forms): an agent's or an admin's. */
function mayReview() {
  return state.role === "agent" || state.role === "admin";
}

/** Whether the key reads the statistics (the 统计 tab): an analyst's or an admin's. */
function mayReadStatistics() {
  return state.role === "analyst" || state.role === "admin";
}

/** Fit the console to the role (`GET /v1/me`): an agent gets the review queue; an analyst the 统计
 * tab (shown first) and the ticket view without its review, tracking and survey forms (the API
 * would refuse them); an admin both. The tab shown stays when the role may see it (logging in
 * again after a 401), read anew. */
function showRole() {
  const review = mayReview();
  const statistics = mayReadStatistics();
  $("console-view").classList.toggle("read-only", !review);
  $("tab-queue").hidden = !review;
  $("tab-stats").hidden = !statistics;
  let tab = ["queue", "list", "notifications", "stats"].find((name) => !$(`${name}-panel`).hidden);
  if (!review && tab === "queue") tab = "stats";
  if (!statistics && tab === "stats") tab = "queue";
  showTab(tab);
}

/** Why the service could not be asked, in a sentence (its error answer, or the network). */
function serviceProblem(error) {
  if (!(error instanceof ApiError)) return `页面出错：${error && error.message ? error.message : error}`;
  if (error.status === 0) return "无法连接服务：网络中断，或服务没有运行。";
  const meaning = STATUS_MEANING[error.status] ? `HTTP ${error.status}，${STATUS_MEANING[error.status]}` : `HTTP ${error.status}`;
  return `服务暂时不能正常应答（${meaning}）：${error.messages.join(" ")}`;
}

/** Log in again with the key this tab keeps (a reload, a retry): on success the console and the
 * ticket of the address; when the service cannot be asked, say so and try again every RETRY_MS. */
async function resume(key) {
  stopRetrying();
  $("retry").disabled = true;
  const result = await logIn(key);
  $("retry").disabled = false;
  if (result === "ok") {
    if (location.hash.length > 1) await openTicket(decodeURIComponent(location.hash.slice(1)), { confirmed: true });
    return;
  }
  if (result === "refused") return;
  clearMessage();
  $("offline-reason").textContent = serviceProblem(result);
  $("offline-when").textContent = `最近一次尝试：${clockTime(true)}。每 ${RETRY_MS / 1000} 秒自动重试一次。`;
  showView("offline");
  state.retryTimer = setTimeout(() => resume(key), RETRY_MS);
}

function stopRetrying() {
  if (state.retryTimer !== null) clearTimeout(state.retryTimer);
  state.retryTimer = null;
}

function logOut() {
  if (!mayDiscard("退出登录")) return;
  forgetKey();
  $("login-expired").hidden = true;
  forgetSession();
  showMessage("已退出登录。", "info");
}

/** Forget what the session's lists showed (a 401, or the session's end): the rows, counts and
 * badges of the queue, the list and the notifications, a refresh's failure, the statistics, the
 * model version and the message; nothing of them stays in the page, hidden or not. The next log-in
 * reads them again. An answer still on its way belongs to the session that ended: dropped when it arrives. */
function forgetLists() {
  for (const which of Object.keys(state.loads)) state.loads[which] += 1;
  Object.assign(state, {
    queue: [],
    cursor: null,
    list: [],
    listCursor: null,
    listLoaded: false,
    notifications: [],
    notificationsCursor: null,
    notificationsLoaded: false,
    notifyOff: false,
  });
  for (const id of ["queue-body", "list-body", "notifications-body"]) $(id).replaceChildren();
  for (const id of ["queue-count", "notifications-failed", "refresh-failed", "model-version"]) $(id).textContent = "";
  $("queue-count").title = "";
  for (const id of ["queue-empty", "queue-more", "list-empty", "list-more", "notifications-empty", "notifications-more"]) {
    $(id).hidden = true;
  }
  for (const id of ["notifications-off", "notifications-failed", "refresh-failed"]) $(id).hidden = true;
  forgetStatistics();
  clearMessage();
}

/** Forget the whole session (logging out, or another person logging in after a 401): the lists
 * (`forgetLists`), the filters, the open ticket and what was typed for it; the queue's tab shown. */
function forgetSession() {
  forgetLists();
  state.role = null;
  state.name = null;
  state.taxonomy = null;
  for (const id of ["list-tier", "list-status", "notifications-state"]) $(id).value = "";
  for (const box of $("list-form").querySelectorAll("input[type=checkbox]")) box.checked = false;
  state.ticket = null;
  state.opening = null;
  state.opens += 1; // an answer still on its way is not shown after the session ended
  state.etag = null;
  state.formBase = null;
  state.subtypeChoice = {};
  for (const form of ["correct-form", "event-form"]) $(form).reset();
  resetSurveyForm();
  for (const id of ["sla-first", "sla-resolution"]) delete $(id).dataset.due;
  const shown = [
    ["ticket-no", "ticket-status", "ticket-urgent", "ticket-facts", "ticket-text", "explanation-terms"],
    ["sla-first", "sla-first-due", "sla-resolution", "sla-resolution-due", "suggestion-body", "top-subtypes"],
    ["review-state", "history-body", "survey-list", "survey-for"],
  ];
  for (const id of shown.flat()) $(id).replaceChildren();
  $("ticket-view").hidden = true;
  history.replaceState(null, "", location.pathname);
  showTab("queue");
}

// ------------------------------------------------------------------------------- queue

/** Load the queue: its next page (`more`), or again from the start with as many rows as shown.
 * An answer overtaken by a later load of the queue is dropped. */
async function loadQueue(more) {
  const rows = more ? QUEUE_PAGE : Math.max(QUEUE_PAGE, state.queue.length);
  const page = await loadRows("queue", "v1/review-queue", new URLSearchParams(), rows, more ? state.cursor : null);
  if (!page) return;
  state.queue = more ? state.queue.concat(page.items) : page.items;
  state.cursor = page.next_cursor || null;
  keepingPlace("queue-body", renderQueue);
}

/** GET one page of the queue, the list or the notifications (`which`): the answer ({data, etag,
 * headers}), or null when a later load of the same list began meanwhile (its answer is the one to show). */
async function load(which, path) {
  const mine = ++state.loads[which];
  state.loading[which] += 1;
  try {
    const answer = await request("GET", path);
    return mine === state.loads[which] ? answer : null;
  } finally {
    state.loading[which] -= 1;
  }
}

/** GET `rows` rows of the queue, the list or the notifications (`which`) with the filters of
 * `query`: after `cursor` (the next page), or from the start (as many rows as shown, however many
 * pages of PAGE_LIMIT that takes). The rows with the last page's `next_cursor` and headers, or null
 * when a later load of the same rows began meanwhile (its answer is the one to show). */
async function loadRows(which, path, query, rows, cursor = null) {
  const mine = ++state.loads[which];
  state.loading[which] += 1;
  try {
    const items = [];
    let next = cursor;
    let headers = null;
    do {
      const asked = new URLSearchParams(query);
      asked.set("limit", String(Math.min(PAGE_LIMIT, rows - items.length)));
      if (next) asked.set("cursor", next);
      const answer = await request("GET", `${path}?${asked}`);
      if (mine !== state.loads[which]) return null;
      items.push(...answer.data.items);
      next = answer.data.next_cursor || null;
      headers = answer.headers;
    } while (next && items.length < rows);
    return { items, next_cursor: next, headers };
  } finally {
    state.loading[which] -= 1;
  }
}

/** Rebuild a table's rows (`render`) without the agent losing their place: the page keeps its
 * scroll position, and a row that had the focus has it again (its new row, by ticket number). */
function keepingPlace(bodyId, render) {
  const active = document.activeElement;
  const focused = active && active.parentElement === $(bodyId) ? active.dataset.ticketNo : null;
  const scrollers = Array.from(document.querySelectorAll(".scroll")).map((node) => [node, node.scrollLeft]);
  const [x, y] = [window.scrollX, window.scrollY];
  render();
  if (focused) {
    const row = Array.from($(bodyId).children).find((node) => node.dataset.ticketNo === focused);
    if (row) row.focus({ preventScroll: true });
  }
  scrollers.forEach(([node, left]) => (node.scrollLeft = left));
  if (window.scrollX !== x || window.scrollY !== y) window.scrollTo(x, y);
}

/** Read the queue again, the count of failed notifications, and the ticket list and the
 * notifications if their tab was opened, keeping the open ticket and
 * what was typed in it: every REFRESH_MS and when the tab is shown again (`auto`: only while the
 * console is shown in a visible tab), and after a change of a ticket was saved. Not while another
 * refresh or a load of the same list runs. A failure is said in
 * a line of its own under the tabs; the rows shown stay. */
async function refreshLists(auto = false) {
  if (!state.key || $("console-view").hidden) return;
  if (auto && document.visibilityState !== "visible") return;
  if (state.refreshing) {
    // a refresh that may have read the lists before this change: it runs once more when done
    if (!auto) state.refreshAgain = true;
    return;
  }
  state.refreshing = true;
  try {
    const jobs = [];
    if (mayReview() && !state.loading.queue) jobs.push(loadQueue(false));
    if (state.listLoaded && !state.loading.list) jobs.push(loadList(false));
    if (!state.loading.failed) jobs.push(loadFailedCount());
    if (state.notificationsLoaded && !state.loading.notifications) {
      jobs.push(loadNotifications(false));
    }
    const results = await Promise.allSettled(jobs);
    sayRefreshFailed(results.some((result) => result.status === "rejected"));
  } finally {
    state.refreshing = false;
  }
  if (state.refreshAgain) {
    state.refreshAgain = false;
    await refreshLists();
  }
}

/** The quiet line under the tabs: shown while the last refresh of the lists failed (not when the
 * key was refused: the log-in says so). */
function sayRefreshFailed(failed) {
  if (!state.key) return;
  $("refresh-failed").textContent = failed ? `列表更新失败（${clockTime()}），稍后自动重试；下面仍是此前读到的工单。` : "";
  $("refresh-failed").hidden = !failed;
}

async function refreshQueue() {
  try {
    await loadQueue(false);
    if (!state.listLoaded) sayRefreshFailed(false);
  } catch (error) {
    showError("读取待审核队列", error);
  }
}

function renderQueue() {
  const rows = state.queue.map((item) => ticketRow(item));
  $("queue-body").replaceChildren(...rows);
  $("queue-count").textContent = `（${state.queue.length}${state.cursor ? "+" : ""}）`;
  $("queue-count").title = state.cursor
    ? `已载入 ${state.queue.length} 条，队列还有更多（「加载更多」）`
    : `共 ${state.queue.length} 条`;
  $("queue-empty").hidden = state.queue.length > 0;
  $("queue-table").hidden = state.queue.length === 0;
  $("queue-more").hidden = !state.cursor;
}

/** A ticket number that may wrap after its date ("TS-20261207-" / "000145") in a narrow column. */
function ticketNumber(ticketNo) {
  const cut = ticketNo.lastIndexOf("-") + 1;
  return el("span", { className: "ticket-link" }, ticketNo.slice(0, cut), el("wbr"), ticketNo.slice(cut));
}

/** One row of the queue (its confidence) or of the ticket list (its status); both kinds of item
 * carry the deadlines (`first_response`, `resolution`) the same way as the ticket itself. */
function ticketRow(item, listed = false) {
  const confidence = typeof item.confidence === "number" ? item.confidence : null;
  const firstResponse = el("span", { className: "countdown" });
  const resolution = el("span", { className: "countdown small" });
  for (const [node, sla, prefix] of [
    [firstResponse, item.first_response, "响应 "],
    [resolution, item.resolution, "解决 "],
  ]) {
    if (sla.done_at) {
      node.textContent = `${prefix}已完成${sla.state === "breached" ? "（超时）" : ""}`;
      node.title = `${shortTime(sla.done_at)} 完成（${sla.state_name}），截止 ${shortTime(sla.due)}`;
      node.classList.add("done");
    } else {
      setCountdown(node, sla.due, prefix, sla.warn_at);
      node.title = `截止 ${shortTime(sla.due)}`;
    }
  }
  const tier = item.routed_tier || item.tier;
  const suggested = item.tier && typeof item.tier.probability === "number"
    ? `；模型建议 ${nameOf(item.tier)} ${percent(item.tier.probability)}` : "";
  const tierTitle = `${nameOf(tier)}${suggested}`;
  const row = el(
    "tr",
    { dataset: { ticketNo: item.ticket_no }, tabIndex: 0, title: item.text || "" },
    el("td", {}, ticketNumber(item.ticket_no)),
    el("td", { textContent: shortTime(item.received_at).slice(5), title: shortTime(item.received_at) }),
    el("td", { textContent: nameOf(item.channel) }),
    el("td", {}, el("span", { className: `tier tier-${codeOf(tier)}`, textContent: shortName(tier), title: tierTitle })),
    el(
      "td",
      { className: "subtype-cell", title: item.subtype ? percent(item.subtype.probability) : "" },
      el("div", { textContent: nameOf(item.subtype) }),
      el("div", { className: "excerpt" }, typed(Array.from(item.text || "").slice(0, 24).join(""))),
    ),
    listed
    ? el("td", { textContent: nameOf(item.status) })
    : el("td", { className: confidence !== null && confidence < 0.5 ? "low" : "", textContent: percent(confidence) }),
    el(
      "td",
      { className: "sla-cell" },
      firstResponse,
      resolution,
      deadlineLevel(item) > 0
        ? el("span", {
            className: deadlineLevel(item) > 1 ? "escalated-badge head" : "escalated-badge",
            textContent: deadlineLevel(item) > 1 ? "已升级部门负责人" : "已升级主管",
            title: escalationTitle(item),
          })
        : null,
      item.head_escalated_at
        ? el("span", { className: "urgent-badge", textContent: URGENT_BADGE, title: urgentTitle(item) })
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

const URGENT_BADGE = "紧急·已升级部门负责人";

/** The highest level a deadline of the ticket was escalated to (0: none); `escalation_level` also
 * counts an urgent ticket's escalation to the department head when it was filed or reviewed. */
function deadlineLevel(item) {
  const slas = [item.first_response, item.resolution].filter(Boolean);
  if (slas.some((sla) => sla.head_escalated_at)) return 2;
  return slas.some((sla) => sla.escalated_at) ? 1 : 0;
}

/** When an urgent ticket was escalated to the department head (practice 003), for a title. */
function urgentTitle(item) {
  return `紧急投诉，${shortTime(item.head_escalated_at)} 已升级至部门负责人协调处理`;
}

/** When and for which deadlines a ticket was escalated to the supervisor, and to the department head. */
function escalationTitle(item) {
  const slas = [["首次响应", item.first_response], ["解决", item.resolution]].filter(([, sla]) => sla);
  const supervisor = slas
    .filter(([, sla]) => sla.escalated_at)
    .map(([name, sla]) => `${name}时限 ${shortTime(sla.escalated_at)}`);
  const head = slas
    .filter(([, sla]) => sla.head_escalated_at)
    .map(([name, sla]) => `${name}时限 ${shortTime(sla.head_escalated_at)}`);
  const parts = [
    supervisor.length ? `时限临近或超时，已自动升级至上级主管：${supervisor.join("；")}` : "已自动升级至上级主管",
  ];
  if (head.length) parts.push(`时限已过仍未完成，已升级至部门负责人：${head.join("；")}`);
  return parts.join("。");
}

/** The list of all tickets (newest first), with the filters of the list form: its next page
 * (`more`), or again from the start with as many rows as shown — after a filter
 * changed, the first page. An answer overtaken by a later load of the list is dropped. */
async function loadList(more, { filtered = false } = {}) {
  const shown = filtered ? QUEUE_PAGE : Math.max(QUEUE_PAGE, state.list.length);
  const query = new URLSearchParams();
  for (const [id, name] of [["list-tier", "tier"], ["list-status", "status"]]) {
    if ($(id).value) query.set(name, $(id).value);
  }
  const checks = [
    ["list-overdue", "overdue"],
    ["list-due-soon", "due_soon"],
    ["list-escalated", "escalated"],
    ["list-head-escalated", "head_escalated"], // urgent at intake or review, or a deadline passed unmet
  ];
  for (const [id, name] of checks) {
    if ($(id).checked) query.set(name, "true");
  }
  const page = await loadRows("list", "v1/tickets", query, more ? QUEUE_PAGE : shown, more ? state.listCursor : null);
  if (!page) return;
  state.list = more ? state.list.concat(page.items) : page.items;
  state.listCursor = page.next_cursor || null;
  state.listLoaded = true;
  keepingPlace("list-body", () => {
    $("list-body").replaceChildren(...state.list.map((item) => ticketRow(item, true)));
    $("list-empty").hidden = state.list.length > 0;
    $("list-table").hidden = state.list.length === 0;
    $("list-more").hidden = !state.listCursor;
  });
}

/** The list's filters: the model's tiers, and the statuses of the tracking sheet. */
function fillListFilters() {
  const all = { code: "", name: "全部" };
  options($("list-tier"), [all, ...state.taxonomy.tiers], $("list-tier").value);
  const statuses = Object.entries(STATUS_NAMES).map(([code, name]) => ({ code, name }));
  options($("list-status"), [all, ...statuses], $("list-status").value);
}

function showTab(tab) {
  for (const name of ["queue", "list", "notifications", "stats"]) {
    $(`${name}-panel`).hidden = name !== tab;
    $(`tab-${name}`).setAttribute("aria-selected", String(name === tab));
  }
  $("console-view").classList.toggle("stats-shown", tab === "stats");
  if (tab === "stats" && !state.statsLoaded) loadStatistics();
  if (tab === "list") loadList(false, { filtered: !state.listLoaded }).catch((error) => showError("读取工单列表", error));
  if (tab === "notifications") {
    loadNotifications(false, { filtered: !state.notificationsLoaded }).catch((error) => showError("读取升级通知", error));
  }
}

// ----------------------------------------------------------------------- notifications

/** The escalation notifications, newest first, in the state the filter names: their next page
 * (`more`), or again from the start with as many rows as shown — after the
 * filter changed, the first page. An answer overtaken by a later load of them is dropped. */
async function loadNotifications(more, { filtered = false } = {}) {
  const shown = filtered ? QUEUE_PAGE : Math.max(QUEUE_PAGE, state.notifications.length);
  const query = new URLSearchParams();
  if ($("notifications-state").value) query.set("state", $("notifications-state").value);
  const rows = more ? QUEUE_PAGE : shown;
  const page = await loadRows("notifications", "v1/notifications", query, rows, more ? state.notificationsCursor : null);
  if (!page) return;
  state.notifications = more ? state.notifications.concat(page.items) : page.items;
  state.notificationsCursor = page.next_cursor || null;
  state.notificationsLoaded = true;
  state.notifyOff = page.headers.get(NOTIFY_SWITCH) === "off";
  keepingPlace("notifications-body", renderNotifications);
}

/** The notifications' rows; none: that notifications are off (the service said so), else that there are none. */
function renderNotifications() {
  const count = state.notifications.length;
  const chosen = $("notifications-state").value;
  $("notifications-body").replaceChildren(...state.notifications.map(notificationRow));
  $("notifications-table").hidden = count === 0;
  $("notifications-off").hidden = !state.notifyOff;
  $("notifications-empty").textContent = chosen ? `没有「${NOTIFICATION_STATES[chosen]}」的升级通知。` : "暂无升级通知。";
  $("notifications-empty").hidden = count > 0 || state.notifyOff;
  $("notifications-more").hidden = !state.notificationsCursor;
}

/** What became of a notification, for the title of its state. */
function deliveryTitle(item) {
  if (item.state === "delivered") return `${shortTime(item.delivered_at)} 已送达通知网关`;
  if (item.state === "failed") return `${item.attempts} 次发送均失败，已不再重试：请电话联系接收人`;
  return item.last_attempt_at ? `上次尝试 ${shortTime(item.last_attempt_at)}，将自动重试` : "尚未发送";
}

/** Why the last attempt of a notification failed, in Chinese, from the dispatcher's few English
 * words (api/notifier.py: "HTTP 500", "timeout after 5 s", "no answer within 10 s",
 * "ConnectError (https://gateway)", "no payload: …"); the words themselves go in its title. */
function deliveryError(error) {
  const status = error.match(/^HTTP (\d+)$/);
  if (status) return `通知网关返回错误（HTTP ${status[1]}）`;
  const timeout = error.match(/^(?:timeout after|no answer within) ([\d.]+) s$/);
  if (timeout) return `通知网关 ${timeout[1]} 秒内没有应答`;
  if (error.startsWith("no payload")) return "无法生成通知内容";
  const network = error.match(/^\w+ \((.*)\)$/);
  if (network) return `无法连接通知网关 ${network[1].replace(/\/…$/, "")}，或连接中断`; // its origin, the path left out
  return "发送出错（详情见提示）";
}

/** One row of the notifications: its ticket number is a link that opens the ticket (#TS-…). */
function notificationRow(item) {
  const link = el(
    "a",
    { href: `#${encodeURIComponent(item.ticket_no)}`, className: "notification-ticket", title: `打开工单 ${item.ticket_no}` },
    ticketNumber(item.ticket_no),
  );
  const recipient = item.recipient ? typed(item.recipient) : el("span", { className: "muted", textContent: "未设置联系人" });
  return el(
    "tr",
    { className: `notification-${item.state}`, dataset: { ticketNo: item.ticket_no, state: item.state } },
    el("td", { textContent: shortTime(item.created_at).slice(5), title: shortTime(item.created_at) }),
    el("td", {}, link),
    el("td", { textContent: `${NOTIFICATION_KINDS[item.kind] || item.kind}·${item.level_name}` }),
    el("td", {}, recipient),
    el("td", {}, el("span", { className: `notify-state ${item.state}`, textContent: NOTIFICATION_STATES[item.state] || item.state, title: deliveryTitle(item) })),
    el("td", { textContent: String(item.attempts) }),
    el("td", {
      className: "notify-error",
      textContent: item.last_error ? deliveryError(item.last_error) : "—",
      title: item.last_error || "",
    }),
    el("td", { textContent: item.next_attempt_at ? shortTime(item.next_attempt_at) : "—" }),
  );
}

/** The count of failed notifications on their tab ("发送失败 2"), hidden when there is none: an
 * agent working the queue sees it without opening the tab. Exact however many there are: the
 * listing's `total`, read with a page of one. */
async function loadFailedCount() {
  const query = new URLSearchParams({ state: "failed", limit: "1" });
  const answer = await load("failed", `v1/notifications?${query}`);
  if (!answer) return;
  const count = answer.data.total;
  const badge = $("notifications-failed");
  badge.textContent = `发送失败 ${count}`;
  badge.title = `${count} 条升级通知发送失败，已不再重试：请查看并电话联系接收人`;
  badge.hidden = count === 0;
}

// ------------------------------------------------------------------------------ ticket

/** Open a ticket: true once it is shown. `keepMessage` leaves the message shown (a success that
 * led here); `confirmed`: the agent already agreed to leave the open ticket's unsaved input (else
 * they are asked here, when another ticket is opened). */
async function openTicket(ticketNo, { keepMessage = false, confirmed = false } = {}) {
  const other = state.ticket && state.ticket.ticket_no !== ticketNo;
  if (other && !confirmed && !mayDiscard(`打开工单 ${ticketNo}`)) return false;
  if (!keepMessage) clearMessage();
  const ask = ++state.opens;
  state.opening = ticketNo;
  let ticket;
  try {
    ticket = await fetchTicket(ticketNo);
  } catch (error) {
    if (ask !== state.opens) return false;
    state.opening = null;
    showError(`打开工单 ${ticketNo} `, error);
    return false;
  }
  if (ask !== state.opens) return false; // another ticket was asked for meanwhile: that one is shown
  state.opening = null;
  renderTicket(ticket);
  history.replaceState(null, "", `#${state.ticket.ticket_no}`);
  const view = $("ticket-view");
  if (view.getBoundingClientRect().top < 0 || view.getBoundingClientRect().top > window.innerHeight) {
    view.scrollIntoView({ block: "start" });
  }
  $("ticket-heading").focus({ preventScroll: true });
  return true;
}

/** Show a ticket. Another ticket number empties both forms for it; the same ticket again (after a
 * refused change, a new log-in) keeps what the agent typed and has not saved yet. */
function renderTicket(ticket) {
  const same = Boolean(state.ticket) && state.ticket.ticket_no === ticket.ticket_no;
  state.ticket = ticket;
  $("ticket-view").hidden = false;
  $("ticket-no").textContent = ticket.ticket_no;
  $("ticket-status").textContent = nameOf(ticket.status);
  const urgent = $("ticket-urgent");
  urgent.hidden = !ticket.head_escalated_at;
  urgent.textContent = ticket.head_escalated_at ? URGENT_BADGE : "";
  urgent.title = ticket.head_escalated_at ? urgentTitle(ticket) : "";
  document.querySelectorAll("#queue-body tr, #list-body tr").forEach((row) => {
    row.classList.toggle("selected", row.dataset.ticketNo === ticket.ticket_no);
  });
  renderFacts(ticket);
  renderSla($("sla-first"), $("sla-first-due"), ticket.first_response);
  renderSla($("sla-resolution"), $("sla-resolution-due"), ticket.resolution);
  renderLegend();
  renderText();
  renderTerms();
  renderSuggestion(ticket);
  renderReviewState(ticket);
  if (same && correctionEdits().length) rebaseCorrectionForm(ticket);
  else fillCorrectionForm(ticket);
  renderHistory(ticket);
  fillEventForm(ticket, !same);
  renderSurveys(ticket);
  fillSurveyForm(ticket, !same);
}

const REASON_NAMES = {
  "low_confidence:category": "大类置信度低",
  "low_confidence:subtype": "子类置信度低",
  "low_confidence:tier": "级别置信度低",
  "not_judgeable:too_short": "文本过短，无法判断",
  "not_judgeable:no_chinese": "没有中文，无法判断",
  "not_judgeable:empty": "没有可判断的文字（只有表情、符号或空白）",
  not_judgeable: "无法判断",
};

function renderFacts(ticket) {
  const reasons = (ticket.review_reasons || []).map((reason) => REASON_NAMES[reason] || reason);
  const facts = [
    ["受理时间", shortTime(ticket.received_at)],
    ["发生时间", ticket.occurred_at ? shortTime(ticket.occurred_at) : "—"],
    ["渠道", nameOf(ticket.channel)],
    ["责任部门", nameOf(ticket.department)],
    ["负责人", ticket.owner || "—"],
    ["情绪指数", `${ticket.emotion_index}${ticket.emotion_risk ? "（有升级风险）" : ""}`],
    ["升级规则", ticket.escalations && ticket.escalations.length
      ? ticket.escalations.map((rule) => `${rule.name}：${rule.matched} → ${shortName(codeName("tier", rule.tier))}`).join("；")
      : ticket.escalation_rule || "无"],
    ["时限升级", escalationFact(ticket)],
    ["紧急升级", ticket.head_escalated_at ? urgentTitle(ticket) : "—"],
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
  if (deadlineLevel(ticket) > 0) return escalationTitle(ticket);
  return ticket.due_soon ? "时限临近，尚未升级" : "未升级";
}

/** The survey of the ticket's closure: recorded (with its overall score), or when it is due. */
function surveyFact(ticket) {
  if (ticket.survey) return `已回访 ${shortTime(ticket.survey.surveyed_at)}（整体满意度 ${ticket.survey.overall} 分）`;
  if (ticket.survey_due) return `待回访，截止 ${shortTime(ticket.survey_due)}`;
  return "—";
}

function renderSla(node, dueNode, sla) {
  delete node.dataset.due;
  node.classList.remove("overdue", "soon", "pending", "done");
  const escalated =
    (sla.escalated_at ? `；${shortTime(sla.escalated_at)} 已升级主管` : "") +
    (sla.head_escalated_at ? `；${shortTime(sla.head_escalated_at)} 已升级部门负责人` : "");
  dueNode.textContent = `截止 ${shortTime(sla.due)}${escalated}`;
  if (sla.done_at) {
    node.textContent = `已完成（${sla.state_name || sla.state}）`;
    node.classList.add(sla.state === "breached" ? "overdue" : "done");
  } else {
    setCountdown(node, sla.due, "", sla.warn_at);
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
  // the tier head's features without a place in the text: its length bin, a subtype's probability
  if (term.kind === "length") return `文本长度 ${term.term} 字`;
  if (term.kind === "subtype") return `${codeName("subtype", term.term)}（子类特征）`;
  return term.term;
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
    const rules = changed && head === "级别" ? raisingRules(ticket) : [];
    let shown = el("td", { textContent: nameOf(current) + (changed ? " ✎" : ""), title: changed ? "审核人修改" : "" });
    if (rules.length) {
      shown = el(
        "td",
        { title: `由升级规则提高，不是人工修改：${rules.join("、")}` },
        nameOf(current),
        el("span", { className: "raised", textContent: ` ↑ 升级规则「${rules.join("、")}」` }),
      );
    }
    return el(
      "tr",
      { className: rules.length ? "raised-row" : changed ? "changed" : "" },
      el("th", { textContent: head }),
      el("td", { textContent: nameOf(suggested) }),
      probabilityCell(suggested ? suggested.probability : undefined),
      shown,
    );
  });
  $("suggestion-body").replaceChildren(...rows);
  const top = (suggestion.top_subtypes || []).map((item) => `${item.name} ${percent(item.probability)}`);
  $("top-subtypes").textContent = top.length ? `${top.join("，")}（首项是所选大类中最可能的子类）` : "—";
}

/** The names of the escalation rules that raised the ticket's tier above the model's suggestion
 * at intake, while no review has changed the tier since (empty otherwise). */
function raisingRules(ticket) {
  const suggested = ticket.suggestion && codeOf(ticket.suggestion.tier);
  const tier = codeOf(ticket.tier);
  if (!suggested || suggested === tier) return [];
  const reviewed = (ticket.history || []).some((event) => event.before && event.after && event.before.tier !== event.after.tier);
  if (reviewed) return [];
  const rules = (ticket.escalations || []).filter((rule) => rule.tier === tier).map((rule) => rule.name);
  return rules.length ? rules : ticket.escalation_rule ? [ticket.escalation_rule] : [];
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
  const parts = [
    el("strong", {}, "已审核：", typed(review.reviewed_by || "—"), ` 于 ${shortTime(review.reviewed_at)}`),
    finals.length ? el("div", { textContent: `最终标签：${finals.join("，")}` }) : null,
    review.comment ? el("div", {}, "备注：", typed(review.comment)) : null,
  ];
  box.replaceChildren(...parts.filter(Boolean));
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
 * is more than one), the agent picks: nothing is chosen silently. Without `selected`, the subtype
 * last chosen in that category (the ticket's own in its category) is chosen again. */
function fillSubtypes(selected = state.subtypeChoice[$("correct-category").value]) {
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

/** Fill the correction form with the ticket's labels, dropping anything typed in it. */
function fillCorrectionForm(ticket) {
  const taxonomy = state.taxonomy;
  const base = {
    category: codeOf(ticket.category),
    subtype: codeOf(ticket.subtype),
    tier: codeOf(ticket.tier),
    demand: codeOf(ticket.demand),
  };
  state.formBase = base;
  state.subtypeChoice = { [base.category]: base.subtype };
  options($("correct-category"), taxonomy.categories, base.category);
  fillSubtypes(base.subtype);
  options($("correct-tier"), taxonomy.tiers, base.tier);
  options($("correct-demand"), taxonomy.demands, base.demand);
  $("correct-comment").value = "";
  updateDowngradeHint();
}

/** Show the ticket's labels as they are now (another agent's review, after a 412 or a new log-in)
 * in the correction form, keeping what the agent changed and typed: a label the agent left as the
 * form showed it takes the ticket's new one, so that saving the agent's edit does not silently
 * undo the other review. Category and subtype go together. */
function rebaseCorrectionForm(ticket) {
  const base = state.formBase;
  const typedIn = Object.fromEntries(CORRECTION_FIELDS.map(([id, field]) => [field, $(id).value]));
  const comment = $("correct-comment").value;
  const choices = state.subtypeChoice;
  fillCorrectionForm(ticket);
  state.subtypeChoice = { ...choices, ...state.subtypeChoice };
  if (typedIn.category !== base.category || typedIn.subtype !== base.subtype) {
    if (typedIn.subtype) state.subtypeChoice[typedIn.category] = typedIn.subtype;
    $("correct-category").value = typedIn.category;
    fillSubtypes(typedIn.subtype);
  }
  for (const field of ["tier", "demand"]) {
    if (typedIn[field] !== base[field]) $(`correct-${field}`).value = typedIn[field];
  }
  $("correct-comment").value = comment;
  updateDowngradeHint();
}

const CORRECTION_FIELDS = [
  ["correct-category", "category", "大类"],
  ["correct-subtype", "subtype", "子类"],
  ["correct-tier", "tier", "级别"],
  ["correct-demand", "demand", "诉求"],
];

/** What the agent changed in the correction form and has not saved: ["级别 二级 → 一级", "备注"]. */
function correctionEdits() {
  const base = state.formBase;
  if (!base || !state.taxonomy) return [];
  const edits = CORRECTION_FIELDS.filter(([id, field]) => $(id).value !== base[field]).map(
    ([id, field, name]) => `${name} ${shortName(codeName(field, base[field]))} → ${$(id).value ? shortName(codeName(field, $(id).value)) : "（未选）"}`,
  );
  if ($("correct-comment").value.trim()) edits.push("备注");
  return edits;
}

/** The fields of the tracking form the agent filled in and has not recorded: ["处理结果", "备注"]. */
function eventEdits() {
  return EVENT_TEXT_FIELDS.filter(([id, fieldId]) => $(id).value.trim() && !(fieldId && $(fieldId).hidden)).map(
    ([, , name]) => name,
  );
}

/** Everything typed for the open ticket and not saved, one line per form. */
function unsavedWork() {
  const lines = [];
  const edits = correctionEdits();
  if (edits.length) lines.push(`修改标签：${edits.join("；")}`);
  const filled = eventEdits();
  if (filled.length) lines.push(`处理进度（${STAGES[$("event-stage").value] || "新环节"}）：${filled.join("、")}`);
  const answered = surveyEdits();
  if (answered.length) lines.push(`满意度回访：${answered.map(([name]) => name).join("、")}`);
  return lines;
}

/** True when nothing typed would be lost by `what` ("打开工单 …", "确认建议"), or the agent agrees
 * to drop it (a dialog); else the page says that it kept it and puts the focus on it. */
function mayDiscard(what) {
  const lines = unsavedWork();
  if (!lines.length || !state.ticket) return true;
  const ticketNo = state.ticket.ticket_no;
  const question = `工单 ${ticketNo} 有尚未保存的内容：\n${lines.map((line) => `· ${line}`).join("\n")}\n\n${what}将放弃这些内容。确定放弃吗？`;
  if (window.confirm(question)) return true;
  showMessage(`已保留工单 ${ticketNo} 尚未保存的内容：请先保存（或改回），再${what}。`, "info");
  const edited = CORRECTION_FIELDS.find(([id, field]) => state.formBase && $(id).value !== state.formBase[field]);
  const typedIn = [["correct-comment"], ...EVENT_TEXT_FIELDS].find(([id]) => $(id).value.trim());
  const focus = edited || typedIn;
  if (focus) $(focus[0]).focus();
  else if (surveyEdits().length) surveyEdits()[0][1].focus();
  return false;
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
  const following = state.queue.slice(position + 1).map((item) => item.ticket_no);
  clearMessage();
  const buttons = [$("accept"), $("save-correction")];
  buttons.forEach((button) => (button.disabled = true));
  try {
    renderTicket(await changeTicket("/review", body));
    fillCorrectionForm(state.ticket); // saved: the form starts again from the ticket's labels
  } catch (error) {
    buttons.forEach((button) => (button.disabled = false));
    await reportRefusal(body.action === "accept" ? "确认" : "保存修改", error);
    return;
  }
  buttons.forEach((button) => (button.disabled = false));
  showMessage(`${ticketNo}：${done}`, "success");
  // the ticket list's row shows the review too (a failure there: the quiet line under the tabs)
  if (state.listLoaded) loadList(false).then(() => sayRefreshFailed(false), () => sayRefreshFailed(true));
  try {
    // the review is saved: a queue that cannot be read now is a separate problem
    await loadQueue(false);
  } catch (error) {
    showError(`${ticketNo}：${done}刷新待审核队列`, error);
    return;
  }
  if (body.action !== "accept" || position < 0 || !state.queue.length) return;
  // the first ticket below it still waiting (others may have reviewed some meanwhile), else the last one
  const waiting = state.queue.map((item) => item.ticket_no);
  const next = following.find((number) => waiting.includes(number)) || waiting[waiting.length - 1];
  if (next !== ticketNo) {
    showMessage(`${ticketNo}：${done}已打开下一张待审核工单 ${next}。`, "success");
    await openTicket(next, { keepMessage: true, confirmed: true });
  }
}

/** True unless the model could not judge the ticket's text and the agent, asked, does not vouch for
 * the suggestion: it is then a default drawn from no evidence, and an accepted one becomes a
 * training label. */
function mayAcceptUnjudged(ticket) {
  const why = (ticket.review_reasons || []).filter((reason) => reason.startsWith("not_judgeable"));
  if (!why.length) return true;
  const reasons = why.map((reason) => REASON_NAMES[reason] || reason).join("、");
  const labels = `${shortName(ticket.category)} / ${shortName(ticket.subtype)} / ${shortName(ticket.tier)}`;
  const question = `模型无法判断这条文本（${reasons}），建议的标签（${labels}）只是没有依据的默认值；确认后它们会成为训练标签。\n\n您已阅读原文并确定这些标签正确吗？`;
  if (window.confirm(question)) return true;
  showMessage("未确认：请阅读原文后在「修改标签」中选择正确的标签（快捷键 C）。", "info");
  return false;
}

/** Accept the ticket's labels as they are (asking first when the agent typed a correction, or when
 * the model could not judge the text). */
function accept() {
  if (!mayDiscard("确认建议")) return undefined;
  const ticket = state.ticket;
  const reviewed = Boolean(ticket.review && ticket.review.reviewed_at);
  if (!reviewed && !mayAcceptUnjudged(ticket)) return undefined;
  const rules = raisingRules(ticket);
  let done = "已确认模型建议。";
  if (reviewed) done = "已确认当前标签。";
  else if (rules.length) done = `已确认模型建议，及升级规则「${rules.join("、")}」提高的级别（${shortName(ticket.tier)}）。`;
  return submitReview({ action: "accept" }, done);
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

/** What a history entry says besides its time, stage and actor: a list of parts (texts, and what
 * someone typed in elements of its own), "；" between its items; empty when there is nothing. */
function eventDetails(event) {
  const items = [
    event.action ? [reviewChanges(event)] : null,
    event.owner ? ["负责人 ", typed(event.owner)] : null,
    event.resolution ? ["处理结果：", typed(event.resolution)] : null,
    event.feedback ? [`客户反馈：${nameOf(event.feedback)}`] : null,
    event.comment ? ["客户意见：", typed(event.comment)] : null,
    event.deadline
      ? [
          `${nameOf(event.deadline)}时限（截止 ${shortTime(event.due)}）${event.deadline_passed ? "已超时" : "临近"}，` +
            (event.level > 1 ? "仍未完成，已自动升级至部门负责人" : "已自动升级至上级主管"),
        ]
      : null,
    event.note ? ["备注：", typed(event.note)] : null,
  ].filter(Boolean);
  return items.flatMap((parts, index) => (index ? ["；", ...parts] : parts));
}

function renderHistory(ticket) {
  const rows = (ticket.history || []).map((event) => {
    const details = eventDetails(event);
    return el(
      "tr",
      {},
      el("td", { textContent: shortTime(event.at) }),
      el("td", { textContent: event.stage_name || STAGES[event.stage] || event.stage }),
      el("td", { title: event.actor }, typed(actorName(event.actor))),
      el("td", {}, ...(details.length ? details : ["—"])),
    );
  });
  $("history-body").replaceChildren(...rows);
  $("history-empty").hidden = rows.length > 0;
}

/** The text fields of the tracking form: id, the id of the label that hides it for some stages, name. */
const EVENT_TEXT_FIELDS = [
  ["event-owner", "event-owner-field", "负责人"],
  ["event-resolution", "event-resolution-field", "处理结果"],
  ["event-comment", "event-comment-field", "客户意见"],
  ["event-note", null, "备注"],
];

/** The tracking form for the ticket: only the stages that may follow its status (`next_stages`);
 * `reset` (another ticket) empties it, else what the agent chose and typed stays. A stage the
 * agent chose that the ticket no longer allows (another agent recorded one meanwhile) is not
 * swapped for another one: the agent chooses again. */
function fillEventForm(ticket, reset) {
  const stages = ticket.next_stages || [];
  const chosen = reset ? null : $("event-stage").value;
  options($("event-stage"), stages, chosen);
  if (chosen !== null && stages.length && !stages.some((stage) => stage.code === chosen)) {
    const gone = chosen ? `（「${STAGES[chosen] || chosen}」已不能记录）` : "";
    $("event-stage").prepend(el("option", { value: "", textContent: `— 请选择环节${gone} —` }));
    $("event-stage").value = "";
  }
  $("event-stage").disabled = stages.length === 0;
  if (reset) {
    EVENT_TEXT_FIELDS.forEach(([id]) => ($(id).value = ""));
    $("event-feedback").value = "satisfied";
  }
  updateEventFields();
}

function updateEventFields() {
  const stage = $("event-stage").value;
  $("event-owner-field").hidden = stage !== "assigned" && stage !== "escalated";
  $("event-resolution-field").hidden = stage !== "resolved";
  $("event-feedback-field").hidden = stage !== "closed";
  $("event-comment-field").hidden = stage !== "closed";
}

async function addEvent(event) {
  event.preventDefault();
  const ticketNo = state.ticket.ticket_no;
  const stage = $("event-stage").value;
  if (!stage) {
    return $("event-stage").disabled ? refuse("当前不能记录任何环节。", null) : refuse("请选择要记录的环节。", "event-stage");
  }
  const body = { stage };
  const note = $("event-note").value.trim();
  if (note) body.note = note;
  const owner = $("event-owner").value.trim();
  if ((stage === "assigned" || stage === "escalated") && owner) body.owner = owner;
  if (stage === "resolved") body.resolution = $("event-resolution").value.trim();
  if (stage === "closed") {
    body.feedback = $("event-feedback").value;
    const comment = $("event-comment").value.trim();
    if (comment) body.comment = comment;
  }
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
    EVENT_TEXT_FIELDS.forEach(([id]) => ($(id).value = ""));
    showMessage(`${ticketNo}：已记录「${STAGES[stage]}」。`, "success");
    refreshLists(); // the ticket's rows show its new status and deadlines (a failure: the quiet line)
  } catch (error) {
    await reportRefusal("记录环节", error);
  } finally {
    button.disabled = false;
  }
  return undefined;
}

// ------------------------------------------------------------------------------ survey

/** The latest `closed` event of the ticket's history (the closure a new survey is for), or null. */
function latestClosure(ticket) {
  const closures = (ticket.history || []).filter((event) => event.stage === "closed");
  return closures.length ? closures[closures.length - 1] : null;
}

/** True when the ticket is closed and its latest closure has no survey yet: the form is offered. */
function surveyOpen(ticket) {
  return codeOf(ticket.status) === "closed" && !ticket.survey;
}

/** The four scores of a survey in a line: "处理及时性 4 分，…，整体满意度 5 分（平均 4.5）". */
function surveyScores(survey) {
  const scores = SURVEY_SCORES.map(([code, name]) => `${name} ${survey[code]} 分`).join("，");
  return typeof survey.average === "number" ? `${scores}（平均 ${survey.average.toFixed(2).replace(/\.?0+$/, "")}）` : scores;
}

/** Every survey of the ticket, oldest first, read-only: the current one (of the latest closure,
 * while it is closed) and earlier ones, of closures that were reopened. */
function renderSurveys(ticket) {
  const surveys = ticket.surveys || [];
  const records = surveys.map((survey) => {
    const heading = survey.current ? "本次闭环的回访" : "此前闭环的回访（工单其后重新打开，不再计入统计）";
    const method = survey.method ? `，${nameOf(survey.method)}` : "";
    const aspects = [
      ["最满意的环节", survey.best_aspects],
      ["需改进的环节", survey.improve_aspects],
    ]
      .filter(([, list]) => list && list.length)
      .map(([name, list]) => el("div", { textContent: `${name}：${list.map(nameOf).join("、")}` }));
    return el(
      "div",
      { className: survey.current ? "survey-record current" : "survey-record", dataset: { current: String(survey.current) } },
      el("div", {}, el("strong", { textContent: heading }), survey.closed_at ? `（闭环于 ${shortTime(survey.closed_at)}）` : ""),
      el("div", {}, "回访人 ", typed(survey.surveyed_by), `，${shortTime(survey.surveyed_at)} 录入${method}`),
      el("div", { className: "survey-scores", textContent: surveyScores(survey) }),
      ...aspects,
      survey.comment ? el("div", {}, "其他建议：", typed(survey.comment)) : null,
    );
  });
  $("survey-list").replaceChildren(...records);
  $("survey-empty").hidden = records.length > 0 || surveyOpen(ticket);
}

/** The form's controls, made once: a 1–5 radio group per score, the methods, the aspects. */
function buildSurveyForm() {
  const groups = SURVEY_SCORES.map(([code, name]) =>
    el(
      "div",
      { className: "score-row", role: "radiogroup", ariaLabel: name },
      el("span", { className: "score-name", textContent: name }),
      ...[1, 2, 3, 4, 5].map((score) =>
        el(
          "label",
          { className: "score" },
          el("input", { type: "radio", name: `survey-${code}`, id: `survey-${code}-${score}`, value: String(score) }),
          String(score),
        ),
      ),
    ),
  );
  $("survey-scores").append(...groups);
  options($("survey-method"), [{ code: "", name: "— 未记录 —" }, ...Object.entries(SURVEY_METHODS).map(([code, name]) => ({ code, name }))], "");
  for (const [id, list] of [["survey-best", "best"], ["survey-improve", "improve"]]) {
    $(id).append(
      ...Object.entries(ASPECTS).map(([code, name]) =>
        el("label", { className: "check" }, el("input", { type: "checkbox", name: `survey-${list}`, value: code }), name),
      ),
    );
  }
}

/** The aspects checked in one list of the form ("survey-best", "survey-improve"), in the form's order. */
function checkedAspects(id) {
  return Array.from($(id).querySelectorAll("input:checked")).map((box) => box.value);
}

/** What the agent entered in the survey form and has not saved: [name, element to focus], none
 * while the form is not offered. */
function surveyEdits() {
  if ($("survey-form").hidden) return [];
  const edits = SURVEY_SCORES.map(([code, name]) => [name, document.querySelector(`input[name="survey-${code}"]:checked`)]);
  edits.push(["回访方式", $("survey-method").value ? $("survey-method") : null]);
  for (const [id, name] of [["survey-best", "最满意的环节"], ["survey-improve", "需改进的环节"]]) {
    edits.push([name, $(id).querySelector("input:checked")]);
  }
  edits.push(["其他建议", $("survey-comment").value.trim() ? $("survey-comment") : null]);
  return edits.filter(([, node]) => node);
}

function resetSurveyForm() {
  $("survey-form").reset();
  $("survey-method").value = "";
}

/** Offer the form while the ticket's latest closure has no survey; `reset` (another ticket)
 * empties it, else what the agent entered stays (a refusal, a new log-in) as long as the form is
 * offered: once it is not (reopened, or surveyed meanwhile), its answers are for nothing and go. */
function fillSurveyForm(ticket, reset) {
  const open = surveyOpen(ticket);
  if (reset || !open) resetSurveyForm();
  $("survey-form").hidden = !open;
  if (!open) return;
  const closure = latestClosure(ticket);
  const parts = [];
  if (closure) {
    parts.push(`本次闭环：${shortTime(closure.at)}`);
    if (closure.feedback) parts.push(`客户反馈 ${nameOf(closure.feedback)}`);
  }
  if (ticket.survey_due) parts.push(`回访截止 ${shortTime(ticket.survey_due)}（逾期仍可录入）`);
  $("survey-for").textContent = parts.join("；");
}

/** Record the survey of the ticket's latest closure; the ticket is read again to show it. (The
 * survey route takes no If-Match: one survey per closure is the service's own check, 409.) */
async function saveSurvey(event) {
  event.preventDefault();
  const ticketNo = state.ticket.ticket_no;
  const body = {};
  for (const [code, name] of SURVEY_SCORES) {
    const chosen = document.querySelector(`input[name="survey-${code}"]:checked`);
    if (!chosen) return refuse(`请为「${name}」评分（1–5 分）。`, `survey-${code}-1`);
    body[code] = Number(chosen.value);
  }
  if ($("survey-method").value) body.method = $("survey-method").value;
  body.best_aspects = checkedAspects("survey-best");
  body.improve_aspects = checkedAspects("survey-improve");
  for (const [list, name] of [["best_aspects", "最满意的环节"], ["improve_aspects", "需改进的环节"]]) {
    if (body[list].length > ASPECT_LIMIT) return refuse(`${name}最多选 ${ASPECT_LIMIT} 项。`, null);
  }
  const comment = $("survey-comment").value.trim();
  if (comment) body.comment = comment;
  clearMessage();
  const button = $("save-survey");
  if (button.disabled) return undefined; // one click, one survey
  button.disabled = true;
  try {
    await request("POST", ticketPath(ticketNo, "/survey"), body);
  } catch (error) {
    await reportRefusal("录入满意度回访", error);
    return undefined;
  } finally {
    button.disabled = false;
  }
  if (!state.ticket || state.ticket.ticket_no !== ticketNo) return undefined; // another ticket was opened meanwhile
  resetSurveyForm();
  $("survey-form").hidden = true; // recorded: not offered again, even before the ticket is read again
  try {
    renderTicket(await fetchTicket(ticketNo));
  } catch (error) {
    showError(`${ticketNo}：满意度回访已录入；重新读取工单`, error);
    return undefined;
  }
  showMessage(`${ticketNo}：已录入满意度回访（整体满意度 ${body.overall} 分）。`, "success");
  return undefined;
}

// --------------------------------------------------------------------------- shortcuts

/** Keys that work while no form field has the focus (letters in either case, no modifier):
 * A accepts the suggestion, J / K open the next / previous ticket of the shown table, C moves
 * to the correction form, / to the ticket number box (an analyst's key: neither A nor C). A key held down acts once. */
const SHORTCUTS = {
  a: () => state.ticket && mayReview() && !$("accept").disabled && $("accept").click(),
  j: () => openNeighbour(1),
  k: () => openNeighbour(-1),
  c: () => state.ticket && mayReview() && $("correct-category").focus(),
  "/": () => $("open-number").focus(),
};

function openNeighbour(step) {
  if ($("queue-panel").hidden && $("list-panel").hidden) return; // the notifications: no ticket rows to step through
  const body = $("list-panel").hidden ? $("queue-body") : $("list-body");
  const rows = Array.from(body.querySelectorAll("tr"));
  if (!rows.length) return;
  const from = state.opening || (state.ticket && state.ticket.ticket_no);
  const current = rows.findIndex((row) => row.dataset.ticketNo === from);
  const index = current < 0 ? 0 : current + step;
  if (index < 0 || index >= rows.length) return;
  const ticketNo = rows[index].dataset.ticketNo;
  if (!mayDiscard(`打开工单 ${ticketNo}`)) return;
  rows[index].focus({ preventScroll: true });
  rows[index].scrollIntoView({ block: "nearest" });
  openTicket(ticketNo, { confirmed: true });
}

/** A paste that would not fit a field's maxlength (the API's limit) is cut to fit, and the page
 * says so (the browser would cut it silently). */
function onPasteIntoLimited(event) {
  const field = event.target;
  const limit = field.maxLength;
  if (!(limit > 0) || !event.clipboardData) return;
  let pasted = event.clipboardData.getData("text/plain");
  if (field.tagName === "INPUT") pasted = pasted.replace(/[\r\n]+/g, " ");
  const room = Math.max(0, limit - field.value.length + (field.selectionEnd - field.selectionStart));
  if (pasted.length <= room) return;
  event.preventDefault();
  let kept = pasted.slice(0, room);
  if (/[\ud800-\udbff]$/.test(kept)) kept = kept.slice(0, -1); // not half of a character
  field.setRangeText(kept, field.selectionStart, field.selectionEnd, "end");
  field.dispatchEvent(new Event("input", { bubbles: true }));
  const name = field.closest("label").firstChild.textContent.trim();
  const cut = Array.from(pasted).length - Array.from(kept).length;
  showMessage(`${name}最多 ${limit} 字：粘贴的内容有 ${cut} 字放不下，已截去，请检查结尾。`, "info");
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
    const result = await logIn(key);
    if (result === "ok") {
      $("api-key").value = "";
      if (location.hash.length > 1) openTicket(decodeURIComponent(location.hash.slice(1)));
    } else if (result !== "refused") {
      showMessage(`暂时无法登录：${serviceProblem(result)}\n密钥尚未验证，请稍后再试。`);
    }
  });
  $("logout").addEventListener("click", logOut);
  $("retry").addEventListener("click", () => resume(state.key || sessionStorage.getItem(KEY_STORAGE)));
  $("offline-logout").addEventListener("click", forgetKey);
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
  $("correct-category").addEventListener("change", () => {
    fillSubtypes();
    updateDowngradeHint();
  });
  $("correct-subtype").addEventListener("change", () => {
    if ($("correct-subtype").value) state.subtypeChoice[$("correct-category").value] = $("correct-subtype").value;
  });
  $("tab-queue").addEventListener("click", () => showTab("queue"));
  $("tab-list").addEventListener("click", () => showTab("list"));
  $("list-form").addEventListener("change", () =>
    loadList(false, { filtered: true }).catch((error) => showError("读取工单列表", error)),
  );
  $("list-more").addEventListener("click", () => loadList(true).catch((error) => showError("加载更多", error)));
  $("tab-notifications").addEventListener("click", () => showTab("notifications"));
  $("tab-stats").addEventListener("click", () => showTab("stats"));
  wireStatistics();
  $("notifications-form").addEventListener("change", () =>
    loadNotifications(false, { filtered: true }).catch((error) => showError("读取升级通知", error)),
  );
  $("notifications-more").addEventListener("click", () =>
    loadNotifications(true).catch((error) => showError("加载更多", error)),
  );
  $("open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const ticketNo = $("open-number").value.trim().toUpperCase();
    if (ticketNo) openTicket(ticketNo);
  });
  window.addEventListener("hashchange", async () => {
    const ticketNo = decodeURIComponent(location.hash.slice(1));
    if (!state.key || !ticketNo || (state.ticket && state.ticket.ticket_no === ticketNo)) return;
    const shown = state.ticket && state.ticket.ticket_no;
    if (!(await openTicket(ticketNo)) && shown) history.replaceState(null, "", `#${shown}`);
  });
  // closing or reloading the tab: the browser's own "leave the page?" question (it shows its own text)
  window.addEventListener("beforeunload", (event) => {
    if (state.ticket && unsavedWork().length) event.preventDefault();
  });
  $("correct-tier").addEventListener("change", updateDowngradeHint);
  ["correct-comment", "event-owner", "event-resolution", "event-comment", "event-note", "survey-comment"].forEach((id) =>
    $(id).addEventListener("paste", onPasteIntoLimited),
  );
  $("event-stage").addEventListener("change", updateEventFields);
  updateEventFields();
  $("event-form").addEventListener("submit", addEvent);
  buildSurveyForm();
  $("survey-form").addEventListener("submit", saveSurvey);
  setInterval(tick, TICK_MS);
  setInterval(() => refreshLists(true), REFRESH_MS);
  document.addEventListener("visibilitychange", () => refreshLists(true));
}

// ------------------------------------------------------------------------------- start

async function start() {
  wire();
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (!saved) {
    showView("login");
    return;
  }
  await resume(saved);
}

document.addEventListener("DOMContentLoaded", start);

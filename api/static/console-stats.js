// The analysts' 统计 tab of the console: GET /v1/stats and /v1/stats/drift for a range of days,
// as a stacked bar chart of the volume by tier (inline SVG, drawn here) and a table of every figure.
// Loaded after console.js, whose helpers it uses (`$`, `el`, `load`, `percent`, `state`, …); the
// console calls `wireStatistics`, `loadStatistics`, `forgetStatistics` and `rangeErrorText`.
"use strict";

/** The grouping of each preset range. A preset asks for no days: the API answers for its latest
 * periods up to today in the business time zone (the last 8 ISO weeks, the last 6 months, the
 * current one so far), whatever the browser's calendar, and says which days (`from`, `to`). */
const PRESET_GROUPING = { weeks: "week", months: "month" };

/** The colours of the tiers in the chart, in the taxonomy's order (the most urgent first). */
const TIER_COLOURS = ["#e03131", "#f59f00", "#339af0", "#868e96", "#845ef7"];

/** The heads whose live accuracy `GET /v1/stats` measures, by their Chinese names. */
const ACCURACY_HEADS = [
  ["category", "大类"],
  ["subtype", "子类"],
  ["tier", "级别"],
  ["demand", "诉求"],
];

/** The heads whose class mix `GET /v1/stats/drift` compares with the training data. */
const DRIFT_HEAD_NAMES = { category: "大类", subtype: "子类", tier: "级别" };

const SVG_NS = "http://www.w3.org/2000/svg";

// ------------------------------------------------------------------------------ formats

/** A count, or "—" when the API gave none. */
function countText(value) {
  return typeof value === "number" ? String(value) : "—";
}

/** A number with `digits` decimals ("3.5"), or "—" for null. */
function fixed(value, digits = 1) {
  return typeof value === "number" ? value.toFixed(digits) : "—";
}

/** "11-23～11-29": the days of a period, without the year. */
function periodDays(period) {
  return `${String(period.start).slice(5)}～${String(period.end).slice(5)}`;
}

/** The short name of a period under its bar: "W48" for the week 2026-W48, "11月" for 2026-11. */
function periodLabel(period) {
  const key = String(period.period);
  return key.includes("-W") ? key.slice(key.indexOf("W")) : `${Number(key.slice(5))}月`;
}

// ------------------------------------------------------------------------------ loading

/** Read the statistics and then the drift of the chosen range and show them; any failure is said
 * in the tab (never thrown). A preset's days are those the API answered for, filled into the form.
 * An answer overtaken by a later load (another range) is dropped. */
async function loadStatistics() {
  const preset = $("stats-range").value;
  const custom = preset === "custom";
  const groupBy = custom ? $("stats-group").value : PRESET_GROUPING[preset];
  const [from, to] = [$("stats-from").value, $("stats-to").value];
  if (custom && (!from || !to)) {
    sayStatistics("请选择开始日期和结束日期。");
    return;
  }
  $("stats-status").textContent = "正在读取统计…";
  const asked = new URLSearchParams(custom ? { from, to, group_by: groupBy } : { group_by: groupBy });
  let stats;
  try {
    stats = await load("stats", `v1/stats?${asked}`);
  } catch (error) {
    sayStatistics(failureText("读取统计", error));
    return;
  }
  if (stats === null) return; // a later load is the one to show
  const range = new URLSearchParams({ from: stats.data.from, to: stats.data.to });
  const [drift] = await Promise.allSettled([load("drift", `v1/stats/drift?${range}`)]);
  if (drift.status === "fulfilled" && drift.value === null) return;
  $("stats-status").textContent = "";
  try {
    if (!custom) [$("stats-from").value, $("stats-to").value, $("stats-group").value] = [stats.data.from, stats.data.to, groupBy];
    renderStatistics(stats.data);
    renderDrift(drift);
    state.statsLoaded = true;
  } catch (error) {
    sayStatistics(failureText("显示统计", error)); // an answer the page cannot read: said, not thrown
  }
}

/** Say a failure (or a range the page cannot ask for) in the tab, in place of the figures. */
function sayStatistics(text) {
  $("stats-status").textContent = "";
  $("stats-error").textContent = text;
  $("stats-error").hidden = false;
  $("stats-export").disabled = true;
  for (const id of ["stats-drift", "stats-empty", "stats-figures"]) $(id).hidden = true;
}

/** What failed and why, in Chinese (the API's refusal as `request` said it, or the network). */
function failureText(action, error) {
  if (!(error instanceof ApiError)) return `${action}失败：页面出错（${error && error.message ? error.message : error}）`;
  const meaning = STATUS_MEANING[error.status] || `HTTP ${error.status}`;
  return `${action}失败（${meaning}）：\n${error.messages.join("\n")}`;
}

/** A range of days the statistics routes refuse (api/routers/stats.py `_check_range`), in Chinese;
 * null for any other error (then the API's own message is shown). */
function rangeErrorText(item, field) {
  const message = String(item.msg);
  const spans = message.match(/spans (\d+) days; at most (\d+)/);
  if (spans) return `时间范围共 ${spans[1]} 天，每次最多 ${spans[2]} 天：请缩短范围。`;
  if (/ is after to /.test(message)) return "开始日期晚于结束日期：请重新选择。";
  const years = message.match(/between the years (\d+) and (\d+)/);
  if (years) return `${field || "日期"}须在 ${years[1]} 年至 ${years[2]} 年之间。`;
  return null;
}

/** Forget the figures shown and the range asked (logging out, or a key of another role logging in
 * after a 401): nothing of them stays in the page, hidden or not; the next analyst reads them again. */
function forgetStatistics() {
  state.statsLoaded = false;
  state.loads.stats += 1; // an answer still on its way is dropped
  state.loads.drift += 1;
  $("stats-range").value = "weeks";
  $("stats-from").value = "";
  $("stats-to").value = "";
  $("stats-group").value = "week";
  for (const id of ["stats-error", "stats-drift", "stats-empty", "stats-figures"]) $(id).hidden = true;
  for (const id of ["stats-status", "stats-error", "stats-drift", "stats-empty", "stats-chart-title"]) $(id).textContent = "";
  for (const id of ["stats-head", "stats-body", "stats-chart", "stats-legend"]) $(id).replaceChildren();
  $("stats-export").disabled = true;
  $("stats-drift").className = "drift";
  delete $("stats-drift").dataset.retrain;
}

// ------------------------------------------------------------------------------- figures

/** Show the figures of a `GET /v1/stats` answer: the chart and the table, or that the range has no tickets. */
function renderStatistics(answer) {
  $("stats-error").hidden = true;
  const empty = answer.total.tickets === 0;
  $("stats-empty").textContent = `${answer.from} 至 ${answer.to} 没有受理的工单。`;
  $("stats-empty").hidden = !empty;
  $("stats-figures").hidden = empty;
  $("stats-export").disabled = empty;
  $("stats-export").dataset.file = `投诉统计_${answer.from}_${answer.to}_${answer.group_by === "week" ? "按周" : "按月"}.csv`;
  if (empty) return;
  const tiers = state.taxonomy.tiers;
  const unit = answer.group_by === "week" ? "周" : "月";
  $("stats-chart-title").textContent = `每${unit}工单量（按级别） · ${answer.from} 至 ${answer.to}，共 ${answer.total.tickets} 张`;
  $("stats-chart").replaceChildren(volumeChart(answer.periods, tiers));
  $("stats-legend").replaceChildren(...tiers.map((tier, index) => legendItem(tier, index)));
  renderTable(answer);
}

/** One tier in the chart's legend: its colour and its name. */
function legendItem(tier, index) {
  const swatch = el("span", { className: "swatch", style: { background: TIER_COLOURS[index % TIER_COLOURS.length] } });
  return el("span", { className: "legend-item", title: nameOf(tier) }, swatch, shortName(tier));
}

/** The table: a column per period and one for the whole range, a row per figure (`statsRows`). */
function renderTable(answer) {
  const columns = [...answer.periods, { period: "total", ...answer.total }];
  const head = el(
    "tr",
    {},
    el("th", { scope: "col", textContent: "指标" }),
    ...answer.periods.map((period) =>
      el("th", { scope: "col", dataset: { period: period.period } }, period.period, el("span", { className: "period-dates", textContent: periodDays(period) })),
    ),
    el("th", { scope: "col", dataset: { period: "total" }, textContent: "合计" }),
  );
  $("stats-head").replaceChildren(head);
  $("stats-body").replaceChildren(...statsRows(state.taxonomy).map((row) => tableRow(row, columns)));
}

/** A row of the table: a section's heading, or a figure's name and its value in every column. */
function tableRow(row, columns) {
  if (row.section) {
    return el("tr", { className: "section" }, el("th", { scope: "rowgroup", colSpan: columns.length + 1, textContent: row.section }));
  }
  return el(
    "tr",
    { dataset: { metric: row.key } },
    el("th", { scope: "row", textContent: row.label }),
    ...columns.map((figures) => el("td", { dataset: { period: figures.period }, textContent: row.value(figures) })),
  );
}

/** The figures of the table, in sections: each `{key, label, value(figures)}` (the key names the
 * row for tests and scripts: `tier:P1`, `category:logistics`, `first_response_breach:P1`,
 * `department:tech`, `closure_confirmation:tech`, …). */
function statsRows(taxonomy) {
  const tiers = taxonomy.tiers;
  const rate = (pick) => (figures) => percent(pick(figures));
  return [
    { section: "工单量" },
    { key: "tickets", label: "工单总数", value: (figures) => countText(figures.tickets) },
    ...tiers.map((tier) => ({ key: `tier:${tier.code}`, label: `级别：${nameOf(tier)}`, value: volumeOf("tier", tier.code) })),
    ...taxonomy.categories.map((category) => ({
      key: `category:${category.code}`,
      label: `大类：${category.name}`,
      value: volumeOf("category", category.code),
    })),
    { section: "时限" },
    ...slaRows(tiers, "first_response", "首次响应超时率"),
    ...slaRows(tiers, "resolution", "解决超时率"),
    { key: "mean_first_response_hours", label: "平均首次响应时长（小时）", value: (figures) => fixed(figures.mean_first_response_hours) },
    { key: "mean_resolution_hours", label: "平均解决时长（小时）", value: (figures) => fixed(figures.mean_resolution_hours) },
    { section: "闭环与升级" },
    { key: "closure_confirmation", label: "闭环确认率", value: rate((figures) => figures.closure_confirmation.rate) },
    { key: "deadline_escalation", label: "时限升级率", value: rate((figures) => figures.deadline_escalation.rate) },
    { key: "resolution_rate", label: "解决率", value: rate((figures) => figures.resolution_rate) },
    { key: "repeat_rate", label: "重复投诉率", value: rate((figures) => figures.repeat_rate) },
    { section: "按部门" },
    ...Object.entries(taxonomy.departments).flatMap(([code, name]) => [
      { key: `department:${code}`, label: `${name}：工单量`, value: volumeOf("department", code) },
      {
        key: `closure_confirmation:${code}`,
        label: `${name}：闭环确认率`,
        value: rate((figures) => (figures.closure_confirmation.by_department[code] || {}).rate),
      },
      {
        key: `deadline_escalation:${code}`,
        label: `${name}：时限升级率`,
        value: rate((figures) => (figures.deadline_escalation.by_department[code] || {}).rate),
      },
    ]),
    { section: "满意度回访" },
    { key: "survey_responses", label: "回访数", value: (figures) => countText(figures.survey.responses) },
    ...SURVEY_SCORES.map(([field, name]) => ({
      key: `survey:${field}`,
      label: `${name}（平均分）`,
      value: (figures) => fixed(figures.survey[field], 2),
    })),
    { section: "模型建议（已审核工单中建议被保留的比例）" },
    { key: "reviewed", label: "已审核工单", value: (figures) => countText(figures.reviewed) },
    ...ACCURACY_HEADS.map(([head, name]) => ({
      key: `accuracy:${head}`,
      label: `${name}准确率`,
      value: rate((figures) => figures.live_accuracy[head]),
    })),
    { key: "autofilled_share", label: "免审核占比", value: rate((figures) => figures.autofilled_share) },
  ];
}

/** The tickets of one code of a volume (`tier`, `category`, `department`): the API lists only the codes it saw. */
function volumeOf(column, code) {
  return (figures) => countText((figures.volume[column] || {})[code] || 0);
}

/** A row per tier with the breach rate of one SLA (`first_response`, `resolution`). */
function slaRows(tiers, sla, label) {
  return tiers.map((tier) => ({
    key: `${sla}_breach:${tier.code}`,
    label: `${label}：${shortName(tier)}`,
    value: (figures) => percent(((figures.sla[sla] || {})[tier.code] || {}).breach_rate),
  }));
}

// --------------------------------------------------------------------------------- chart

/** An SVG element with attributes and children (text or nodes). */
function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

/** Stacked bars of each period's tickets by tier (the most urgent at the bottom), the count above
 * each bar; every segment has a title (its period, tier and count). The numbers are in the table too. */
function volumeChart(periods, tiers) {
  const [width, height, left, top, bottom] = [640, 220, 8, 18, 24];
  const most = Math.max(1, ...periods.map((period) => period.tickets));
  const scale = (height - top - bottom) / most;
  const slot = (width - left) / Math.max(1, periods.length);
  const barWidth = Math.min(44, slot * 0.6);
  const summary = periods.map((period) => `${period.period} ${period.tickets} 张`).join("，");
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `各周期工单量：${summary}` });
  chart.append(svg("line", { x1: left, x2: width, y1: height - bottom, y2: height - bottom, stroke: "#adb5bd" }));
  periods.forEach((period, index) => {
    const x = left + index * slot + (slot - barWidth) / 2;
    chart.append(...barSegments(period, tiers, { x, base: height - bottom, width: barWidth, scale }));
    const middle = x + barWidth / 2;
    chart.append(svg("text", { x: middle, y: height - 8, "text-anchor": "middle" }, periodLabel(period)));
    const total = height - bottom - period.tickets * scale - 4;
    chart.append(svg("text", { x: middle, y: total, "text-anchor": "middle", class: "bar-total" }, String(period.tickets)));
  });
  return chart;
}

/** The rectangles of one period's bar, a tier each, stacked upwards from `base`. */
function barSegments(period, tiers, { x, base, width, scale }) {
  let y = base;
  const segments = [];
  tiers.forEach((tier, index) => {
    const count = (period.volume.tier || {})[tier.code] || 0;
    if (!count) return;
    y -= count * scale;
    const title = svg("title", {}, `${period.period}（${periodDays(period)}）${shortName(tier)}：${count} 张`);
    const colour = TIER_COLOURS[index % TIER_COLOURS.length];
    segments.push(svg("rect", { x, y, width, height: count * scale, fill: colour, "data-period": period.period, "data-tier": tier.code }, title));
  });
  return segments;
}

// --------------------------------------------------------------------------------- drift

/** The drift line: whether retraining is recommended for the range, the Jensen–Shannon distance of
 * each head's class mix against the training data and the out-of-vocabulary rate; or why it could not be read. */
function renderDrift(result) {
  const line = $("stats-drift");
  line.hidden = false;
  if (result.status === "rejected" || result.value === null) {
    line.className = "drift retrain";
    line.textContent = result.status === "rejected" ? failureText("读取模型漂移", result.reason) : "";
    line.hidden = result.status !== "rejected";
    return;
  }
  const drift = result.value.data;
  const verdict = drift.retrain_recommended ? "建议重新训练" : "暂不需要重新训练";
  const enough = drift.enough_tickets ? "" : `（工单不足 ${drift.min_tickets} 张，仅供参考）`;
  const parts = Object.entries(drift.heads).map(([head, figures]) => headDrift(head, figures, drift.js_threshold));
  parts.push(vocabularyDrift(drift.out_of_vocabulary));
  line.className = drift.retrain_recommended ? "drift retrain" : "drift";
  line.dataset.retrain = String(drift.retrain_recommended);
  line.textContent = `模型漂移（模型 ${drift.model_version}，${drift.tickets} 张工单）：${verdict}${enough}。${parts.join("；")}。`;
}

/** "子类分布 JS 距离 0.123（超过阈值 0.2）" for one head of the drift answer ("—" and why, when the
 * model recorded no class mix of its training data). */
function headDrift(head, figures, threshold) {
  const name = DRIFT_HEAD_NAMES[head] || head;
  const over = figures.drifted ? `（超过阈值 ${threshold}）` : "";
  const unknown = figures.training ? "" : "（模型未记录训练数据的分布，无法比较）";
  return `${name}分布 JS 距离 ${fixed(figures.js_distance, 3)}${over}${unknown}`;
}

/** "词表外比例 3.1%（训练时 2.5%）" of the drift answer's vocabulary part. */
function vocabularyDrift(vocabulary) {
  const over = vocabulary.drifted ? "，超出允许范围" : "";
  return `词表外比例 ${percent(vocabulary.rate)}（训练时 ${percent(vocabulary.reference)}${over}）`;
}

// ---------------------------------------------------------------------------------- export

/** A cell as a spreadsheet shows it as text: an apostrophe before what would start a formula (as
 * `triage export` writes its cells, training/spreadsheet.py), quoted when it holds a comma, a
 * quote or a line end. */
function csvCell(text) {
  const value = /^'*[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The table shown, as CSV: the header (each period with its days), a line per figure, a section's
 * heading on a line of its own; UTF-8 with a byte-order mark, which Excel needs to read Chinese. */
function statisticsCsv() {
  const lines = [];
  for (const row of [...$("stats-head").rows, ...$("stats-body").rows]) {
    const cells = Array.from(row.cells, (cell) => {
      const dates = cell.querySelector(".period-dates");
      return dates ? `${cell.firstChild.textContent} (${dates.textContent})` : cell.textContent;
    });
    lines.push(cells.map(csvCell).join(","));
  }
  return "\ufeff" + lines.join("\r\n") + "\r\n";
}

/** Download the table shown as a CSV file named after its range and grouping. */
function exportStatistics() {
  const url = URL.createObjectURL(new Blob([statisticsCsv()], { type: "text/csv;charset=utf-8" }));
  const link = el("a", { href: url, download: $("stats-export").dataset.file });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

// ---------------------------------------------------------------------------------- wire

/** The form: a preset reads its range at once; changed days or grouping make the range 自定义,
 * read with 查询. */
function wireStatistics() {
  $("stats-range").addEventListener("change", () => {
    if ($("stats-range").value !== "custom") loadStatistics();
  });
  for (const id of ["stats-from", "stats-to", "stats-group"]) {
    $(id).addEventListener("change", () => ($("stats-range").value = "custom"));
  }
  $("stats-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadStatistics();
  });
  $("stats-export").addEventListener("click", exportStatistics);
}

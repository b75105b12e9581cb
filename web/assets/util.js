// What every page of the console shares: building elements, calling the
// API, and showing times in the site's time zone.
import { t } from './i18n.js';

// h('p', {class: 'x', onclick: f}, 'text', child...): an element.  Text is
// always a text node, never parsed as HTML, so nothing from the API can
// become markup.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = { csrf: '', user: '', role: 'viewer', onUnauthorized: null };

// Calls the API: JSON in, JSON out, the CSRF token on every request that
// changes something, {"error": msg} turned into an ApiError.
export async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = session.csrf;
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = null;
  const text = await r.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (!r.ok) {
    const msg = (data && data.error) || r.statusText || String(r.status);
    if (r.status === 401 && session.onUnauthorized && path !== '/api/login') session.onUnauthorized();
    throw new ApiError(r.status, msg);
  }
  return data;
}

export function roleAtLeast(need) {
  const order = ['viewer', 'operator', 'admin'];
  return order.indexOf(session.role) >= order.indexOf(need);
}

// ---- time -----------------------------------------------------------------

// The site's zone: its IANA name when the browser knows it (the offset then
// follows daylight saving), else the fixed offset /api/me gave.
const zone = { name: null, offsetS: 0, fmt: null };

export function setZone(name, offsetS) {
  zone.offsetS = Number(offsetS) || 0;
  zone.name = null;
  zone.fmt = null;
  if (name) {
    try {
      zone.fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: name, timeZoneName: 'longOffset', hourCycle: 'h23',
        year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: '2-digit',
      });
      zone.name = name;
    } catch (e) {
      zone.fmt = null;
    }
  }
}

export function zoneName() {
  return zone.name || 'UTC' + offsetText(zone.offsetS * 1000);
}

// The zone's offset from UTC at instant ms, in ms.
export function offsetAt(ms) {
  if (!zone.fmt) return zone.offsetS * 1000;
  const part = zone.fmt.formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName');
  const m = part && /GMT([+-])(\d\d):(\d\d)/.exec(part.value);
  if (!m) return 0; // "GMT": the offset is zero
  const v = (Number(m[2]) * 60 + Number(m[3])) * 60000;
  return m[1] === '-' ? -v : v;
}

export function offsetText(off) {
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(Math.round(off / 60000));
  return sign + pad(Math.floor(a / 60)) + ':' + pad(a % 60);
}

function pad(n, w = 2) {
  return String(n).padStart(w, '0');
}

// The wall-clock fields of instant ms in the site's zone.
export function fields(ms) {
  const off = offsetAt(ms);
  const d = new Date(ms + off);
  return {
    y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(),
    h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds(), off,
  };
}

// "2026-11-02 14:00:05 +08:00" (the offset only when asked)
export function fmtTime(ms, opts = {}) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  const f = fields(ms);
  let s = f.y + '-' + pad(f.mo) + '-' + pad(f.d);
  if (!opts.dateOnly) s += ' ' + pad(f.h) + ':' + pad(f.mi) + (opts.noSeconds ? '' : ':' + pad(f.s));
  if (opts.offset !== false && !opts.dateOnly) s += ' ' + offsetText(f.off);
  return s;
}

export function fmtClock(ms) {
  const f = fields(ms);
  return pad(f.h) + ':' + pad(f.mi) + ':' + pad(f.s);
}

// The value of an <input type="datetime-local" step="1"> for instant ms.
export function toInput(ms) {
  const f = fields(ms);
  return f.y + '-' + pad(f.mo) + '-' + pad(f.d) + 'T' + pad(f.h) + ':' + pad(f.mi) + ':' + pad(f.s);
}

// The instant that wall-clock fields mean in the site's zone; the offset is
// looked up twice, so a time next to a daylight-saving change lands right.
export function fromFields(y, mo, d, hh = 0, mi = 0, s = 0) {
  const naive = Date.UTC(y, mo - 1, d, hh, mi, s);
  let ms = naive - offsetAt(naive);
  ms = naive - offsetAt(ms);
  return ms;
}

export function fromInput(value) {
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d))?)?/.exec(value || '');
  if (!m) return NaN;
  return fromFields(+m[1], +m[2], +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0));
}

// The start of the site's day that holds ms.
export function dayStart(ms) {
  const f = fields(ms);
  return fromFields(f.y, f.mo, f.d);
}

export function parseTime(s) {
  if (!s) return null;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? null : ms;
}

// RFC 3339 UTC, whole seconds: what every API parameter accepts.
export function rfc(ms) {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return t('dur.s', s);
  const m = Math.floor(s / 60);
  if (m < 120) return t('dur.m', m);
  const hh = Math.floor(m / 60);
  if (hh < 48) return t('dur.h', hh, m % 60);
  return t('dur.d', Math.floor(hh / 24), hh % 24);
}

// A message line that says what happened; role=status so a screen reader
// hears it.
export function notice(el, text, kind = 'info') {
  el.textContent = text;
  el.className = 'notice ' + kind;
  el.hidden = !text;
}

export function label(text, input) {
  const id = input.id || 'f' + Math.random().toString(36).slice(2, 9);
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, text), input);
}

export function table(headers, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows)));
}

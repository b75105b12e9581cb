// Footage playback and the timeline strip.
//
// The player gives a <video> the URL of video.mp4 from the asked time, so
// Chromium plays the fragmented MP4 itself and no media library is needed.
// The server answers from the keyframe at or before `from` and says which
// instant the file starts at (X-Vigil-Start) and why it stops
// (X-Vigil-End-Reason); a small ranged request reads those headers first,
// so the page knows the wall-clock time of every video frame.  At a gap the
// video ends, and the player asks again from the next recorded span.
import { t } from './i18n.js';
import { h, api, rfc, parseTime, fmtTime, fmtClock } from './util.js';

export const REASON_COLOURS = {
  'camera-unreachable': '#e65100',
  'stream-stalled': '#f9a825',
  'stream-error': '#ad1457',
  'recorder-down': '#5d4037',
  'storage-error': '#6a1b9a',
  'storage-full': '#283593',
  'recovered-partial': '#00838f',
  'deleted': '#37474f',
  'not-recording': '#bdbdbd',
  'unaccounted': '#c62828',
  'other': '#880e4f',
};
export const RECORDED_COLOUR = '#3c9a52';

export function reasonColour(reason) {
  return REASON_COLOURS[reason] || REASON_COLOURS.other;
}

export function reasonText(reason) {
  const s = t('reason.' + reason);
  return s === 'reason.' + reason ? reason || t('reason.other') : s;
}

// GET spans of a camera, with times as ms.
export async function fetchSpans(camera, from, to) {
  const q = '?from=' + encodeURIComponent(rfc(from)) + '&to=' + encodeURIComponent(rfc(to));
  const d = await api('GET', '/api/cameras/' + encodeURIComponent(camera) + '/spans' + q);
  const conv = (x) => Object.assign({}, x, {
    start: parseTime(x.start), end: x.end ? parseTime(x.end) : to,
  });
  return {
    from, to,
    spans: (d.spans || []).map(conv),
    gaps: (d.gaps || []).map(conv),
    holds: (d.holds || []).map(conv),
    deletions: (d.deletions || []).map(conv),
  };
}

// Where ms falls: {span} when inside recorded footage, {gap, next} when not
// (next: the first span starting after ms, or null).
export function locate(data, ms) {
  const tol = 500;
  for (const s of data.spans) {
    if (ms >= s.start - tol && ms < s.end - tol) return { span: s };
  }
  const next = data.spans.filter((s) => s.start > ms - tol).sort((a, b) => a.start - b.start)[0] || null;
  const gap = data.gaps.find((g) => ms >= g.start && ms < g.end) || null;
  return { gap, next };
}

// Reads the X-Vigil-* headers of a footage URL with a one-byte ranged
// request, aborted once the headers are in (live.mp4 never ends).
async function footageHeaders(url) {
  const ctl = new AbortController();
  try {
    const r = await fetch(url, { headers: { Range: 'bytes=0-0' }, signal: ctl.signal, credentials: 'same-origin' });
    const hd = {
      ok: r.ok, status: r.status,
      start: parseTime(r.headers.get('X-Vigil-Start')),
      end: parseTime(r.headers.get('X-Vigil-End')),
      reason: r.headers.get('X-Vigil-End-Reason'),
      codec: r.headers.get('X-Vigil-Codec'),
    };
    if (!r.ok) {
      try {
        hd.error = (await r.json()).error;
      } catch (e) {
        hd.error = r.statusText;
      }
    }
    ctl.abort();
    return hd;
  } catch (e) {
    ctl.abort();
    return { ok: false, error: String(e) };
  }
}

// One camera's player around a <video>.  onstatus(text, kind) says what it
// is doing; wall() is the wall-clock instant of the frame shown, or null.
export class Player {
  constructor(video, camera, opts = {}) {
    this.video = video;
    this.camera = camera;
    this.spans = opts.spans || null; // the strip's data, for the next span after a gap
    this.onstatus = opts.onstatus || (() => {});
    this.base = null; // wall-clock ms at video time 0
    this.loaded = null; // {start, end, reason} of the current file
    this.live = false;
    this.token = 0;
    video.addEventListener('ended', () => this.ended());
    video.addEventListener('error', () => {
      const e = video.error;
      if (e && video.getAttribute('src')) this.onstatus(t('play.failed', e.message || e.code), 'error');
    });
  }

  wall() {
    if (this.base === null) return null;
    return this.base + this.video.currentTime * 1000;
  }

  // Whether ms is inside the file now loaded, so a seek is enough.
  holds(ms) {
    return !this.live && this.loaded && this.loaded.start !== null &&
      ms >= this.loaded.start && this.loaded.end !== null && ms < this.loaded.end - 200;
  }

  // Plays from ms; inside a gap, from the next recorded span.
  async playFrom(ms, autoplay = true) {
    if (this.spans) {
      const where = locate(this.spans, ms);
      if (!where.span) {
        if (!where.next) {
          this.onstatus(t('tl.nofootage'), 'info');
          return false;
        }
        ms = where.next.start;
      }
    }
    if (this.holds(ms)) {
      this.video.currentTime = (ms - this.base) / 1000;
      if (autoplay) this.video.play().catch(() => {});
      return true;
    }
    const token = ++this.token;
    this.live = false;
    const url = '/api/cameras/' + encodeURIComponent(this.camera) + '/video.mp4?from=' +
      encodeURIComponent(rfc(ms)) + '&to=' + encodeURIComponent(rfc(ms + 3600 * 1000));
    this.onstatus(t('play.waiting'), 'info');
    const hd = await footageHeaders(url);
    if (token !== this.token) return false;
    if (!hd.ok) {
      this.onstatus(t('play.failed', hd.error || hd.status), 'error');
      return false;
    }
    this.loaded = { start: hd.start, end: hd.end, reason: hd.reason, codec: hd.codec };
    this.base = hd.start !== null ? hd.start : ms;
    this.video.dataset.start = hd.start !== null ? rfc(hd.start) : '';
    this.video.dataset.end = hd.end !== null ? rfc(hd.end) : '';
    this.video.dataset.endReason = hd.reason || '';
    const offset = Math.max(0, (ms - this.base) / 1000);
    await new Promise((resolve) => {
      const done = () => {
        this.video.removeEventListener('loadedmetadata', done);
        this.video.removeEventListener('error', done);
        resolve();
      };
      this.video.addEventListener('loadedmetadata', done);
      this.video.addEventListener('error', done);
      this.video.src = url;
    });
    if (token !== this.token || this.video.error) return false;
    if (offset > 0.05) this.video.currentTime = offset;
    if (autoplay) this.video.play().catch(() => {});
    this.onstatus('', 'info');
    return true;
  }

  async playLive() {
    const token = ++this.token;
    const url = '/api/cameras/' + encodeURIComponent(this.camera) + '/live.mp4';
    this.onstatus(t('play.waiting'), 'info');
    const hd = await footageHeaders(url);
    if (token !== this.token) return;
    if (!hd.ok) {
      this.onstatus(t('play.failed', hd.error || hd.status), 'error');
      return;
    }
    this.live = true;
    this.loaded = null;
    this.base = hd.start;
    this.video.dataset.start = hd.start !== null ? rfc(hd.start) : '';
    this.video.src = url;
    this.video.play().catch(() => {});
    this.onstatus('', 'info');
  }

  stop() {
    this.token++;
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
    this.base = null;
    this.loaded = null;
    this.live = false;
  }

  // The file stopped: at a gap, a format change or the asked end.  Go on
  // from where it stopped, or from the next span when that is a gap.
  async ended() {
    if (this.live) return;
    const at = this.loaded && this.loaded.end !== null ? this.loaded.end : this.wall();
    if (at === null) return;
    const prev = this.loaded ? this.loaded.start : null;
    if (this.spans && this.loaded && this.loaded.reason !== 'gap') {
      // the footage may have grown since the strip was drawn
      try {
        const fresh = await fetchSpans(this.camera, this.spans.from, Math.max(this.spans.to, Date.now()));
        Object.assign(this.spans, fresh, { from: this.spans.from });
      } catch (e) { /* keep what we have */ }
    }
    let next = at;
    if (this.spans) {
      const where = locate(this.spans, at);
      if (!where.span) {
        if (!where.next) {
          this.onstatus(t('play.ended'), 'info');
          return;
        }
        next = where.next.start;
      }
    }
    if (prev !== null && next <= prev) {
      this.onstatus(t('play.ended'), 'info');
      return;
    }
    this.loaded = null;
    await this.playFrom(next, true);
  }
}

// ---- the strip -------------------------------------------------------------

// A horizontal strip of [from, to): recorded spans green, gaps in their
// reason's colour, holds as a band above, deletions hatched below, a
// playhead, and a keyboard cursor.  onpick(ms) is called on click, at the
// end of a drag and on Enter; onscrub(ms) while dragging.
export class Strip {
  constructor(opts) {
    this.onpick = opts.onpick;
    this.onscrub = opts.onscrub || (() => {});
    this.onkey = opts.onkey || (() => false);
    this.cursor = null;
    this.data = null;
    this.el = h('div', {
      class: 'strip', id: opts.id || 'strip', tabindex: '0', role: 'slider',
      'aria-valuemin': '0', 'aria-valuemax': '100',
    });
    this.tip = h('div', { class: 'strip-tip', id: 'strip-tip', 'aria-hidden': 'true', hidden: true });
    this.axis = h('div', { class: 'strip-axis', 'aria-hidden': 'true' });
    this.root = h('div', { class: 'strip-box' }, this.el, this.tip, this.axis);
    this.bind();
  }

  x2ms(clientX) {
    const b = this.el.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - b.left) / b.width));
    return this.data.from + f * (this.data.to - this.data.from);
  }

  pct(ms) {
    return ((ms - this.data.from) / (this.data.to - this.data.from)) * 100;
  }

  bind() {
    let dragging = false;
    this.el.addEventListener('pointerdown', (e) => {
      if (!this.data || e.button !== 0) return;
      dragging = true;
      this.el.setPointerCapture(e.pointerId);
      this.setCursor(this.x2ms(e.clientX), e.clientX);
      this.el.focus();
      e.preventDefault();
    });
    this.el.addEventListener('pointermove', (e) => {
      if (!this.data) return;
      const ms = this.x2ms(e.clientX);
      if (dragging) {
        this.setCursor(ms, e.clientX);
        this.onscrub(ms);
      } else {
        this.showTip(ms, e.clientX);
      }
    });
    const finish = (e) => {
      if (!dragging) return;
      dragging = false;
      this.tip.hidden = true;
      this.setCursor(this.x2ms(e.clientX));
      this.onpick(this.cursor);
    };
    this.el.addEventListener('pointerup', finish);
    this.el.addEventListener('pointercancel', () => { dragging = false; this.tip.hidden = true; });
    this.el.addEventListener('pointerleave', () => { if (!dragging) this.tip.hidden = true; });
    this.el.addEventListener('keydown', (e) => {
      if (!this.data) return;
      const len = this.data.to - this.data.from;
      const cur = this.cursor === null ? this.data.from : this.cursor;
      const step = e.shiftKey ? len / 10 : len / 100;
      let handled = true;
      switch (e.key) {
        case 'ArrowLeft': this.setCursor(cur - step); break;
        case 'ArrowRight': this.setCursor(cur + step); break;
        case 'Home': this.setCursor(this.data.from); break;
        case 'End': this.setCursor(this.data.to - 1000); break;
        case 'Enter': this.onpick(cur); break;
        default: handled = this.onkey(e);
      }
      if (handled) e.preventDefault();
    });
  }

  showTip(ms, clientX) {
    const b = this.el.getBoundingClientRect();
    this.tip.hidden = false;
    this.tip.textContent = fmtTime(ms, { offset: false });
    this.tip.style.left = Math.max(0, Math.min(b.width - 120, clientX - b.left - 60)) + 'px';
  }

  setCursor(ms, clientX) {
    if (!this.data) return;
    ms = Math.min(this.data.to - 1, Math.max(this.data.from, ms));
    this.cursor = ms;
    this.cursorEl.hidden = false;
    this.cursorEl.style.left = this.pct(ms) + '%';
    this.el.setAttribute('aria-valuenow', String(Math.round(this.pct(ms))));
    this.el.setAttribute('aria-valuetext', fmtTime(ms));
    this.el.dataset.cursor = rfc(ms);
    if (clientX !== undefined) this.showTip(ms, clientX);
    if (this.oncursor) this.oncursor(ms);
  }

  setPlayhead(ms) {
    if (!this.data || ms === null || ms < this.data.from || ms > this.data.to) {
      if (this.playEl) this.playEl.hidden = true;
      return;
    }
    this.playEl.hidden = false;
    this.playEl.style.left = this.pct(ms) + '%';
  }

  // Draws data ({from, to, spans, gaps, holds, deletions}); now: nothing
  // after it is footage yet.
  draw(data, now, ariaLabel) {
    this.data = data;
    this.el.replaceChildren();
    this.el.setAttribute('aria-label', ariaLabel || '');
    const add = (cls, a, b, attrs = {}) => {
      const l = Math.max(0, this.pct(a));
      const r = Math.min(100, this.pct(b));
      if (r <= 0 || l >= 100) return null;
      const el = h('div', Object.assign({ class: cls }, attrs));
      el.style.left = l + '%';
      el.style.width = Math.max(0, r - l) + '%';
      this.el.append(el);
      return el;
    };
    if (now < data.to) add('seg future', Math.max(now, data.from), data.to, { title: t('tl.future') });
    for (const s of data.spans) {
      add('seg span', s.start, s.end, { dataset: { start: rfc(s.start), end: rfc(s.end) } });
    }
    for (const g of data.gaps) {
      const el = add('seg gap', g.start, g.end, {
        title: reasonText(g.reason) + ' ' + fmtTime(g.start) + ' – ' + fmtTime(g.end) + (g.detail ? ' (' + g.detail + ')' : ''),
        dataset: { reason: g.reason || '', start: rfc(g.start), end: rfc(g.end) },
      });
      if (el) el.style.backgroundColor = reasonColour(g.reason);
    }
    for (const d of data.deletions) {
      add('seg deletion', d.start, d.end, {
        title: t('tl.deletion') + ': ' + (d.reason || ''),
        dataset: { reason: d.reason || '', start: rfc(d.start), end: rfc(d.end) },
      });
    }
    for (const x of data.holds) {
      add('seg hold', x.start, x.end, {
        title: t('tl.hold') + ' ' + (x.id !== undefined ? '#' + x.id + ' ' : '') + (x.reason || ''),
        dataset: { hold: x.id !== undefined ? String(x.id) : '', start: rfc(x.start), end: rfc(x.end) },
      });
    }
    this.cursorEl = h('div', { class: 'cursor', hidden: true });
    this.playEl = h('div', { class: 'playhead', id: 'playhead', hidden: true });
    this.el.append(this.cursorEl, this.playEl);
    this.drawAxis();
    if (this.cursor !== null && this.cursor >= data.from && this.cursor < data.to) this.setCursor(this.cursor);
  }

  drawAxis() {
    this.axis.replaceChildren();
    const len = this.data.to - this.data.from;
    const n = 6;
    for (let i = 0; i <= n; i++) {
      const ms = this.data.from + (len * i) / n;
      const txt = len <= 2 * 86400000 ? fmtClock(ms).slice(0, 5) : fmtTime(ms, { dateOnly: true }).slice(5);
      const el = h('span', {}, txt);
      el.style.left = (i * 100) / n + '%';
      this.axis.append(el);
    }
  }
}

export function legend() {
  const item = (colour, text, cls) => {
    const sw = h('span', { class: 'swatch ' + (cls || '') });
    if (colour) sw.style.backgroundColor = colour;
    return h('li', {}, sw, text);
  };
  const reasons = ['camera-unreachable', 'stream-stalled', 'stream-error', 'recorder-down',
    'storage-error', 'storage-full', 'recovered-partial', 'unaccounted'];
  return h('ul', { class: 'legend', 'aria-label': t('tl.range') },
    item(RECORDED_COLOUR, t('tl.recorded')),
    reasons.map((r) => item(reasonColour(r), reasonText(r))),
    item(null, t('tl.hold'), 'hold'),
    item(null, t('tl.deletion'), 'deletion'),
    item(null, t('tl.future'), 'future'));
}

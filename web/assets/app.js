// The console: one page, a view per location hash (#/cameras,
// #/camera/ID, #/export, ...).  It asks /api/me first; a 401 shows the
// login form.  Plain modules, no framework, no build step.
import { t, setLanguage, language, pickLanguage, LANGUAGES } from './i18n.js';
import {
  h, api, session, roleAtLeast, setZone, zoneName, offsetAt, offsetText, fmtTime, fmtDuration,
  toInput, fromInput, dayStart, parseTime, rfc, notice, label, table,
} from './util.js';
import { Player, Strip, fetchSpans, legend, locate, reasonText, reasonColour } from './player.js';

const main = document.getElementById('main');
let cameras = [];
let cleanup = []; // what the current view stops when another replaces it
let me = null;

session.onUnauthorized = () => {
  me = null;
  showLogin();
};

function chooseLanguage() {
  const prefs = [me && me.language].concat(navigator.languages || [navigator.language]);
  setLanguage(pickLanguage(prefs));
}

function leaveView() {
  for (const f of cleanup) {
    try {
      f();
    } catch (e) { /* the view is going anyway */ }
  }
  cleanup = [];
}

function errorBox(e) {
  return h('p', { class: 'notice error', role: 'alert' }, t('error', e.message || e));
}

// ---- frame: header, navigation, language ------------------------------------

function drawHeader() {
  document.title = t('app.title');
  document.getElementById('skip').textContent = t('skip');
  const top = document.getElementById('top');
  top.replaceChildren();
  const links = [['cameras', 'nav.cameras'], ['multi', 'nav.multi'], ['tickets', 'nav.tickets'],
    ['holds', 'nav.holds']];
  if (roleAtLeast('operator')) links.push(['export', 'nav.export']);
  links.push(['reports', 'nav.reports'], ['recorders', 'nav.recorders']);
  if (roleAtLeast('admin')) links.push(['users', 'nav.users'], ['access', 'nav.access']);
  const here = (location.hash.split('/')[1] || 'cameras').split('?')[0];
  const nav = h('nav', { 'aria-label': t('nav.label') },
    h('ul', {}, links.map(([k, key]) => h('li', {},
      h('a', { href: '#/' + k, id: 'nav-' + k, 'aria-current': here === k ? 'page' : false }, t(key))))));
  const sel = h('select', { id: 'lang-select', 'aria-label': t('language'), title: t('language') },
    h('option', { value: '' }, t('lang.auto')),
    LANGUAGES.map(([v, name]) => h('option', { value: v }, name)));
  sel.value = (me && me.language) || '';
  sel.addEventListener('change', async () => {
    try {
      me = Object.assign(me, await api('POST', '/api/me', { language: sel.value }));
    } catch (e) {
      me.language = sel.value; // not saved; this page still follows it
    }
    chooseLanguage();
    route();
  });
  const off = offsetText(offsetAt(Date.now()));
  top.append(
    h('a', { class: 'brand', href: '#/cameras' }, 'vigil'),
    nav,
    h('div', { class: 'who' },
      me ? h('span', { id: 'who' }, t('signed.in', me.user, t('role.' + me.role))) : null,
      h('span', { class: 'tz', id: 'tz-note' }, t('tz.note', zoneName(), off)),
      sel,
      me ? h('button', { id: 'logout', type: 'button', onclick: logout }, t('logout')) : null));
  top.hidden = false;
}

async function logout() {
  try {
    await api('POST', '/api/logout');
  } catch (e) { /* the session is gone either way */ }
  me = null;
  showLogin();
}

// ---- login --------------------------------------------------------------------

function showLogin() {
  leaveView();
  chooseLanguage();
  document.title = t('login.title') + ' — vigil';
  document.getElementById('skip').textContent = t('skip');
  document.getElementById('top').hidden = true;
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('p', { id: 'login-error', role: 'alert', hidden: true });
  const form = h('form', { id: 'login-form', class: 'login' },
    h('h1', {}, t('login.title')),
    label(t('login.user'), user), label(t('login.password'), pass),
    h('button', { id: 'login-submit', type: 'submit' }, t('login.submit')), msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('POST', '/api/login', { user: user.value, password: pass.value });
      session.csrf = r.csrf;
      await start();
    } catch (err) {
      notice(msg, t('login.failed', err.message), 'error');
      pass.value = '';
      pass.focus();
    }
  });
  main.replaceChildren(form);
  user.focus();
}

// ---- cameras ------------------------------------------------------------------

function stateBadge(state) {
  const s = state || 'unknown';
  const txt = t('state.' + s);
  return h('span', { class: 'badge state-' + s, dataset: { state: s } }, txt === 'state.' + s ? s : txt);
}

async function loadCameras() {
  cameras = await api('GET', '/api/cameras');
  return cameras;
}

async function viewCameras() {
  main.replaceChildren(h('h1', {}, t('cameras.title')), h('p', {}, t('loading')));
  const list = await loadCameras();
  const now = Date.now();
  const rows = list.map((c) => {
    const last = parseTime(c.last_footage);
    const tk = c.open_ticket;
    const tkText = tk && typeof tk === 'object' ? '#' + tk.id + ' ' + t('tickets.level', tk.level) : tk ? '#' + tk : '';
    return h('tr', { dataset: { camera: c.id } },
      h('th', { scope: 'row' }, h('a', { href: '#/camera/' + encodeURIComponent(c.id), class: 'cam-link' }, c.id)),
      h('td', {}, c.location || ''), h('td', {}, c.site || ''),
      h('td', {}, stateBadge(c.state), c.down_reason ? [h('br'), h('small', {}, reasonText(c.down_reason) +
        (c.down_since ? ', ' + t('ago', fmtDuration(now - parseTime(c.down_since))) : ''))] : null),
      h('td', {}, [c.codec, c.width && c.height ? c.width + '×' + c.height : ''].filter(Boolean).join(' ')),
      h('td', {}, last ? [fmtTime(last), h('br'), h('small', {}, t('ago', fmtDuration(now - last)))] : '—'),
      h('td', {}, tk ? h('a', { href: '#/tickets', class: 'ticket-link' }, tkText) : ''),
      h('td', {}, h('a', { href: '#/camera/' + encodeURIComponent(c.id) + '?live=1', class: 'button small' }, t('live'))));
  });
  main.replaceChildren(h('h1', {}, t('cameras.title')),
    list.length ? table([t('col.camera'), t('col.location'), t('col.site'), t('col.state'), t('col.video'),
      t('col.last'), t('col.ticket'), t('col.actions')], rows, { id: 'cameras-table' }) : h('p', {}, t('cameras.empty')));
  const timer = setInterval(() => {
    if (!document.hidden) viewCameras().catch(() => {});
  }, 15000);
  cleanup.push(() => clearInterval(timer));
}

// ---- one camera: timeline and player -------------------------------------------

const RANGES = { hour: 3600e3, day: 86400e3, week: 7 * 86400e3, '90': 90 * 86400e3 };
const RANGE_ORDER = ['hour', 'day', 'week', '90'];

// The window of a range that holds ms: aligned to the site's hour or day.
function windowOf(range, ms) {
  if (range === 'hour') {
    // three quarters before the instant, a quarter after, on whole 5 minutes
    // of the site's clock: the recent past of "now" fills most of the strip
    const off = offsetAt(ms);
    const s = Math.floor((ms - 45 * 60e3 + off) / 300e3) * 300e3 - off;
    return [s, s + RANGES.hour];
  }
  if (range === 'day') {
    const s = dayStart(ms);
    return [s, dayStart(s + 36 * 3600e3)];
  }
  const end = dayStart(dayStart(ms) + 36 * 3600e3);
  return [end - RANGES[range], end];
}

function query() {
  const q = location.hash.split('?')[1] || '';
  return new URLSearchParams(q);
}

async function viewCamera(id) {
  if (!cameras.length) await loadCameras();
  const cam = cameras.find((c) => c.id === id);
  const q = query();
  let range = q.get('range') in RANGES ? q.get('range') : 'hour';
  let centre = parseTime(q.get('t')) || Date.now();

  const status = h('p', { id: 'player-status', class: 'notice', role: 'status', hidden: true });
  const video = h('video', { id: 'video', controls: true, muted: true, playsinline: true, preload: 'auto' });
  video.muted = true;
  const playTime = h('p', { id: 'play-time', class: 'play-time', 'aria-live': 'off' }, t('play.stopped'));
  const cursorText = h('p', { id: 'cursor-time', class: 'cursor-time' });
  const summary = h('p', { id: 'strip-summary', class: 'summary' });
  const rangeBtns = RANGE_ORDER.map((r) => h('button', { type: 'button', dataset: { range: r }, class: 'range-btn' },
    t(r === '90' ? 'tl.90' : 'tl.' + r)));
  const prev = h('button', { type: 'button', id: 'tl-prev' }, '← ' + t('tl.prev'));
  const next = h('button', { type: 'button', id: 'tl-next' }, t('tl.next') + ' →');
  const nowBtn = h('button', { type: 'button', id: 'tl-now' }, t('tl.now'));
  const liveBtn = h('button', { type: 'button', id: 'live-btn' }, t('live'));
  const goto = h('input', { id: 'goto-time', type: 'datetime-local', step: '1' });
  const gotoBtn = h('button', { type: 'button', id: 'goto-play' }, t('tl.play'));

  const player = new Player(video, id, { onstatus: (txt, kind) => notice(status, txt, kind) });
  const strip = new Strip({
    onpick: (ms) => play(ms),
    onscrub: (ms) => {
      if (player.holds(ms)) video.currentTime = (ms - player.base) / 1000;
    },
    onkey: (e) => {
      if (e.key === 'PageUp') shift(-1);
      else if (e.key === 'PageDown') shift(1);
      else if (e.key === '+' || e.key === '=') zoom(-1);
      else if (e.key === '-') zoom(1);
      else if (e.key === ' ') {
        if (video.paused) video.play().catch(() => {});
        else video.pause();
      } else return false;
      return true;
    },
  });
  strip.oncursor = (ms) => {
    cursorText.textContent = t('tl.cursor', fmtTime(ms));
    goto.value = toInput(ms);
  };

  const exportLink = h('a', { id: 'export-link', class: 'button', href: '#/export' }, t('nav.export'));
  main.replaceChildren(
    h('h1', {}, t('timeline') + ': ' + id, cam && cam.location ? h('small', {}, ' — ' + cam.location) : null),
    h('div', { class: 'toolbar', role: 'group', 'aria-label': t('tl.range') }, rangeBtns, prev, nowBtn, next),
    strip.root, legend(),
    h('div', { class: 'player-row' },
      h('div', {}, h('div', { class: 'video-box' }, video), playTime),
      // the controls come first: the status lines below them change as
      // footage loads, and must not move a button under the pointer
      h('div', { class: 'side' },
        h('div', { class: 'toolbar' }, label(t('tl.goto'), goto), gotoBtn),
        h('div', { class: 'toolbar' }, liveBtn, roleAtLeast('operator') ? exportLink : null),
        status, summary, cursorText,
        h('p', { class: 'help' }, t('tl.keys')))));

  let data = null;
  async function load() {
    const [from, to] = windowOf(range, centre);
    for (const b of rangeBtns) b.setAttribute('aria-pressed', b.dataset.range === range ? 'true' : 'false');
    try {
      data = await fetchSpans(id, from, to);
    } catch (e) {
      notice(status, t('error', e.message), 'error');
      return;
    }
    player.spans = data;
    strip.draw(data, Date.now(), t('tl.strip', id, fmtTime(from), fmtTime(to)));
    strip.el.dataset.from = rfc(from);
    strip.el.dataset.to = rfc(to);
    summary.textContent = t('tl.summary', data.spans.length, data.gaps.length, data.holds.length, data.deletions.length);
    if (strip.cursor === null || strip.cursor < from || strip.cursor >= to) strip.setCursor(Math.min(centre, to - 1));
    const p = player.wall();
    strip.setPlayhead(p);
    if (exportLink) {
      const c = strip.cursor;
      exportLink.href = '#/export?camera=' + encodeURIComponent(id) + '&from=' + rfc(c) + '&to=' + rfc(c + 60e3);
    }
  }
  function shift(dir) {
    const len = RANGES[range];
    centre += dir * (range === 'hour' ? len : range === 'day' ? len : len / 2);
    strip.cursor = null;
    load();
  }
  function zoom(dir) {
    const i = Math.min(RANGE_ORDER.length - 1, Math.max(0, RANGE_ORDER.indexOf(range) + dir));
    range = RANGE_ORDER[i];
    if (strip.cursor !== null) centre = strip.cursor;
    load();
  }
  async function play(ms) {
    strip.setCursor(ms);
    if (data && (ms < data.from || ms >= data.to)) {
      centre = ms;
      await load();
    }
    await player.playFrom(ms);
  }
  for (const b of rangeBtns) b.addEventListener('click', () => { range = b.dataset.range; if (strip.cursor !== null) centre = strip.cursor; load(); });
  prev.addEventListener('click', () => shift(-1));
  next.addEventListener('click', () => shift(1));
  nowBtn.addEventListener('click', () => { centre = Date.now(); strip.cursor = null; load(); });
  liveBtn.addEventListener('click', () => player.playLive());
  gotoBtn.addEventListener('click', () => {
    const ms = fromInput(goto.value);
    if (!Number.isNaN(ms)) play(ms);
  });
  goto.addEventListener('keydown', (e) => { if (e.key === 'Enter') gotoBtn.click(); });

  const tick = setInterval(() => {
    const w = player.wall();
    video.dataset.wall = w === null ? '' : rfc(w);
    if (w === null) {
      playTime.textContent = t('play.stopped');
    } else {
      playTime.textContent = t(player.live ? 'play.live' : 'play.at', fmtTime(w));
      strip.setPlayhead(w);
    }
  }, 250);
  const refresh = setInterval(() => { if (!document.hidden && range === 'hour') load(); }, 20000);
  cleanup.push(() => { clearInterval(tick); clearInterval(refresh); player.stop(); });

  await load();
  if (q.get('live')) player.playLive();
  else if (q.get('t')) play(centre);
  strip.el.focus();
}

// ---- side by side ------------------------------------------------------------

async function viewMulti() {
  if (!cameras.length) await loadCameras();
  const q = query();
  const chosen = (q.get('cams') || '').split(',').filter(Boolean);
  const boxes = cameras.map((c) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value: c.id, class: 'multi-cam', checked: chosen.includes(c.id) }), ' ' + c.id +
      (c.location ? ' — ' + c.location : '')));
  const when = h('input', { id: 'multi-time', type: 'datetime-local', step: '1' });
  when.value = toInput(parseTime(q.get('t')) || Date.now() - 120e3);
  const playBtn = h('button', { type: 'submit', id: 'multi-play' }, t('multi.play'));
  const pauseBtn = h('button', { type: 'button', id: 'multi-pause' }, t('multi.pause'));
  const msg = h('p', { class: 'notice', role: 'status', hidden: true });
  const clock = h('p', { id: 'multi-clock', class: 'play-time' });
  const grid = h('div', { class: 'grid', id: 'multi-grid' });
  const form = h('form', { class: 'panel inline-form', id: 'multi-form' },
    h('fieldset', {}, h('legend', {}, t('multi.cameras')), boxes),
    label(t('multi.time'), when), h('div', { class: 'toolbar' }, playBtn, pauseBtn), msg);
  main.replaceChildren(h('h1', {}, t('multi.title')), h('p', { class: 'help' }, t('multi.help')), form, clock, grid);

  let tiles = [];
  let clockAt = null; // the shared wall-clock instant at perf time clockPerf
  let clockPerf = 0;
  let running = false;
  const wallNow = () => (clockAt === null ? null : running ? clockAt + (performance.now() - clockPerf) : clockAt);

  function stopAll() {
    for (const tile of tiles) tile.player.stop();
    tiles = [];
  }
  cleanup.push(() => { clearInterval(timer); stopAll(); });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ids = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (!ids.length) return notice(msg, t('multi.pick'), 'error');
    if (ids.length > 4) return notice(msg, t('multi.toomany'), 'error');
    notice(msg, '');
    const at = fromInput(when.value);
    if (Number.isNaN(at)) return;
    stopAll();
    grid.replaceChildren();
    grid.dataset.count = String(ids.length);
    for (const id of ids) {
      const video = h('video', { muted: true, playsinline: true, preload: 'auto', dataset: { camera: id } });
      video.muted = true;
      const state = h('p', { class: 'tile-state', dataset: { camera: id } });
      const strip = new Strip({ id: 'strip-' + id, onpick: (ms) => restart(ms) });
      const tile = { id, video, state, strip, data: null, player: null, waiting: false };
      tile.player = new Player(video, id, {
        onstatus: (txt) => { if (video.dataset.gap !== '1') state.textContent = txt; },
      });
      grid.append(h('section', { class: 'tile', dataset: { camera: id } },
        h('h2', {}, id), h('div', { class: 'video-box' }, video, state), strip.root));
      tiles.push(tile);
    }
    await restart(at);
  });
  pauseBtn.addEventListener('click', () => {
    if (running) {
      clockAt = wallNow();
      running = false;
      for (const tile of tiles) tile.video.pause();
    } else if (clockAt !== null) {
      restart(clockAt);
    }
  });

  // Every tile to the same instant: its strip shows 5 minutes each side.
  async function restart(at) {
    clockAt = at;
    clockPerf = performance.now();
    running = false;
    await Promise.all(tiles.map(async (tile) => {
      try {
        tile.data = await fetchSpans(tile.id, at - 300e3, at + 300e3);
      } catch (err) {
        tile.state.textContent = t('error', err.message);
        return;
      }
      tile.player.spans = tile.data;
      tile.strip.draw(tile.data, Date.now(), t('tl.strip', tile.id, fmtTime(at - 300e3), fmtTime(at + 300e3)));
      await place(tile, at);
    }));
    clockAt = at;
    clockPerf = performance.now();
    running = true;
  }

  // Shows the tile at instant at: footage when there is some, else its gap.
  async function place(tile, at) {
    const where = locate(tile.data, at);
    if (!where.span) {
      tile.player.stop();
      tile.video.dataset.gap = '1';
      const g = where.gap;
      tile.state.textContent = t('play.gap', g ? reasonText(g.reason) : t('tl.nofootage'));
      tile.state.className = 'tile-state gap';
      if (g) tile.state.style.backgroundColor = reasonColour(g.reason);
      return;
    }
    tile.video.dataset.gap = '';
    tile.state.textContent = '';
    tile.state.className = 'tile-state';
    tile.state.style.backgroundColor = '';
    tile.waiting = true;
    await tile.player.playFrom(at, true);
    tile.waiting = false;
  }

  // Keeps the tiles on the shared clock: a tile more than 0.7 s off is
  // moved; a tile in a gap starts when the clock reaches its footage.
  const timer = setInterval(() => {
    const w = wallNow();
    if (w === null) return;
    clock.textContent = t('multi.clock', fmtTime(w));
    clock.dataset.wall = rfc(w);
    if (!running) return;
    for (const tile of tiles) {
      tile.strip.setPlayhead(w);
      if (!tile.data || tile.waiting) continue;
      const mine = tile.player.wall();
      tile.video.dataset.wall = mine === null ? '' : rfc(mine);
      const where = locate(tile.data, w);
      if (!where.span) {
        if (tile.video.dataset.gap !== '1') place(tile, w);
      } else if (tile.video.dataset.gap === '1' || mine === null) {
        place(tile, w);
      } else if (Math.abs(mine - w) > 700 && !tile.video.seeking) {
        if (tile.player.holds(w)) tile.video.currentTime = (w - tile.player.base) / 1000;
        else place(tile, w);
      }
    }
  }, 250);

  if (chosen.length && q.get('t')) form.requestSubmit();
}

// ---- export -------------------------------------------------------------------

function cameraSelect(id, value, withAll) {
  const sel = h('select', { id },
    withAll ? h('option', { value: '' }, t('reports.allcameras')) : null,
    cameras.map((c) => h('option', { value: c.id }, c.id + (c.location ? ' — ' + c.location : ''))));
  if (value) sel.value = value;
  return sel;
}

function timeInput(id, ms) {
  const i = h('input', { id, type: 'datetime-local', step: '1', required: true });
  if (ms !== null && ms !== undefined) i.value = toInput(ms);
  return i;
}

async function sha256Hex(buf) {
  const d = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function viewExport() {
  if (!cameras.length) await loadCameras();
  const q = query();
  const cam = cameraSelect('export-camera', q.get('camera'));
  const from = timeInput('export-from', parseTime(q.get('from')) || Date.now() - 5 * 60e3);
  const to = timeInput('export-to', parseTime(q.get('to')) || Date.now() - 60e3);
  const msg = h('p', { id: 'export-status', class: 'notice', role: 'status', hidden: true });
  const result = h('div', { id: 'export-result', hidden: true });
  const listBox = h('div', { id: 'export-list' });
  const form = h('form', { class: 'panel', id: 'export-form' },
    label(t('export.camera'), cam), label(t('export.from'), from), label(t('export.to'), to),
    h('button', { type: 'submit', id: 'export-submit' }, t('export.submit')), msg);
  main.replaceChildren(h('h1', {}, t('export.title')), h('p', { class: 'help' }, t('export.help')), form, result,
    h('h2', {}, t('export.list')), listBox);

  async function showResult(x) {
    const file = x.file || '/api/exports/' + x.id + '/file';
    const manifestUrl = typeof x.manifest === 'string' && x.manifest.startsWith('/') ? x.manifest : '/api/exports/' + x.id + '/manifest';
    let manifest = '';
    try {
      manifest = JSON.stringify(await api('GET', manifestUrl), null, 2);
    } catch (e) {
      manifest = t('error', e.message);
    }
    const verifyMsg = h('p', { id: 'export-verify-status', class: 'notice', role: 'status', hidden: true });
    const verify = h('button', { type: 'button', id: 'export-verify' }, t('export.verify'));
    verify.addEventListener('click', async () => {
      try {
        const r = await fetch(file, { credentials: 'same-origin' });
        const got = await sha256Hex(await r.arrayBuffer());
        if (got === x.sha256) notice(verifyMsg, t('export.verified'), 'ok');
        else notice(verifyMsg, t('export.mismatch', got), 'error');
        verifyMsg.dataset.sha256 = got;
      } catch (e) {
        notice(verifyMsg, t('error', e.message), 'error');
      }
    });
    result.replaceChildren(
      h('h2', {}, t('export.done', x.id)),
      h('p', {}, t('col.sha256') + ': ', h('code', { id: 'export-sha256', class: 'hash' }, x.sha256)),
      h('p', { class: 'toolbar' },
        h('a', { id: 'export-file', class: 'button', href: file, download: 'export-' + x.id + '.mp4' }, t('export.file')),
        h('a', { id: 'export-manifest', class: 'button', href: manifestUrl, download: 'export-' + x.id + '.mp4.manifest.json' }, t('export.manifest')),
        verify),
      verifyMsg,
      h('pre', { id: 'export-manifest-text', class: 'manifest' }, manifest));
    result.hidden = false;
  }

  async function loadList() {
    try {
      const list = await api('GET', '/api/exports');
      const rows = (Array.isArray(list) ? list : list.exports || []).map((x) => h('tr', { dataset: { export: x.id } },
        h('td', {}, x.id), h('td', {}, x.camera || ''),
        h('td', {}, fmtTime(parseTime(x.created))),
        h('td', {}, x.bytes !== undefined ? (x.bytes / 1048576).toFixed(1) + ' MiB' : ''),
        h('td', {}, h('code', { class: 'hash' }, x.sha256 || '')),
        h('td', {}, h('a', { href: '/api/exports/' + x.id + '/file', download: 'export-' + x.id + '.mp4' }, 'MP4'), ' ',
          h('a', { href: '/api/exports/' + x.id + '/manifest' }, t('export.manifest')))));
      listBox.replaceChildren(rows.length ? table([t('col.id'), t('col.camera'), t('col.created'), t('col.size'),
        t('col.sha256'), ''], rows, { id: 'exports-table' }) : h('p', {}, t('none')));
    } catch (e) {
      listBox.replaceChildren(errorBox(e));
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const a = fromInput(from.value);
    const b = fromInput(to.value);
    notice(msg, t('export.working'), 'info');
    form.querySelector('button').disabled = true;
    try {
      const x = await api('POST', '/api/exports', { camera: cam.value, from: rfc(a), to: rfc(b) });
      notice(msg, '');
      await showResult(x);
      loadList();
    } catch (err) {
      notice(msg, t('error', err.message), 'error');
    } finally {
      form.querySelector('button').disabled = false;
    }
  });
  loadList();
}

// ---- holds --------------------------------------------------------------------

async function viewHolds() {
  if (!cameras.length) await loadCameras();
  const msg = h('p', { id: 'holds-status', class: 'notice', role: 'status', hidden: true });
  const listBox = h('div', { id: 'holds-list' });
  const parts = [h('h1', {}, t('holds.title')), h('p', { class: 'help' }, t('holds.help')), msg, listBox];
  if (roleAtLeast('operator')) {
    const cam = cameraSelect('hold-camera');
    const from = timeInput('hold-from', Date.now() - 3600e3);
    const to = timeInput('hold-to', Date.now());
    const reason = h('input', { id: 'hold-reason', required: true, maxlength: '200' });
    const form = h('form', { class: 'panel', id: 'hold-form' }, h('h2', {}, t('holds.add')),
      label(t('export.camera'), cam), label(t('export.from'), from), label(t('export.to'), to),
      label(t('holds.reason'), reason), h('button', { type: 'submit', id: 'hold-submit' }, t('holds.submit')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const x = await api('POST', '/api/holds', { camera: cam.value, from: rfc(fromInput(from.value)), to: rfc(fromInput(to.value)), reason: reason.value });
        notice(msg, t('holds.added', x && x.id !== undefined ? x.id : ''), 'ok');
        reason.value = '';
        load();
      } catch (err) {
        notice(msg, t('error', err.message), 'error');
      }
    });
    parts.push(form);
  }
  main.replaceChildren(...parts);

  async function load() {
    let list;
    try {
      list = await api('GET', '/api/holds');
    } catch (e) {
      listBox.replaceChildren(errorBox(e));
      return;
    }
    list = Array.isArray(list) ? list : list.holds || [];
    const rows = list.map((x) => {
      const released = x.released || x.state === 'released';
      let act = '';
      if (!released && roleAtLeast('operator')) {
        const why = h('input', { class: 'release-reason', 'aria-label': t('holds.release.reason'), placeholder: t('holds.release.reason') });
        const btn = h('button', { type: 'button', class: 'release', dataset: { hold: x.id } }, t('holds.release'));
        btn.addEventListener('click', async () => {
          try {
            await api('POST', '/api/holds/' + x.id + '/release', { reason: why.value });
            notice(msg, t('holds.released', x.id), 'ok');
            load();
          } catch (err) {
            notice(msg, t('error', err.message), 'error');
          }
        });
        act = h('span', { class: 'inline' }, why, btn);
      }
      return h('tr', { dataset: { hold: x.id } }, h('td', {}, x.id), h('td', {}, h('a', { href: '#/camera/' + encodeURIComponent(x.camera) + '?t=' + (x.from || x.start) + '&range=day' }, x.camera)),
        h('td', {}, fmtTime(parseTime(x.from || x.start))), h('td', {}, fmtTime(parseTime(x.to || x.end))),
        h('td', {}, x.reason || '', x.release_reason ? [h('br'), h('small', {}, x.release_reason)] : null),
        h('td', {}, released ? t('state.released') : t('state.active')), h('td', {}, act));
    });
    listBox.replaceChildren(rows.length ? table([t('col.id'), t('col.camera'), t('col.from'), t('col.to'), t('col.reason'),
      t('col.state'), t('col.actions')], rows, { id: 'holds-table' }) : h('p', {}, t('holds.empty')));
  }
  load();
}

// ---- recorders ----------------------------------------------------------------

// Every recorder the checker has seen, per site, with a link to each one's
// own console.
async function viewRecorders() {
  const list = await api('GET', '/api/recorders');
  const rows = list.map((x) => h('tr', { dataset: { recorder: x.id } },
    h('td', {}, x.site || ''), h('th', { scope: 'row' }, x.id),
    h('td', {}, h('span', { class: 'state state-' + x.state }, t('state.' + x.state))),
    h('td', {}, x.last_seen ? fmtTime(parseTime(x.last_seen)) : ''),
    h('td', {}, String(x.cameras) + (x.cameras_down ? ' (' + t('recorders.down', x.cameras_down) + ')' : '')),
    h('td', {}, x.version || ''),
    h('td', {}, x.console_url ? h('a', { href: x.console_url, class: 'console-link', rel: 'noopener' }, x.console_url) : '')));
  main.replaceChildren(h('h1', {}, t('nav.recorders')),
    rows.length ? table([t('col.site'), t('col.recorder'), t('col.state'), t('recorders.seen'), t('nav.cameras'),
      t('recorders.version'), t('recorders.console')], rows, { id: 'recorders-table' }) : h('p', {}, t('recorders.empty')));
}

// ---- tickets ------------------------------------------------------------------

async function viewTickets() {
  const q = query();
  const all = q.get('all') === '1';
  const msg = h('p', { id: 'tickets-status', class: 'notice', role: 'status', hidden: true });
  const allBox = h('input', { type: 'checkbox', id: 'tickets-all', checked: all });
  allBox.addEventListener('change', () => { location.hash = '#/tickets' + (allBox.checked ? '?all=1' : ''); });
  const listBox = h('ul', { class: 'tickets', id: 'tickets-list' });
  main.replaceChildren(h('h1', {}, t('tickets.title')),
    h('p', {}, h('label', { class: 'check' }, allBox, ' ' + t('tickets.all'))), msg, listBox);

  async function act(tk, what) {
    try {
      await api('POST', '/api/tickets/' + tk.id + '/' + what);
      notice(msg, t(what === 'ack' ? 'tickets.acked' : 'tickets.resolved', tk.id), 'ok');
      load();
    } catch (err) {
      notice(msg, t('error', err.message), 'error');
    }
  }

  async function load() {
    let list;
    try {
      list = await api('GET', '/api/tickets' + (all ? '?all=1' : ''));
    } catch (e) {
      listBox.replaceChildren(h('li', {}, errorBox(e)));
      return;
    }
    const rank = { open: 0, acknowledged: 1, resolved: 2 };
    list.sort((a, b) => (rank[a.state] ?? 1) - (rank[b.state] ?? 1) || a.level - b.level ||
      (parseTime(a.opened) || 0) - (parseTime(b.opened) || 0));
    const now = Date.now();
    if (!list.length) {
      listBox.replaceChildren(h('li', { class: 'empty' }, t('tickets.empty')));
      return;
    }
    listBox.replaceChildren(...list.map((tk) => {
      const opened = parseTime(tk.opened);
      const end = tk.resolved ? parseTime(tk.resolved) : now;
      const kind = t('kind.' + tk.kind) === 'kind.' + tk.kind ? tk.kind : t('kind.' + tk.kind);
      const buttons = [];
      if (tk.state === 'open') buttons.push(h('button', { type: 'button', class: 'ack', dataset: { action: 'ack', ticket: tk.id }, onclick: () => act(tk, 'ack') }, t('tickets.ack')));
      if (tk.state !== 'resolved') buttons.push(h('button', { type: 'button', class: 'resolve', dataset: { action: 'resolve', ticket: tk.id }, onclick: () => act(tk, 'resolve') }, t('tickets.resolve')));
      const what = [tk.camera, tk.recorder, tk.site].filter(Boolean).join(' · ');
      return h('li', { class: 'ticket level-' + tk.level + ' st-' + tk.state, dataset: { ticket: tk.id, state: tk.state, level: tk.level } },
        h('div', { class: 'ticket-head' },
          h('span', { class: 'level badge lvl-' + tk.level }, t('tickets.level', tk.level)),
          h('strong', {}, '#' + tk.id + ' ' + kind),
          h('span', { class: 'badge state-' + tk.state }, t('state.' + tk.state))),
        tk.text ? h('p', { class: 'ticket-text' }, tk.text) : null,
        h('p', { class: 'ticket-what' }, tk.camera ? h('a', { href: '#/camera/' + encodeURIComponent(tk.camera) + '?t=' + (tk.fault_start || '') + '&range=day' }, what) : what),
        h('p', { class: 'ticket-times' },
          t('tickets.opened', fmtTime(opened)), ' · ', h('span', { class: 'age' }, t('tickets.age', fmtDuration(end - opened))),
          tk.fault_start ? [h('br'), t('tickets.fault', fmtTime(parseTime(tk.fault_start)))] : null,
          tk.acknowledged ? [h('br'), t('tickets.ackat', fmtTime(parseTime(tk.acknowledged)))] : null,
          tk.resolved ? [h('br'), t('tickets.resolvedat', fmtTime(parseTime(tk.resolved)))] : null),
        buttons.length ? h('div', { class: 'ticket-actions' }, buttons) : null);
    }));
  }
  await load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, 15000);
  cleanup.push(() => clearInterval(timer));
}

// ---- reports ------------------------------------------------------------------

function isoWeek(ms) {
  const d = new Date(ms);
  const day = (d.getUTCDay() + 6) % 7;
  d.setUTCDate(d.getUTCDate() - day + 3);
  const y = d.getUTCFullYear();
  const first = new Date(Date.UTC(y, 0, 4));
  const w = 1 + Math.round(((d - first) / 86400e3 - 3 + ((first.getUTCDay() + 6) % 7)) / 7);
  return y + '-W' + String(w).padStart(2, '0');
}

async function viewReports() {
  if (!cameras.length) await loadCameras();
  const now = Date.now();
  const section = (id, title, help, fields, run, printable) => {
    const out = h('div', { class: 'report-out', id: id + '-out' });
    const link = h('a', { class: 'button', id: id + '-html', target: '_blank', rel: 'noopener' }, t('printable'));
    const form = h('form', { class: 'panel', id: id + '-form' }, h('h2', {}, title), h('p', { class: 'help' }, help),
      fields, h('div', { class: 'toolbar' }, h('button', { type: 'submit' }, t('show')), link), out);
    const update = () => { link.href = printable(); };
    form.addEventListener('input', update);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      update();
      out.replaceChildren(h('p', {}, t('loading')));
      try {
        out.replaceChildren(await run());
      } catch (err) {
        out.replaceChildren(errorBox(err));
      }
    });
    update();
    return form;
  };
  const verdict = (v) => h('span', { class: 'badge verdict-' + v }, t('verdict.' + v) === 'verdict.' + v ? v : t('verdict.' + v));

  const cCam = cameraSelect('continuity-camera', '', true);
  const cFrom = timeInput('continuity-from', dayStart(now));
  const cTo = timeInput('continuity-to', now);
  const cQuery = () => '?' + (cCam.value ? 'camera=' + encodeURIComponent(cCam.value) + '&' : '') +
    'from=' + encodeURIComponent(rfc(fromInput(cFrom.value))) + '&to=' + encodeURIComponent(rfc(fromInput(cTo.value)));
  const continuity = section('continuity', t('reports.continuity'), t('reports.continuity.help'),
    [label(t('export.camera'), cCam), label(t('export.from'), cFrom), label(t('export.to'), cTo)],
    async () => {
      const r = await api('GET', '/api/reports/continuity' + cQuery());
      return table([t('col.camera'), t('col.coverage'), t('col.verdict'), t('col.gaps')], (r.cameras || []).map((c) =>
        h('tr', { dataset: { camera: c.camera } }, h('td', {}, c.camera),
          h('td', {}, (c.coverage_percent !== undefined ? Number(c.coverage_percent).toFixed(2) : '?') + ' %'),
          h('td', {}, verdict(c.verdict)),
          h('td', {}, (c.gaps || []).map((g) => h('div', {}, h('span', { class: 'swatch' }), fmtTime(parseTime(g.start)) + ' – ' +
            fmtTime(parseTime(g.end)) + ' (' + fmtDuration((g.seconds || 0) * 1000) + ', ' + reasonText(g.reason) + ')'))))));
    }, () => '/api/reports/continuity' + cQuery() + '&format=html');

  const retention = section('retention', t('reports.retention'), t('reports.retention.help'), [],
    async () => {
      const r = await api('GET', '/api/reports/retention');
      return table([t('col.camera'), t('col.oldest'), t('col.days'), t('col.floor'), t('col.verdict')], (r.cameras || []).map((c) =>
        h('tr', { dataset: { camera: c.camera } }, h('td', {}, c.camera), h('td', {}, fmtTime(parseTime(c.oldest))),
          h('td', {}, c.days_covered !== undefined ? Number(c.days_covered).toFixed(1) : ''), h('td', {}, c.floor_days ?? ''),
          h('td', {}, verdict(c.verdict)))));
    }, () => '/api/reports/retention?format=html');

  const f = new Date(now);
  const quarter = h('input', { id: 'sla-quarter', required: true, pattern: '\\d{4}Q[1-4]', value: f.getUTCFullYear() + 'Q' + (Math.floor(f.getUTCMonth() / 3) + 1) });
  const sla = section('sla', t('reports.sla'), t('reports.sla.help'), [label(t('reports.quarter'), quarter)],
    async () => {
      const r = await api('GET', '/api/reports/sla?quarter=' + encodeURIComponent(quarter.value));
      return h('div', {}, h('p', { class: 'score', id: 'sla-score' }, t('reports.score', r.score)), h('p', {}, t('reports.faults', r.faults ?? 0)));
    }, () => '/api/reports/sla?quarter=' + encodeURIComponent(quarter.value) + '&format=html');

  const week = h('input', { id: 'inspection-week', required: true, pattern: '\\d{4}-W\\d{2}', value: isoWeek(now) });
  const inspection = section('inspection', t('reports.inspection'), t('reports.inspection.help'), [label(t('reports.week'), week)],
    async () => {
      const r = await api('GET', '/api/reports/inspection?week=' + encodeURIComponent(week.value));
      const rows = Object.entries(r).filter(([, v]) => typeof v !== 'object' || v === null).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, String(v))));
      return table(['', ''], rows);
    }, () => '/api/reports/inspection?week=' + encodeURIComponent(week.value) + '&format=html');

  main.replaceChildren(h('h1', {}, t('reports.title')), h('div', { class: 'reports' }, continuity, retention, sla, inspection));
}

// ---- admin: users and the access log --------------------------------------------

async function viewUsers() {
  const msg = h('p', { id: 'users-status', class: 'notice', role: 'status', hidden: true });
  const listBox = h('div', { id: 'users-list' });
  const name = h('input', { id: 'user-name', required: true, maxlength: '63', autocomplete: 'off' });
  const pass = h('input', { id: 'user-password', type: 'password', required: true, autocomplete: 'new-password' });
  const role = h('select', { id: 'user-role' }, ['viewer', 'operator', 'admin'].map((r) => h('option', { value: r }, t('role.' + r))));
  const cams = h('input', { id: 'user-cameras' });
  const form = h('form', { class: 'panel', id: 'user-form' }, h('h2', {}, t('users.add')),
    label(t('users.name'), name), label(t('users.password'), pass), label(t('users.role'), role), label(t('users.cameras'), cams),
    h('button', { type: 'submit', id: 'user-submit' }, t('users.submit')));
  main.replaceChildren(h('h1', {}, t('users.title')), msg, listBox, form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/api/users', { name: name.value, password: pass.value, role: role.value, cameras: cams.value.split(',').map((x) => x.trim()).filter(Boolean) });
      notice(msg, t('users.added', name.value), 'ok');
      name.value = pass.value = cams.value = '';
      load();
    } catch (err) {
      notice(msg, t('error', err.message), 'error');
    }
  });
  async function load() {
    let list;
    try {
      list = await api('GET', '/api/users');
    } catch (e) {
      listBox.replaceChildren(errorBox(e));
      return;
    }
    list = Array.isArray(list) ? list : list.users || [];
    listBox.replaceChildren(table([t('col.user'), t('col.role'), t('col.cameras'), t('col.language'), t('col.created'), t('col.actions')],
      list.map((u) => {
        const n = u.name || u.user;
        const del = h('button', { type: 'button', class: 'danger', dataset: { user: n } }, t('users.delete'));
        del.addEventListener('click', async () => {
          if (!window.confirm(t('users.confirm', n))) return;
          try {
            await api('POST', '/api/users/' + encodeURIComponent(n) + '/delete');
            notice(msg, t('users.deleted', n), 'ok');
            load();
          } catch (err) {
            notice(msg, t('error', err.message), 'error');
          }
        });
        return h('tr', { dataset: { user: n } }, h('td', {}, n), h('td', {}, t('role.' + u.role)),
          h('td', {}, (Array.isArray(u.cameras) ? u.cameras.join(', ') : u.cameras) || t('users.all')), h('td', {}, u.language || t('lang.auto')),
          h('td', {}, u.created ? fmtTime(parseTime(u.created)) : ''), h('td', {}, n === session.user ? '' : del));
      }), { id: 'users-table' }));
  }
  load();
}

async function viewAccess() {
  const now = Date.now();
  const from = timeInput('access-from', now - 86400e3);
  const to = timeInput('access-to', now + 60e3);
  const out = h('div', { id: 'access-list' });
  const form = h('form', { class: 'panel inline-form', id: 'access-form' }, label(t('col.from'), from), label(t('col.to'), to),
    h('button', { type: 'submit' }, t('show')));
  main.replaceChildren(h('h1', {}, t('access.title')), form, out);
  async function load() {
    try {
      let list = await api('GET', '/api/access-log?from=' + encodeURIComponent(rfc(fromInput(from.value))) + '&to=' + encodeURIComponent(rfc(fromInput(to.value))));
      list = Array.isArray(list) ? list : list.entries || [];
      if (!list.length) {
        out.replaceChildren(h('p', {}, t('access.empty')));
        return;
      }
      out.replaceChildren(table([t('col.time'), t('col.user'), t('col.action'), t('col.camera'), t('col.from'), t('col.to'), t('col.detail'), t('col.address')],
        list.map((x) => h('tr', { dataset: { action: x.action } },
          h('td', {}, fmtTime(parseTime(x.time || x.at))), h('td', {}, x.user || ''), h('td', {}, x.action || ''),
          h('td', {}, x.camera || ''), h('td', {}, x.from ? fmtTime(parseTime(x.from)) : ''), h('td', {}, x.to ? fmtTime(parseTime(x.to)) : ''),
          h('td', {}, x.detail || ''), h('td', {}, x.addr || x.address || ''))), { id: 'access-table' }));
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  load();
}

// ---- routing ------------------------------------------------------------------

async function route() {
  if (!me) return;
  if (location.hash === '#main') { // the skip link, not a view
    main.focus();
    return;
  }
  leaveView();
  drawHeader();
  const path = location.hash.replace(/^#\/?/, '').split('?')[0];
  const [view, arg] = path.split('/');
  const views = {
    '': viewCameras, cameras: viewCameras, multi: viewMulti, export: viewExport, holds: viewHolds,
    tickets: viewTickets, reports: viewReports, users: viewUsers, access: viewAccess,
    recorders: viewRecorders,
  };
  main.dataset.view = view || 'cameras';
  try {
    if (view === 'camera' && arg) await viewCamera(decodeURIComponent(arg));
    else if (views[view]) await views[view]();
    else main.replaceChildren(h('h1', {}, t('notfound')));
  } catch (e) {
    if (e.status !== 401) main.replaceChildren(errorBox(e));
  }
  main.dataset.ready = '1';
}

async function start() {
  try {
    me = await api('GET', '/api/me');
  } catch (e) {
    if (e.status !== 401) {
      chooseLanguage();
      main.replaceChildren(errorBox(e));
    }
    return;
  }
  session.csrf = me.csrf || session.csrf;
  session.user = me.user;
  session.role = me.role;
  // the site's zone; a server that does not say gets the browser's
  setZone(me.time_zone || (me.utc_offset_s === undefined ? Intl.DateTimeFormat().resolvedOptions().timeZone : ''),
    me.utc_offset_s !== undefined ? me.utc_offset_s : -new Date().getTimezoneOffset() * 60);
  chooseLanguage();
  cameras = [];
  await route();
}

// For scripts driving the page (the browser tests): instants to and from
// the site's wall clock, as the time inputs show it.
window.vigilTime = { toInput: (iso) => toInput(parseTime(iso)), fromInput: (v) => rfc(fromInput(v)) };
window.addEventListener('hashchange', route);
start();

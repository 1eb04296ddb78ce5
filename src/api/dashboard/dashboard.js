// The tunguard dashboard: plain browser JavaScript, no build. It keeps the API token in sessionStorage,
// reads the event stream with fetch (so the token travels in a header, never in a URL), draws SVG
// charts from the once-a-second counters events, and acts through the JSON API.
// One file (about 720 lines): served as is to the browser with no bundler, so it cannot import modules.

(() => {
  const TOKEN_KEY = 'tunguard.token';
  const WINDOW = 120; // seconds of history in the charts
  const COLORS = ['#2f6fdb', '#d6453d', '#e0a021', '#2e9d5b', '#8e44ad', '#16a085', '#7f8c8d', '#c0392b'];
  const $ = (id) => document.getElementById(id);

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    samples: [], // { at, halfOpen, syn, icmp, udp, drops: {reason: rate} }
    thresholds: null,
    tier: null,
    stream: null,
    retry: 0,
    polls: [],
  };
  /** Exposed for tests and for the curious: the chart data and the stream state. */
  window.tunguardDashboard = state;

  // -------------------------------------------------------------------------------------------------
  // API

  class ApiError extends Error {
    constructor(status, body) {
      super(body?.detail || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${state.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    try {
      json = await res.json();
    } catch {
      json = null;
    }
    if (res.status === 401) {
      showLogin('The token was refused.');
      throw new ApiError(401, json);
    }
    if (!res.ok) throw new ApiError(res.status, json);
    return json;
  }

  // -------------------------------------------------------------------------------------------------
  // Formatting

  function fmt(n) {
    if (n === null || n === undefined || Number.isNaN(n)) return '–';
    const a = Math.abs(n);
    if (a >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
    if (a >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
    if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
    if (a >= 100 || Number.isInteger(n)) return String(Math.round(n));
    return n.toFixed(1);
  }

  function dur(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s % 60}s`;
    return `${s}s`;
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString();
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function toast(msg) {
    const t = $('toast');
    t.textContent = msg;
    t.classList.add('show');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => t.classList.remove('show'), 2500);
  }

  function showError(err) {
    $('error').textContent = err ? err.message : '';
  }

  // -------------------------------------------------------------------------------------------------
  // Tier gauge: three arcs over a half circle, the needle at the SYN count relative to the thresholds.

  function polar(cx, cy, r, frac) {
    const a = Math.PI * (1 - frac);
    return [cx + r * Math.cos(a), cy - r * Math.sin(a)];
  }

  function arc(from, to) {
    const [x1, y1] = polar(100, 100, 80, from);
    const [x2, y2] = polar(100, 100, 80, to);
    return `M ${x1.toFixed(1)} ${y1.toFixed(1)} A 80 80 0 0 1 ${x2.toFixed(1)} ${y2.toFixed(1)}`;
  }

  $('arc-normal').setAttribute('d', arc(0, 1 / 3));
  $('arc-moderate').setAttribute('d', arc(1 / 3, 2 / 3));
  $('arc-risky').setAttribute('d', arc(2 / 3, 1));

  function drawGauge(tier, synsInWindow, halfOpen) {
    const th = state.thresholds;
    let frac;
    if (tier === null) frac = 0;
    else if (th && synsInWindow !== null) {
      // Each third of the dial is one tier; inside it the needle follows the SYN count.
      const s = synsInWindow;
      if (s <= th.moderate) frac = (s / th.moderate) * (1 / 3);
      else if (s <= th.risky) frac = 1 / 3 + ((s - th.moderate) / (th.risky - th.moderate)) * (1 / 3);
      else frac = 2 / 3 + Math.min(1, (s - th.risky) / th.risky) * (1 / 3);
      // Never contradict the tier the dataplane reports.
      const lo = { normal: 0, moderate: 1 / 3, risky: 2 / 3 }[tier];
      frac = Math.min(Math.max(frac, lo + 0.02), lo + 1 / 3 - 0.02);
    } else frac = { normal: 1 / 6, moderate: 1 / 2, risky: 5 / 6 }[tier];
    const [x, y] = polar(100, 100, 72, frac);
    const needle = $('needle');
    needle.setAttribute('x2', x.toFixed(1));
    needle.setAttribute('y2', y.toFixed(1));
    const name = $('tier-name');
    name.textContent = tier || 'unknown';
    name.dataset.tier = tier || '';
    name.style.color = tier ? `var(--${tier})` : 'var(--muted)';
    const parts = [];
    if (synsInWindow !== null && th) parts.push(`${fmt(synsInWindow)} new SYNs in ${th.windowSeconds} s`);
    if (th) parts.push(`moderate > ${th.moderate}, risky > ${th.risky}`);
    if (tier === null) parts.push('not reported by the dataplane');
    $('tier-detail').textContent = parts.join(' · ');
    if (halfOpen !== undefined) $('t-halfopen').textContent = fmt(halfOpen);
  }

  // -------------------------------------------------------------------------------------------------
  // Charts: SVG polylines over the last WINDOW seconds.

  const SVG = 'http://www.w3.org/2000/svg';

  function drawChart(svgId, legendId, series) {
    const svg = $(svgId);
    const W = 600;
    const H = 170;
    const pad = { l: 44, r: 6, t: 8, b: 18 };
    const now = Date.now();
    let max = 1;
    for (const s of series) for (const p of s.points) if (p[1] > max) max = p[1];
    max = niceMax(max);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const x = (t) => pad.l + ((t - (now - WINDOW * 1000)) / (WINDOW * 1000)) * (W - pad.l - pad.r);
    const y = (v) => H - pad.b - (v / max) * (H - pad.t - pad.b);
    for (const f of [0, 0.5, 1]) {
      const line = document.createElementNS(SVG, 'line');
      line.setAttribute('x1', pad.l);
      line.setAttribute('x2', W - pad.r);
      line.setAttribute('y1', y(max * f));
      line.setAttribute('y2', y(max * f));
      line.setAttribute('stroke', '#e6e9ee');
      svg.appendChild(line);
      const label = document.createElementNS(SVG, 'text');
      label.setAttribute('x', pad.l - 4);
      label.setAttribute('y', y(max * f) + 4);
      label.setAttribute('text-anchor', 'end');
      label.setAttribute('font-size', '11');
      label.setAttribute('fill', '#687384');
      label.textContent = fmt(max * f);
      svg.appendChild(label);
    }
    const axis = document.createElementNS(SVG, 'text');
    axis.setAttribute('x', W - pad.r);
    axis.setAttribute('y', H - 4);
    axis.setAttribute('text-anchor', 'end');
    axis.setAttribute('font-size', '11');
    axis.setAttribute('fill', '#687384');
    axis.textContent = 'now';
    svg.appendChild(axis);
    const legend = $(legendId);
    legend.textContent = '';
    series.forEach((s, i) => {
      const color = s.color || COLORS[i % COLORS.length];
      const pts = s.points.filter((p) => p[0] >= now - WINDOW * 1000);
      const poly = document.createElementNS(SVG, 'polyline');
      poly.setAttribute('fill', 'none');
      poly.setAttribute('stroke', color);
      poly.setAttribute('stroke-width', '2');
      poly.setAttribute('vector-effect', 'non-scaling-stroke');
      poly.setAttribute('data-series', s.name);
      poly.setAttribute('points', pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' '));
      svg.appendChild(poly);
      const item = el('span');
      const sw = el('i');
      sw.style.background = color;
      item.appendChild(sw);
      const last = pts.length ? pts[pts.length - 1][1] : null;
      item.appendChild(document.createTextNode(`${s.name} ${last === null ? '' : fmt(last)}`));
      legend.appendChild(item);
    });
    svg.dataset.max = String(max);
    svg.dataset.samples = String(state.samples.length);
  }

  function niceMax(v) {
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function drawCharts() {
    const S = state.samples;
    drawChart('chart-hs', 'legend-hs', [
      {
        name: 'half-open',
        color: '#2f6fdb',
        points: S.filter((s) => s.halfOpen !== null).map((s) => [s.at, s.halfOpen]),
      },
      { name: 'new SYN/s', color: '#e0a021', points: S.map((s) => [s.at, s.syn]) },
    ]);
    drawChart('chart-rates', 'legend-rates', [
      { name: 'ICMP/s', color: '#2f6fdb', points: S.map((s) => [s.at, s.icmp]) },
      { name: 'UDP/s', color: '#2e9d5b', points: S.map((s) => [s.at, s.udp]) },
    ]);
    // The reasons that dropped anything in the window, biggest first.
    const totals = {};
    for (const s of S) for (const [k, v] of Object.entries(s.drops)) totals[k] = (totals[k] || 0) + v;
    const reasons = Object.keys(totals)
      .filter((k) => totals[k] > 0)
      .sort((a, b) => totals[b] - totals[a])
      .slice(0, 8);
    drawChart(
      'chart-drops',
      'legend-drops',
      reasons.map((r, i) => ({
        name: r,
        color: COLORS[(i + 1) % COLORS.length],
        points: S.map((s) => [s.at, s.drops[r] || 0]),
      })),
    );
    if (reasons.length === 0) $('legend-drops').textContent = 'no drops in the last 2 minutes';
  }

  function onCounters(e) {
    const r = e.rates || {};
    const syn = r.synproxy_syn_received !== undefined ? r.synproxy_syn_received : r.tcp || 0;
    state.samples.push({
      at: e.at,
      halfOpen: e.halfOpen,
      syn,
      icmp: r.icmp || 0,
      udp: r.udp || 0,
      drops: e.dropRates || {},
    });
    while (state.samples.length && state.samples[0].at < Date.now() - WINDOW * 1000) state.samples.shift();
    let dropSum = 0;
    for (const v of Object.values(e.dropRates || {})) dropSum += v;
    $('t-syn').textContent = fmt(syn);
    $('t-rx').textContent = fmt(r.rx_packets || 0);
    $('t-drops').textContent = fmt(dropSum);
    if (e.counters && e.counters.gauge_aggressive_sources !== undefined)
      $('t-attackers').textContent = fmt(e.counters.gauge_aggressive_sources);
    const synWindow =
      e.counters && e.counters.gauge_syn_window !== undefined ? e.counters.gauge_syn_window : null;
    state.tier = e.tier;
    drawGauge(e.tier, synWindow, e.halfOpen);
    drawCharts();
  }

  // -------------------------------------------------------------------------------------------------
  // Tables

  function fillTable(id, rows, empty) {
    const body = $(id).tBodies[0];
    body.textContent = '';
    if (rows.length === 0) {
      const tr = el('tr');
      const td = el('td', empty, 'empty');
      td.colSpan = $(id).tHead.rows[0].cells.length;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    for (const r of rows) body.appendChild(r);
  }

  function button(label, cls, onClick) {
    const b = el('button', label, cls);
    b.type = 'button';
    b.addEventListener('click', () => {
      b.disabled = true;
      Promise.resolve(onClick())
        .catch((err) => {
          showError(err);
          toast(err.message);
        })
        .finally(() => {
          b.disabled = false;
        });
    });
    return b;
  }

  async function loadAttackers() {
    const a = await api('GET', '/api/v1/attackers?limit=20');
    $('att-note').textContent = a.note ? a.note : `${a.total} marked`;
    $('t-attackers').textContent = fmt(a.total);
    const now = Date.now();
    fillTable(
      'attackers',
      a.items.map((x) => {
        const tr = el('tr');
        tr.dataset.address = x.address;
        tr.appendChild(el('td', x.address));
        tr.appendChild(el('td', x.unfinished === null ? '–' : String(x.unfinished)));
        tr.appendChild(el('td', dur((x.expiresAt - now) / 1000)));
        tr.appendChild(el('td', clock(x.markedAt)));
        const act = el('td', undefined, 'actions');
        act.appendChild(
          button('Clear', 'danger', async () => {
            await api('DELETE', `/api/v1/attackers/${encodeURIComponent(x.address.replace(/\/\d+$/, ''))}`);
            toast(`cleared ${x.address}`);
            await loadAttackers();
          }),
        );
        act.appendChild(
          button('Allow', '', async () => {
            await api('POST', '/api/v1/allowlist', {
              cidr: x.address,
              comment: 'allowed from the dashboard',
            });
            toast(`allowed ${x.address}`);
            await loadAllowlist();
          }),
        );
        tr.appendChild(act);
        return tr;
      }),
      'no sources marked',
    );
  }

  async function loadAllowlist() {
    const l = await api('GET', '/api/v1/allowlist');
    fillTable(
      'allowlist',
      l.items.map((x) => {
        const tr = el('tr');
        tr.dataset.cidr = x.cidr;
        tr.appendChild(el('td', x.cidr));
        tr.appendChild(el('td', x.comment || (x.section === 'main' ? 'main' : '')));
        const act = el('td', undefined, 'actions');
        act.appendChild(
          button('Remove', 'danger', async () => {
            await api('DELETE', `/api/v1/allowlist/${x.cidr.split('/').map(encodeURIComponent).join('/')}`);
            toast(`removed ${x.cidr}`);
            await loadAllowlist();
          }),
        );
        tr.appendChild(act);
        return tr;
      }),
      'empty',
    );
  }

  async function loadConnections() {
    const q = new URLSearchParams({ limit: '50' });
    const port = $('conn-port').value.trim();
    const src = $('conn-src').value.trim();
    if (port) q.set('port', port);
    if (src) q.set('src', src);
    let p;
    try {
      p = await api('GET', `/api/v1/connections?${q}`);
      showError(null);
    } catch (err) {
      if (err.status === 400) {
        showError(err);
        return;
      }
      throw err;
    }
    $('t-conns').textContent = fmt(p.total);
    $('conn-note').textContent = p.note ? p.note : `${p.items.length} of ${p.total}`;
    const ep = (a, port) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`);
    fillTable(
      'connections',
      p.items.map((x) => {
        const tr = el('tr');
        tr.appendChild(el('td', ep(x.src, x.sport)));
        tr.appendChild(el('td', ep(x.dst, x.dport)));
        tr.appendChild(el('td', x.state));
        tr.appendChild(el('td', x.direction));
        tr.appendChild(el('td', x.path));
        tr.appendChild(el('td', clock(x.updatedAt)));
        return tr;
      }),
      'no connections',
    );
  }

  // -------------------------------------------------------------------------------------------------
  // LAN hosts (the remediation service): what each runs, what threatens it, and a button that queues
  // the remedies of every rule that matches it. Polled faster while a dispatch is open.

  const REM = '/api/v1/remediation';
  const OPEN = new Set(['queued', 'running']);

  function hostLabel(h) {
    const addr = [...h.ipv4, ...h.ipv6][0] || h.id;
    return h.hostnames.length ? `${h.hostnames[0]} (${addr})` : addr;
  }

  function cell(text, sub, cls) {
    const td = el('td', undefined, cls);
    td.appendChild(document.createTextNode(text));
    if (sub) {
      td.appendChild(el('br'));
      td.appendChild(el('span', sub, 'src'));
    }
    return td;
  }

  async function loadHosts() {
    let r;
    try {
      r = await api('GET', `${REM}/hosts`);
    } catch (err) {
      if (err.status === 404) {
        $('hosts-note').textContent = 'remediation is off (no durable store)';
        state.hostsOff = true;
        return;
      }
      throw err;
    }
    const hosts = r.items;
    const open = hosts.some((h) => h.lastDispatch && OPEN.has(h.lastDispatch.status));
    const shownOf = r.total > hosts.length ? ` (first ${hosts.length} shown)` : '';
    $('hosts-note').textContent =
      `${r.total ?? hosts.length} known${shownOf}${open ? ' · remedies running' : ''}`;
    state.hosts = hosts;
    fillTable(
      'hosts',
      hosts.map((h) => {
        const tr = el('tr');
        tr.dataset.host = h.id;
        tr.appendChild(
          cell(hostLabel(h), `${h.macs[0] || h.id} · ${h.evidence.join(', ') || 'no evidence'}`),
        );
        tr.appendChild(
          cell(h.osName || '–', h.osName ? `${h.osSource}, confidence ${h.osConfidence}` : '', 'os'),
        );
        const sw = h.software.map(
          (x) => `${x.product}${x.version ? ` ${x.version}` : ''}${x.port ? `:${x.port}` : ''}`,
        );
        tr.appendChild(
          cell(
            sw.join(', ') || '–',
            [...new Set(h.software.map((x) => x.source))].join(', '),
            'wrap software',
          ),
        );
        tr.appendChild(
          cell(
            h.threatKeys.join(', ') || 'none',
            h.threatCount > h.threatKeys.length ? `${h.threatCount} in all` : '',
            'wrap cves',
          ),
        );
        const risk = el('td');
        risk.appendChild(el('span', `${h.risk.level} ${h.risk.score}`, `risk ${h.risk.level}`));
        tr.appendChild(risk);
        const d = h.lastDispatch;
        const dispatch = cell(
          d ? d.status : '–',
          d ? `${d.ruleId || 'manual'} · ${clock(d.updatedAt)}` : '',
          'dispatch',
        );
        if (d) dispatch.classList.add(`status-${d.status}`);
        tr.appendChild(dispatch);
        const act = el('td', undefined, 'actions');
        const b = button('Remediate', 'primary', async () => {
          let res;
          try {
            res = await api('POST', `${REM}/hosts/${encodeURIComponent(h.id)}/remediate`, {});
          } catch (err) {
            // The API's reason (no agent, unknown host) goes beside the table.
            showHostsError(err);
            toast(err.message);
            return;
          }
          const why = res.skipped.map((s) => `${s.ruleId}: ${s.why}`).join('; ');
          toast(
            res.queued.length
              ? `queued ${res.queued.length} remed${res.queued.length === 1 ? 'y' : 'ies'} for ${hostLabel(h)}`
              : `nothing queued${why ? ` (${why})` : ''}`,
          );
          showHostsError(null);
          await loadHosts();
        });
        b.dataset.action = 'remediate';
        if (!h.agent) {
          b.disabled = true;
          b.title = 'no paired agent on this host';
        } else if (h.matchingRules.length === 0) {
          b.disabled = true;
          b.title = 'no rule matches this host';
        } else b.title = `rules: ${h.matchingRules.join(', ')}`;
        act.appendChild(b);
        tr.appendChild(act);
        return tr;
      }),
      'no hosts known yet (they are learned from traffic, DHCP leases and scans)',
    );
    // While a remedy runs, look again soon.
    clearTimeout(state.hostsFast);
    if (open) state.hostsFast = setTimeout(() => loadHosts().catch(showHostsError), 1000);
  }

  function showHostsError(err) {
    $('hosts-error').textContent = err ? err.message : '';
  }

  async function loadStatus() {
    const s = await api('GET', '/api/v1/status');
    $('version').textContent = `v${s.version}`;
    $('uptime').textContent = `up ${dur(s.uptimeSeconds)}`;
    state.startedAt = s.startedAt;
    const t = await api('GET', '/api/v1/tiers?limit=1');
    state.thresholds = t.thresholds;
    const synWindow = s.counters.gauge_syn_window !== undefined ? s.counters.gauge_syn_window : null;
    drawGauge(s.tier, synWindow, s.halfOpen);
  }

  // -------------------------------------------------------------------------------------------------
  // The event stream, over fetch; reconnects with backoff.

  function setLive(on, text) {
    $('live').className = on ? 'on' : 'off';
    $('live-text').textContent = text;
  }

  async function openStream() {
    const ctl = new AbortController();
    state.stream = ctl;
    let res;
    try {
      res = await fetch('/api/v1/events', {
        headers: { Authorization: `Bearer ${state.token}` },
        signal: ctl.signal,
      });
    } catch {
      return retryStream(ctl);
    }
    if (res.status === 401) {
      showLogin('The token was refused.');
      return;
    }
    if (!res.ok || !res.body) return retryStream(ctl);
    setLive(true, 'live');
    state.retry = 0;
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          handleFrame(buf.slice(0, i));
          buf = buf.slice(i + 2);
          i = buf.indexOf('\n\n');
        }
      }
    } catch {
      // aborted or cut: reconnect below
    }
    retryStream(ctl);
  }

  function retryStream(ctl) {
    if (state.stream !== ctl || ctl.signal.aborted) return;
    setLive(false, 'reconnecting…');
    state.retry = Math.min(state.retry + 1, 5);
    setTimeout(
      () => {
        if (state.stream === ctl) openStream();
      },
      500 * 2 ** state.retry,
    );
  }

  function handleFrame(frame) {
    let type = 'message';
    const data = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith('event: ')) type = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length === 0) return;
    let e;
    try {
      e = JSON.parse(data.join('\n'));
    } catch {
      return;
    }
    switch (type) {
      case 'counters':
        onCounters(e);
        break;
      case 'tier':
        toast(`tier ${e.from || '?'} → ${e.to}`);
        break;
      case 'attacker':
      case 'attackers-cleared':
        loadAttackers().catch(showError);
        break;
      case 'allowlist':
      case 'config':
        loadAllowlist().catch(showError);
        break;
      case 'dropped':
        setLive(true, `live (skipped ${e.count} events)`);
        break;
      default:
        break;
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Login and start

  function showLogin(msg) {
    stop();
    $('login').hidden = false;
    $('login-error').textContent = msg || '';
    $('token').focus();
  }

  function stop() {
    if (state.stream) state.stream.abort();
    state.stream = null;
    for (const t of state.polls) clearInterval(t);
    state.polls = [];
    setLive(false, 'not connected');
  }

  async function start() {
    $('login').hidden = true;
    try {
      await loadStatus();
    } catch (err) {
      if (err.status !== 401) showLogin(`Cannot reach the API: ${err.message}`);
      return;
    }
    await Promise.all([loadAttackers(), loadAllowlist(), loadConnections()]).catch(showError);
    await loadHosts().catch(showHostsError);
    openStream();
    state.polls.push(setInterval(() => loadConnections().catch(showError), 5000));
    state.polls.push(setInterval(() => loadAttackers().catch(showError), 5000));
    state.polls.push(
      setInterval(() => {
        if (!state.hostsOff) loadHosts().catch(showHostsError);
      }, 5000),
    );
    state.polls.push(
      setInterval(() => {
        if (state.startedAt) $('uptime').textContent = `up ${dur((Date.now() - state.startedAt) / 1000)}`;
      }, 1000),
    );
  }

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.token = $('token').value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $('token').value = '';
    start();
  });

  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = '';
    showLogin('');
  });

  $('allow-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const prefix = $('allow-prefix').value.trim();
    const comment = $('allow-comment').value.trim();
    api('POST', '/api/v1/allowlist', comment ? { cidr: prefix, comment } : { cidr: prefix })
      .then((r) => {
        toast(r.changed ? `allowed ${r.entry.cidr}` : `${r.entry.cidr} was already allowed`);
        $('allow-prefix').value = '';
        $('allow-comment').value = '';
        showError(null);
        return loadAllowlist();
      })
      .catch(showError);
  });

  $('conn-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadConnections().catch(showError);
  });

  if (state.token) start();
  else showLogin('');
})();

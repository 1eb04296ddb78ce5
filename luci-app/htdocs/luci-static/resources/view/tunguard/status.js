'use strict';
'require view';
'require dom';
'require poll';
'require tunguard.rpc as tgrpc';
'require ui';

// tunguard status: the risk tier, a live chart of half-open handshakes and per-second rates, and the
// sources marked aggressive with "clear" and "allow". Everything comes through rpcd (ubus object
// "tunguard"); the poll only reads the daemon's status.json.

var callStatus = tgrpc.declare('status');
var callClear = tgrpc.declare('clear', [ 'address' ]);
var callAllow = tgrpc.declare('allow', [ 'cidr', 'comment' ]);

var POLL_SECONDS = 2;
/* Two minutes of samples. */
var HISTORY = 60;
var CHART_W = 600, CHART_H = 180;

var TIER_COLOURS = { normal: '#2e7d32', moderate: '#ef6c00', risky: '#c62828' };

var SERIES = [
	{ key: 'halfOpen', label: _('Half-open'), colour: '#6a1b9a' },
	{ key: 'syn', label: _('New SYNs/s'), colour: '#5d4037' },
	{ key: 'drops', label: _('Drops/s'), colour: '#c62828' },
	{ key: 'icmp', label: _('ICMP/s'), colour: '#1565c0' },
	{ key: 'udp', label: _('UDP/s'), colour: '#00838f' }
];

var SVG_NS = 'http://www.w3.org/2000/svg';

/* What runs when the config file is not in force (the daemon's status.config.inForce). */
var IN_FORCE = {
	file: _('the file'),
	'last-good': _('the last good configuration'),
	'file-without-errors': _('the file without its bad lines (their settings at their defaults)'),
	defaults: _('the built-in defaults')
};

/* Untrusted text (addresses, notes from the daemon) always goes in as a text node: LuCI's E() would
 * parse a bare string child as HTML. */
function text(s) {
	return [ (s == null) ? '' : String(s) ];
}

function svg(tag, attrs) {
	var el = document.createElementNS(SVG_NS, tag);
	for (var k in attrs)
		el.setAttribute(k, attrs[k]);
	return el;
}

function sumDrops(drops) {
	var n = 0;
	for (var k in drops)
		n += +drops[k] || 0;
	return n;
}

function duration(seconds) {
	var s = Math.max(0, Math.floor(seconds)),
	    d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
	if (d > 0) return '%dd %dh %dm'.format(d, h, m);
	if (h > 0) return '%dh %dm'.format(h, m);
	if (m > 0) return '%dm %ds'.format(m, s % 60);
	return '%ds'.format(s);
}

function rounded(v) {
	return (v >= 100) ? Math.round(v).toString() : (Math.round(v * 10) / 10).toString();
}

return view.extend({
	load: function() {
		return callStatus();
	},

	/* One sample from two consecutive status snapshots (rates over the daemon's own clock). */
	sample: function(prev, cur) {
		var dt = cur.uptimeSeconds - prev.uptimeSeconds;
		if (!(dt > 0))
			return null;
		var c = cur.counters || {}, p = prev.counters || {};
		var rate = function(now, before) { return Math.max(0, ((+now || 0) - (+before || 0)) / dt); };
		return {
			halfOpen: (cur.halfOpen != null) ? cur.halfOpen : 0,
			syn: rate(c.synproxy_syn_received, p.synproxy_syn_received),
			drops: rate(sumDrops(cur.drops), sumDrops(prev.drops)),
			icmp: rate(c.icmp, p.icmp),
			udp: rate(c.udp, p.udp)
		};
	},

	update: function(st) {
		if (!st || st.error) {
			dom.content(this.nodes.problem, E('div', { 'class': 'alert-message warning' },
				text(st ? st.error : _('no status'))));
			this.prev = null;
			return;
		}
		dom.content(this.nodes.problem, [].concat(this.policeAlert(st.police), this.configAlert(st.config), this.offloadAlert(st.flowOffload)));
		if (this.prev && this.prev.pid === st.pid) {
			/* The daemon rewrites status.json when something changed (within a second), and every 30 s
			   regardless: the same file a poll later means nothing moved in between. */
			var s = (st.uptimeSeconds === this.prev.uptimeSeconds)
				? { halfOpen: (st.halfOpen != null) ? st.halfOpen : 0, syn: 0, drops: 0, icmp: 0, udp: 0 }
				: this.sample(this.prev, st);
			if (s) {
				this.samples.push(s);
				if (this.samples.length > HISTORY)
					this.samples.shift();
			}
		}
		/* The uptime goes on while the file stays the same: counted from when this one was first seen. */
		if (!this.prev || this.prev.pid !== st.pid || this.prev.uptimeSeconds !== st.uptimeSeconds)
			this.seenAt = Date.now();
		this.prev = st;
		this.renderTier(st);
		this.renderConfig(st.config);
		this.renderPolice(st.police);
		this.renderChart();
		this.renderAttackers(st.attackers || { items: [], total: 0 });
	},

	/* The SYN police's nft table is gone (its nft died): the kernel no longer drops SYN floods before
	 * the TUN, nor ICMP/UDP floods, and the offload guard went with it. Said at the top until the daemon
	 * has built it again (the daemon's status.police, src/netcfg/syn-police.ts). */
	policeAlert: function(p) {
		if (!p || p.installed)
			return [];
		return E('div', { 'class': 'alert-message warning', 'id': 'tg-police-problem' }, [
			E('p', {}, text(_('The SYN police is down: its nft table is gone, and with it the kernel\'s limits on SYN, ICMP and UDP floods and the flow offloading guard. tunguard is building it again.'))),
			E('p', {}, text(_('Reason: %s').format(p.reason || _('none given')))),
			E('p', {}, text(this.policeHistory(p)))
		]);
	},

	/* "Lost 2 times since the start. Rebuilt 1 time." */
	policeHistory: function(p) {
		return N_(p.lost, 'Lost %d time since the start.', 'Lost %d times since the start.').format(p.lost) + ' ' +
			N_(p.rebuilt, 'Rebuilt %d time.', 'Rebuilt %d times.').format(p.rebuilt);
	},

	renderPolice: function(p) {
		var node = this.nodes.police;
		node.setAttribute('data-installed', p ? String(!!p.installed) : 'none');
		if (!p) {
			dom.content(node, text(_('not in use (no nft, or nothing needs it)')));
			return;
		}
		var parts = [ p.installed ? _('Installed.') : _('Down: %s.').format(p.reason || _('none given')) ];
		if (p.lost > 0)
			parts.push(this.policeHistory(p));
		node.style.color = p.installed ? '' : '#c62828';
		dom.content(node, text(parts.join(' ')));
	},

	/* The config file is not in force (errors at start, or a refused reload): said at the top, loudly. */
	configAlert: function(c) {
		if (!c || !c.problems || !c.problems.length)
			return [];
		var what = IN_FORCE[c.inForce] || c.inForce;
		var head = (c.lastReload && c.lastReload.result == 'refused')
			? _('The last reload of %s was refused; the configuration in force stays (%s).').format(c.path, what)
			: _('%s has errors: tunguard runs on %s until it is fixed and reloaded.').format(c.path, what);
		return E('div', { 'class': 'alert-message warning', 'id': 'tg-config-problem' }, [
			E('p', {}, text(head)),
			E('ul', {}, c.problems.map(function(p) { return E('li', {}, text(p)); }))
		]);
	},

	/* A flowtable that offloads to hardware can take proxied connections past the proxy, where they
	 * break: shown while a proxied family is not kept out (the daemon's status.flowOffload.warning;
	 * IPv6 is kept out when ipv6Guarded, IPv4 when ipv4Guarded: src/netcfg/offload-guard.ts). */
	offloadAlert: function(f) {
		if (!f || !f.hardwareFlowtables || !f.hardwareFlowtables.length || !f.warning)
			return [];
		var fts = f.hardwareFlowtables.join(', ');
		return E('div', { 'class': 'alert-message warning', 'id': 'tg-offload-problem' }, [
			E('p', {}, text(f.ipv4Guarded
				? _('Hardware flow offloading is on (%s): WAN-opened IPv6 connections that tunguard proxies can be offloaded past it, and then break.').format(fts)
				: _('Hardware flow offloading is on (%s): WAN-opened IPv4 connections that tunguard proxies can be offloaded past it, and then break.').format(fts))),
			E('p', {}, text(f.ipv4Guarded
				? _('Proxied IPv4 connections are kept out of flow offloading.')
				: f.ipv6Guarded
					? _('Proxied IPv6 connections are kept out of flow offloading.')
					: _('Proxied IPv6 connections are not kept out of it either.'))),
			E('p', {}, text(_('Turn off hardware flow offloading in Network → Firewall (Routing/NAT Offloading); software flow offloading is fine.')))
		]);
	},

	renderConfig: function(c) {
		if (!c) {
			dom.content(this.nodes.config, text(_('not reported')));
			return;
		}
		var parts = [ (c.path || _('built-in defaults')) + (c.path ? ' (sha256 ' + String(c.sha256).substring(0, 16) + ')' : '') ];
		if (c.inForce != 'file' && c.path)
			parts.push(_('running on %s').format(IN_FORCE[c.inForce] || c.inForce));
		var r = c.lastReload;
		parts.push(r ? _('last reload %s: %s').format(new Date(r.at).toLocaleString(), r.result) : _('no reload since the start'));
		if (c.pendingRestart && c.pendingRestart.length)
			parts.push(_('restart needed for %s').format(c.pendingRestart.join(', ')));
		this.nodes.config.setAttribute('data-in-force', c.inForce);
		dom.content(this.nodes.config, text(parts.join('; ')));
	},

	renderTier: function(st) {
		var tier = st.tier || 'unknown',
		    badge = this.nodes.tier;
		badge.setAttribute('data-tier', tier);
		badge.style.background = TIER_COLOURS[tier] || '#757575';
		dom.content(badge, text(tier));
		var note = (st.notes && st.notes.tier) ? st.notes.tier : '';
		dom.content(this.nodes.tierNote, text(note));
		dom.content(this.nodes.halfOpen, text((st.halfOpen != null) ? st.halfOpen : _('unknown')));
		dom.content(this.nodes.uptime, text(duration((st.uptimeSeconds || 0) + (Date.now() - (this.seenAt || Date.now())) / 1000)));
		dom.content(this.nodes.version, text(st.version || '?'));
		var api = st.api || {};
		dom.content(this.nodes.api, text(api.error ? _('error: %s').format(api.error)
			: (api.listening && api.listening.length) ? api.listening.join(', ') : _('off')));
		// LAN listeners are HTTPS with a self-signed certificate: this is what a browser or CLI must see.
		dom.content(this.nodes.apiTls, text(api.tlsFingerprint ? 'SHA-256 ' + api.tlsFingerprint : _('none (loopback only, plain HTTP)')));
	},

	renderChart: function() {
		var chart = this.nodes.chart, samples = this.samples, max = 10;
		samples.forEach(function(s) {
			SERIES.forEach(function(series) { max = Math.max(max, s[series.key]); });
		});
		max = Math.ceil(max * 1.1);
		while (chart.firstChild)
			chart.removeChild(chart.firstChild);
		for (var g = 1; g <= 3; g++) {
			var y = CHART_H - CHART_H * g / 4;
			chart.appendChild(svg('line', { x1: 0, x2: CHART_W, y1: y, y2: y, stroke: '#ddd', 'stroke-width': 1 }));
		}
		dom.content(this.nodes.chartMax, text(_('scale: 0 to %s').format(max)));
		var step = CHART_W / (HISTORY - 1);
		SERIES.forEach(function(series) {
			var points = samples.map(function(s, i) {
				var x = CHART_W - (samples.length - 1 - i) * step;
				var y = CHART_H - (s[series.key] / max) * CHART_H;
				return x.toFixed(1) + ',' + y.toFixed(1);
			}).join(' ');
			chart.appendChild(svg('polyline', {
				points: points, fill: 'none', stroke: series.colour, 'stroke-width': 2, 'data-series': series.key
			}));
		});
		var last = samples.length ? samples[samples.length - 1] : null;
		SERIES.forEach(L.bind(function(series) {
			var v = last ? last[series.key] : null,
			    cell = this.nodes.legend[series.key];
			cell.setAttribute('data-value', (v == null) ? '' : v);
			dom.content(cell, text((v == null) ? '–' : rounded(v)));
		}, this));
	},

	renderAttackers: function(list) {
		var rows = list.items.map(L.bind(function(a) {
			var address = String(a.address);
			return E('tr', { 'class': 'tr', 'data-address': address }, [
				E('td', { 'class': 'td' }, text(address)),
				E('td', { 'class': 'td' }, text((a.unfinished != null) ? a.unfinished : '–')),
				E('td', { 'class': 'td' }, text(new Date(a.markedAt).toLocaleTimeString())),
				E('td', { 'class': 'td' }, text(duration((a.expiresAt - Date.now()) / 1000))),
				E('td', { 'class': 'td' }, text(a.marks)),
				E('td', { 'class': 'td' }, [
					E('button', {
						'class': 'btn cbi-button cbi-button-remove', 'data-action': 'clear', 'disabled': tgrpc.writeDisabled(),
						'click': ui.createHandlerFn(this, 'handleClear', address)
					}, _('Clear')), ' ',
					E('button', {
						'class': 'btn cbi-button cbi-button-add', 'data-action': 'allow', 'disabled': tgrpc.writeDisabled(),
						'click': ui.createHandlerFn(this, 'handleAllow', address)
					}, _('Allow'))
				])
			]);
		}, this));
		if (!rows.length)
			rows = [ E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': 6 },
				E('em', {}, _('No source is marked aggressive.')))) ];
		dom.content(this.nodes.attackers, rows);
		dom.content(this.nodes.attackersTotal, text((list.total > list.items.length)
			? _('%d of %d shown').format(list.items.length, list.total) : ''));
	},

	/* An action's answer: a notification, then a fresh status. */
	report: function(what, res) {
		if (!res || res.error)
			ui.addNotification(null, E('p', {}, text(_('%s failed: %s').format(what, res ? res.error : _('no answer')))), 'error');
		else
			ui.addNotification(null, E('p', {}, text(what)), 'info');
		return callStatus().then(L.bind(this.update, this));
	},

	handleClear: function(address) {
		/* An IPv6 source may be marked as its /64: clearing the address clears that mark. */
		var addr = address.split('/')[0];
		return callClear(addr).then(L.bind(this.report, this, _('Cleared the mark of %s').format(addr)));
	},

	handleAllow: function(address) {
		return callAllow(address, 'allowed from LuCI').then(
			L.bind(this.report, this, _('Allowed %s: its traffic bypasses the defenses').format(address)));
	},

	render: function(status) {
		this.samples = [];
		this.prev = null;
		var legend = {};
		this.nodes = {
			problem: E('div', { 'id': 'tg-problem' }),
			tier: E('span', { 'id': 'tg-tier', 'style': 'display:inline-block;padding:.2em .8em;border-radius:4px;color:#fff;font-weight:bold;text-transform:uppercase' }),
			tierNote: E('span', { 'id': 'tg-tier-note', 'style': 'margin-left:1em;color:#666' }),
			halfOpen: E('span', { 'id': 'tg-half-open' }),
			uptime: E('span', { 'id': 'tg-uptime' }),
			version: E('span', { 'id': 'tg-version' }),
			api: E('span', { 'id': 'tg-api' }),
			apiTls: E('span', { 'id': 'tg-api-tls', 'style': 'word-break:break-all' }),
			config: E('span', { 'id': 'tg-config' }),
			police: E('span', { 'id': 'tg-police' }),
			chartMax: E('div', { 'id': 'tg-chart-max', 'style': 'color:#666;font-size:90%' }),
			chart: svg('svg', { 'id': 'tg-chart', viewBox: '0 0 ' + CHART_W + ' ' + CHART_H, width: '100%', height: CHART_H, preserveAspectRatio: 'none', style: 'border:1px solid #ccc;background:#fff' }),
			legend: legend,
			attackers: E('tbody', { 'id': 'tg-attackers' }),
			attackersTotal: E('div', { 'id': 'tg-attackers-total' })
		};
		var legendCells = SERIES.map(function(series) {
			legend[series.key] = E('strong', { 'data-series': series.key, 'data-value': '' }, '–');
			return E('span', { 'style': 'margin-right:1.5em;white-space:nowrap' }, [
				E('span', { 'style': 'display:inline-block;width:1em;height:.6em;margin-right:.3em;background:' + series.colour }),
				series.label, ': ', legend[series.key]
			]);
		});
		var field = function(title, node) {
			return E('div', { 'class': 'cbi-value' }, [
				E('label', { 'class': 'cbi-value-title' }, title),
				E('div', { 'class': 'cbi-value-field' }, node)
			]);
		};
		var page = E('div', { 'id': 'tg-status' }, [
			E('h2', {}, _('tunguard: status')),
			E('div', { 'class': 'cbi-map-descr' }, _('The risk tier and what the defenses see, refreshed every %d seconds.').format(POLL_SECONDS)),
			this.nodes.problem,
			E('div', { 'class': 'cbi-section' }, [
				field(_('Risk tier'), [ this.nodes.tier, this.nodes.tierNote ]),
				field(_('Half-open handshakes'), this.nodes.halfOpen),
				field(_('SYN police'), this.nodes.police),
				field(_('Uptime'), this.nodes.uptime),
				field(_('Version'), this.nodes.version),
				field(_('API'), this.nodes.api),
				field(_('API certificate'), this.nodes.apiTls),
				field(_('Configuration'), this.nodes.config)
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('Live')),
				this.nodes.chartMax,
				this.nodes.chart,
				E('div', { 'id': 'tg-legend', 'style': 'margin-top:.5em' }, legendCells)
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('Aggressive sources')),
				E('table', { 'class': 'table' }, [
					E('thead', {}, E('tr', { 'class': 'tr table-titles' }, [
						E('th', { 'class': 'th' }, _('Address')),
						E('th', { 'class': 'th' }, _('Unfinished')),
						E('th', { 'class': 'th' }, _('Marked')),
						E('th', { 'class': 'th' }, _('Expires in')),
						E('th', { 'class': 'th' }, _('Times')),
						E('th', { 'class': 'th' }, _('Action'))
					])),
					this.nodes.attackers
				]),
				this.nodes.attackersTotal
			])
		]);
		this.update(status);
		poll.add(L.bind(function() {
			return callStatus().then(L.bind(this.update, this));
		}, this), POLL_SECONDS);
		return page;
	},

	/* A status page: nothing to save. */
	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});

'use strict';
'require view';
'require dom';
'require poll';
'require tunguard.rpc as tgrpc';
'require ui';

// tunguard hosts: the LAN inventory (OS, software, CVEs, risk) learnt from traffic and scanner reports,
// "remediate" (a remedy for the host's agent) and the status of what was dispatched.

var callHosts = tgrpc.declare('hosts');
var callHost = tgrpc.declare('host', [ 'host' ]);
var callRemediate = tgrpc.declare('remediate', [ 'host', 'rule' ]);
var callDispatches = tgrpc.declare('dispatches');
var callDetect = tgrpc.declare('detect');
var callDetectNow = tgrpc.declare('detect_now');

/* Dispatches still on their way are re-read this often (each read starts the CLI: keep it rare). */
var POLL_SECONDS = 3;
var OPEN = { queued: true, running: true };

var RISK_COLOURS = { critical: '#b71c1c', high: '#e65100', medium: '#f9a825', low: '#1565c0', none: '#2e7d32' };
var STATUS_COLOURS = { done: '#2e7d32', failed: '#c62828', expired: '#757575', cancelled: '#757575', queued: '#1565c0', running: '#ef6c00' };

/* Scanner reports are untrusted: their text always goes in as text nodes, never as HTML. */
function text(s) {
	return [ (s == null) ? '' : String(s) ];
}

function badge(label, colour, attrs) {
	return E('span', Object.assign({ 'style': 'display:inline-block;padding:0 .5em;border-radius:3px;color:#fff;background:' + (colour || '#757575') }, attrs || {}), text(label));
}

function when(ms) {
	return ms ? new Date(ms).toLocaleString() : '–';
}

/* What the agent reported for one step of a dispatch (its action beside it): the text is the agent's, so text only. */
function stepResult(action, r) {
	var a = (action && action.action) || '';
	if (!r.ok)
		return r.refused ? _('refused (%s): %s').format(r.refused, r.reason || '') : _('failed: %s').format(r.reason || (r.timedOut ? _('timed out') : '?'));
	if (a == 'file.delete' || a == 'file.quarantine')
		return _('quarantined %s (id %s)').format(r.path, r.quarantineId);
	if (a == 'file.restore')
		return _('restored %s').format(r.path);
	if (a == 'file.chmod')
		return _('mode set on %s').format(r.path);
	if (a == 'program.run')
		return _('%s ran: exit %s%s').format(action.location || action.programId || _('program'), (r.exitCode != null) ? r.exitCode : '–', r.timedOut ? _(', timed out') : '');
	return r.reason || _('ok');
}

/* A host as its owner knows it: by name, else by MAC, else by address; the router's id comes after. */
function hostLabel(h) {
	return (h.hostnames && h.hostnames[0]) || (h.macs && h.macs[0]) || (h.ipv4 && h.ipv4[0]) || (h.ipv6 && h.ipv6[0]) || h.id;
}

function errorOf(res) {
	return (!res) ? _('no answer from rpcd') : res.error;
}

return view.extend({
	load: function() {
		return Promise.all([
			callHosts(),
			callDispatches(),
			callDetect()
		]);
	},

	renderHosts: function(res) {
		if (errorOf(res)) {
			dom.content(this.nodes.hostsProblem, E('div', { 'class': 'alert-message warning' }, text(errorOf(res))));
			return;
		}
		dom.content(this.nodes.hostsProblem, []);
		var rows = [];
		(res.items || []).forEach(L.bind(function(h) {
			var addr = (h.ipv4 && h.ipv4[0]) || (h.ipv6 && h.ipv6[0]) || '–';
			var risk = h.risk || { level: 'none', score: 0 };
			rows.push(E('tr', { 'class': 'tr', 'data-host': h.id }, [
				E('td', { 'class': 'td', 'data-field': 'host' }, [ E('strong', {}, text(hostLabel(h))), E('br'),
					E('small', { 'style': 'color:#666' }, text(h.id)) ]),
				E('td', { 'class': 'td' }, text(addr)),
				E('td', { 'class': 'td' }, text((h.hostnames && h.hostnames[0]) || '–')),
				E('td', { 'class': 'td', 'data-field': 'os' }, text(h.osName || '–')),
				E('td', { 'class': 'td', 'data-field': 'software' }, text(h.softwareCount)),
				E('td', { 'class': 'td', 'data-field': 'threats' }, text(h.threatCount)),
				E('td', { 'class': 'td', 'data-field': 'risk' }, badge('%s %s'.format(risk.level, risk.score), RISK_COLOURS[risk.level], { 'data-risk': risk.level })),
				E('td', { 'class': 'td' }, text(h.agent ? _('yes') : _('no'))),
				E('td', { 'class': 'td' }, [
					E('button', { 'class': 'btn cbi-button', 'data-action': 'details',
						'click': ui.createHandlerFn(this, 'handleDetails', h.id) }, _('Details')), ' ',
					E('button', { 'class': 'btn cbi-button cbi-button-action', 'data-action': 'remediate', 'disabled': tgrpc.writeDisabled(),
						'click': ui.createHandlerFn(this, 'handleRemediate', h.id, null) }, _('Remediate'))
				])
			]));
			rows.push(E('tr', { 'class': 'tr', 'data-detail-for': h.id, 'style': 'display:none' },
				E('td', { 'class': 'td', 'colspan': 9 })));
		}, this));
		if (!rows.length)
			rows = [ E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': 9 },
				E('em', {}, _('No hosts known yet: import a scan (tunguard scan import FILE) or wait for traffic.')))) ];
		dom.content(this.nodes.hosts, rows);
	},

	renderDetail: function(id, res) {
		var row = this.nodes.hosts.querySelector('tr[data-detail-for="%s"]'.format(CSS.escape(id)));
		if (!row)
			return;
		row.style.display = '';
		var cell = row.firstChild;
		if (errorOf(res)) {
			dom.content(cell, E('div', { 'class': 'alert-message warning' }, text(errorOf(res))));
			return;
		}
		var h = res.host || {};
		var os = (h.os || []).map(function(o) {
			return E('li', {}, text('%s%s (%s, %s%%)'.format(o.name || o.family || '?', o.version ? ' ' + o.version : '', o.source, o.confidence)));
		});
		var software = (h.software || []).map(function(s) {
			return E('li', { 'data-product': s.product }, text('%s %s%s'.format(s.product, s.version || '', s.port ? ' (' + (s.protocol || 'tcp') + '/' + s.port + ')' : '')));
		});
		var cves = {};
		(res.matchedCves || []).forEach(function(m) { cves[m.key] = '%s%s%s'.format(m.key, (m.cvss != null) ? ' cvss ' + m.cvss : '', (m.certainty && m.certainty !== 'affected') ? ' (' + m.certainty + ')' : ''); });
		// Scanner findings (NESSUS:…, OPENVAS:…) often have no score: their severity word says how bad they are.
		(h.threats || []).forEach(function(t) { if (!cves[t.key]) cves[t.key] = '%s%s%s'.format(t.key, (t.cvss != null) ? ' cvss ' + t.cvss : (t.severity ? ' ' + t.severity : ''), (t.title || t.name) ? ': ' + (t.title || t.name) : ''); });
		var threats = Object.keys(cves).sort().map(function(k) { return E('li', { 'data-threat': k }, text(cves[k])); });
		var rules = (res.matchingRules || []).map(L.bind(function(r) {
			return E('li', { 'data-rule': r.ruleId }, [
				E('span', {}, text('%s (%s)'.format(r.ruleId, r.set))), ' ',
				E('button', { 'class': 'btn cbi-button cbi-button-action', 'data-action': 'remediate-rule', 'disabled': tgrpc.writeDisabled(),
					'click': ui.createHandlerFn(this, 'handleRemediate', id, r.ruleId) }, _('Remediate with this rule'))
			]);
		}, this));
		var list = function(title, items, none) {
			return E('div', { 'style': 'display:inline-block;vertical-align:top;margin-right:2em;max-width:40em' }, [
				E('strong', {}, title),
				items.length ? E('ul', { 'style': 'max-height:16em;overflow:auto;margin-top:.3em' }, items) : E('p', {}, E('em', {}, none))
			]);
		};
		dom.content(cell, [
			list(_('Operating system'), os, _('unknown')),
			list(_('Software'), software, _('none seen')),
			list(_('Vulnerabilities and threats'), threats, _('none known')),
			list(_('Matching remediation rules'), rules, _('none match')),
			E('p', {}, text(res.agent ? _('Agent: %s:%s').format(res.agent.address, res.agent.port) : _('No agent is paired with this host: remedies cannot be sent to it.')))
		]);
	},

	renderDispatches: function(res) {
		if (errorOf(res)) {
			dom.content(this.nodes.dispatchesProblem, E('div', { 'class': 'alert-message warning' }, text(errorOf(res))));
			return;
		}
		dom.content(this.nodes.dispatchesProblem, []);
		var items = (res.items || []).slice().reverse();
		this.open = items.filter(function(d) { return OPEN[d.status]; }).length;
		var rows = items.map(function(d) {
			return E('tr', { 'class': 'tr', 'data-dispatch': d.id, 'data-status': d.status }, [
				E('td', { 'class': 'td' }, text(d.id)),
				E('td', { 'class': 'td' }, text(d.hostId)),
				E('td', { 'class': 'td' }, text(d.ruleId || '–')),
				E('td', { 'class': 'td' }, text(d.remedyType || '–')),
				E('td', { 'class': 'td' }, badge(d.status, STATUS_COLOURS[d.status])),
				E('td', { 'class': 'td' }, text(d.attempts)),
				E('td', { 'class': 'td' }, text(when(d.updatedAt || d.createdAt))),
				E('td', { 'class': 'td', 'data-field': 'result' }, (d.results || []).map(function(r, i) {
					return E('div', { 'data-step': i, 'data-ok': r.ok ? 'true' : 'false' }, text(stepResult((d.actions || [])[i], r)));
				})),
				E('td', { 'class': 'td' }, text(d.lastError || ''))
			]);
		});
		if (!rows.length)
			rows = [ E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': 9 }, E('em', {}, _('Nothing dispatched yet.')))) ];
		dom.content(this.nodes.dispatches, rows);
	},

	/* The periodic detection (Settings → Detection): its schedule and the last round's report. */
	renderDetection: function(res) {
		if (errorOf(res)) {
			dom.content(this.nodes.detection, E('div', { 'class': 'alert-message warning' }, text(errorOf(res))));
			return;
		}
		this.detecting = !!res.running;
		var lines = [];
		if (!res.scheduled)
			lines.push(E('p', { 'data-field': 'schedule' }, text(_('Off: enable it under Settings → Detection.'))));
		else {
			var what = (res.protectedHosts || []).slice();
			if (res.scanLan) what.push(_('the LAN'));
			lines.push(E('p', { 'data-field': 'schedule' }, text(_('Every %d s: %s%s; next round %s.').format(
				res.intervalSeconds, what.join(', ') || _('nothing'), res.scan ? _(', nmap scan first') : '', when(res.nextRunAt)))));
		}
		if (res.running)
			lines.push(E('p', { 'data-field': 'running' }, E('em', {}, text(_('A round is running…')))));
		if (res.last) {
			var r = res.last.report;
			lines.push(E('p', { 'data-field': 'last' }, text(_('Last round (%s, %s): checked %d, scanned %d, queued %d, skipped %d.').format(
				res.last.trigger, when(res.last.startedAt), r.checked, r.scanned, r.queued.length, r.skipped.length))));
			if (r.missing.length)
				lines.push(E('p', { 'data-field': 'missing' }, text(_('Not in the inventory: %s').format(r.missing.join(', ')))));
			if (r.scanError)
				lines.push(E('div', { 'class': 'alert-message warning', 'data-field': 'scan-error' }, text(_('Scan failed: %s').format(r.scanError))));
		} else
			lines.push(E('p', { 'data-field': 'last' }, E('em', {}, text(_('No round yet.')))));
		if (res.scheduled)
			lines.push(E('button', { 'class': 'cbi-button cbi-button-action', 'id': 'tg-detect-now', 'disabled': (res.running || !tgrpc.writable()) ? '' : null,
				'click': ui.createHandlerFn(this, 'handleDetectNow') }, _('Run detection now')));
		dom.content(this.nodes.detection, lines);
	},

	handleDetectNow: function() {
		return callDetectNow().then(L.bind(function(res) {
			if (errorOf(res))
				ui.addNotification(null, E('p', {}, text(_('Detection refused: %s').format(errorOf(res)))), 'error');
			else
				ui.addNotification(null, E('p', {}, text(_('Detection round started.'))), 'info');
			this.renderDetection(res);
		}, this));
	},

	refreshDetection: function() {
		return callDetect().then(L.bind(function(res) {
			var was = this.detecting;
			this.renderDetection(res);
			/* A round that just ended may have queued remedies and learnt hosts. */
			if (was && !this.detecting)
				return Promise.all([ callHosts().then(L.bind(this.renderHosts, this)), this.refreshDispatches() ]);
		}, this));
	},

	handleDetails: function(id) {
		var row = this.nodes.hosts.querySelector('tr[data-detail-for="%s"]'.format(CSS.escape(id)));
		if (row && row.style.display === '') {
			row.style.display = 'none';
			return Promise.resolve();
		}
		return callHost(id).then(L.bind(this.renderDetail, this, id));
	},

	handleRemediate: function(id, rule) {
		return callRemediate(id, rule || undefined).then(L.bind(function(res) {
			if (errorOf(res))
				ui.addNotification(null, E('p', {}, text(_('Remediation of %s refused: %s').format(id, errorOf(res)))), 'error');
			else
				ui.addNotification(null, E('p', {}, text(_('Dispatch %s queued for %s (rule %s)').format(res.id, res.hostId, res.ruleId || '–'))), 'info');
			return this.refreshDispatches();
		}, this));
	},

	refreshDispatches: function() {
		return callDispatches().then(L.bind(this.renderDispatches, this));
	},

	render: function(data) {
		this.open = 0;
		this.nodes = {
			hostsProblem: E('div'),
			hosts: E('tbody', { 'id': 'tg-hosts' }),
			dispatchesProblem: E('div'),
			dispatches: E('tbody', { 'id': 'tg-dispatches' }),
			detection: E('div', { 'id': 'tg-detection' })
		};
		var head = function(titles) {
			return E('thead', {}, E('tr', { 'class': 'tr table-titles' }, titles.map(function(t) { return E('th', { 'class': 'th' }, t); })));
		};
		var page = E('div', { 'id': 'tg-hosts-page' }, [
			E('h2', {}, _('tunguard: LAN hosts')),
			E('div', { 'class': 'cbi-map-descr' }, _('Hosts learnt from traffic and imported scanner reports, their risk, and remedies sent to their agents.')),
			E('div', { 'class': 'cbi-section' }, [
				this.nodes.hostsProblem,
				E('table', { 'class': 'table' }, [
					head([ _('Host'), _('Address'), _('Name'), _('OS'), _('Software'), _('Threats'), _('Risk'), _('Agent'), _('Action') ]),
					this.nodes.hosts
				])
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('Detection')),
				this.nodes.detection
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('Dispatches')),
				this.nodes.dispatchesProblem,
				E('table', { 'class': 'table' }, [
					head([ _('Dispatch'), _('Host'), _('Rule'), _('Remedy'), _('Status'), _('Attempts'), _('Updated'), _('Result'), _('Last error') ]),
					this.nodes.dispatches
				])
			])
		]);
		this.renderHosts(data[0]);
		this.renderDispatches(data[1]);
		this.renderDetection(data[2]);
		/* Only while something is on its way: every read starts the CLI on the router. */
		poll.add(L.bind(function() {
			return Promise.all([
				this.open > 0 ? this.refreshDispatches() : null,
				this.detecting ? this.refreshDetection() : null
			]);
		}, this), POLL_SECONDS);
		return page;
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});

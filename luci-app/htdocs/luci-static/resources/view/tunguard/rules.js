'use strict';
'require view';
'require dom';
'require tunguard.rpc as tgrpc';

// tunguard rules: the remediation rules the daemon matches hosts against (environment: OS and software;
// threat: CVE or malware; combined), each with its remedy. Rules are edited through the API or the CLI.

var callRules = tgrpc.declare('rules');

/* Rule text comes from files an admin imported: always text nodes, never HTML. */
function text(s) {
	return [ (s == null) ? '' : String(s) ];
}

function environmentText(e) {
	var parts = [];
	if (e.osType) parts.push(_('OS %s').format(e.osType));
	if (e.osVersions) parts.push(_('OS version %s').format(e.osVersions.join(' | ')));
	if (e.software) parts.push(_('software %s').format(e.software));
	if (e.softwareVersions) parts.push(_('version %s').format(e.softwareVersions.join(' | ')));
	if (e.softwareRange) {
		var r = e.softwareRange, b = [];
		if (r.versionStartIncluding) b.push('≥ ' + r.versionStartIncluding);
		if (r.versionStartExcluding) b.push('> ' + r.versionStartExcluding);
		if (r.versionEndIncluding) b.push('≤ ' + r.versionEndIncluding);
		if (r.versionEndExcluding) b.push('< ' + r.versionEndExcluding);
		parts.push(_('version %s').format(b.join(', ')));
	}
	return parts.join(', ');
}

function threatText(t) {
	var parts = [];
	if (t.type) parts.push(_('type %s').format(t.type));
	if (t.id) parts.push(t.id);
	if (t.includePossible) parts.push(_('possible matches too'));
	return parts.join(', ');
}

function remedyText(r) {
	var parts = [];
	(r.programs || []).forEach(function(p) { parts.push(_('run %s from %s').format(p.id, p.location)); });
	(r.fileOps || []).forEach(function(f) { parts.push('%s %s/%s'.format(f.op, f.location, f.name)); });
	return parts.join('; ');
}

return view.extend({
	load: function() {
		return callRules();
	},

	render: function(res) {
		var body = E('tbody', { 'id': 'tg-rules' }), problem = E('div');
		if (!res || res.error) {
			dom.content(problem, E('div', { 'class': 'alert-message warning' }, text(res ? res.error : _('no answer'))));
		}
		else {
			var rows = (res.items || []).map(function(r) {
				var when = [];
				if (r.environment) when.push(environmentText(r.environment));
				if (r.threat) when.push(threatText(r.threat));
				return E('tr', { 'class': 'tr', 'data-rule': r.id }, [
					E('td', { 'class': 'td' }, text(r.id)),
					E('td', { 'class': 'td' }, text(r.name || '')),
					E('td', { 'class': 'td', 'data-field': 'kind' }, text(r.kind)),
					E('td', { 'class': 'td', 'data-field': 'enabled' }, text(r.enabled ? _('yes') : _('no'))),
					E('td', { 'class': 'td' }, text(r.priority)),
					E('td', { 'class': 'td', 'data-field': 'when' }, text(when.join(_(' and ')))),
					E('td', { 'class': 'td', 'data-field': 'remedy' }, text(remedyText(r.remedy || {})))
				]);
			});
			if (!rows.length)
				rows = [ E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': 7 },
					E('em', {}, _('No rules yet. Add them with the API (POST /api/v1/remediation/rules) or import a rules file.')))) ];
			dom.content(body, rows);
		}
		return E('div', { 'id': 'tg-rules-page' }, [
			E('h2', {}, _('tunguard: remediation rules')),
			E('div', { 'class': 'cbi-map-descr' }, _('When a host matches a rule, its remedy can be sent to the host\'s agent (see Hosts). Lower priority runs first.')),
			E('div', { 'class': 'cbi-section' }, [
				problem,
				E('table', { 'class': 'table' }, [
					E('thead', {}, E('tr', { 'class': 'tr table-titles' }, [
						E('th', { 'class': 'th' }, _('Rule')),
						E('th', { 'class': 'th' }, _('Name')),
						E('th', { 'class': 'th' }, _('Kind')),
						E('th', { 'class': 'th' }, _('Enabled')),
						E('th', { 'class': 'th' }, _('Priority')),
						E('th', { 'class': 'th' }, _('Matches when')),
						E('th', { 'class': 'th' }, _('Remedy'))
					])),
					body
				])
			])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});

'use strict';
'require view';
'require dom';
'require request';
'require ui';
'require tunguard.rpc as tgrpc';

// tunguard rules: the remediation rules the daemon matches hosts against (environment rules: OS and
// software; threat rules: a CVE or a malicious program; combined rules: both), each with its remedy,
// added, edited and deleted here; and the cleanup programs the router keeps and sends itself, uploaded
// here (LuCI's cgi-upload to the one path the ACL allows, then the plugin's program_add). The daemon's
// API validates every rule and program: its answer is shown as it is.

var callRules = tgrpc.declare('rules');
var callRuleSave = tgrpc.declare('rule_save', [ 'rule', 'create' ]);
var callRuleDelete = tgrpc.declare('rule_delete', [ 'id' ]);
var callPrograms = tgrpc.declare('programs');
var callProgramAdd = tgrpc.declare('program_add', [ 'id', 'location', 'platform' ]);

/* Where LuCI's cgi-upload may write for this app (its ACL grants that path only). */
var UPLOAD_PATH = '/tmp/tunguard-program.upload';
/* The daemon keeps programs up to 2 MiB (src/remediation/programs.ts). */
var MAX_PROGRAM_BYTES = 2 * 1024 * 1024;

var KINDS = {
	environment: _('environment rule'),
	threat: _('threat rule'),
	combined: _('combined rule')
};
var KIND_HELP = {
	environment: _('Matches hosts by their operating system and software (from scans and traffic).'),
	threat: _('Matches hosts by a threat found on them: a CVE or a malicious program.'),
	combined: _('Matches hosts that have both the environment and the threat.')
};
var THREAT_TYPES = [
	[ '', _('any type') ], [ 'vulnerability', _('vulnerability (CVE)') ], [ 'malware', _('malicious program (any kind)') ],
	[ 'finding', _('scanner finding') ], [ 'bot', _('bot') ], [ 'trojan', _('trojan') ], [ 'worm', _('worm') ],
	[ 'virus', _('virus') ], [ 'ransomware', _('ransomware') ], [ 'backdoor', _('backdoor') ], [ 'rootkit', _('rootkit') ],
	[ 'spyware', _('spyware') ], [ 'adware', _('adware') ], [ 'miner', _('miner') ], [ 'other', _('other malware') ]
];
var PLATFORMS = [ [ 'any', _('any platform') ], [ 'linux', 'Linux' ], [ 'windows', 'Windows' ], [ 'macos', 'macOS' ] ];
var FILE_OPS = [
	[ 'quarantine', _('quarantine (can be restored)') ], [ 'delete', _('delete') ],
	[ 'restore', _('restore from quarantine') ], [ 'chmod', _('change permissions') ]
];

/* Rule text comes from files an admin imported: always text nodes, never HTML. */
function text(s) {
	return [ (s == null) ? '' : String(s) ];
}

function list(s) {
	return String(s || '').split(',').map(function(x) { return x.trim(); }).filter(function(x) { return x !== ''; });
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

function remedyText(r, stored) {
	var parts = [];
	(r.programs || []).forEach(function(p) {
		parts.push(stored[p.id + '\u0000' + p.location]
			? _('send program %s (stored on the router) for %s').format(p.id, p.location)
			: _('run %s from %s').format(p.id, p.location));
	});
	(r.fileOps || []).forEach(function(f) { parts.push('%s %s/%s'.format(f.op, f.location, f.name)); });
	return parts.join('; ');
}

function field(title, node, help) {
	return E('div', { 'class': 'cbi-value' }, [
		E('label', { 'class': 'cbi-value-title' }, [ title ]),
		/* LuCI's E() takes a flat list of children: a field of several nodes is spread, not nested. */
		E('div', { 'class': 'cbi-value-field' }, [].concat(node, help ? [ E('div', { 'class': 'cbi-value-description' }, [ help ]) ] : []))
	]);
}

function input(name, value, attrs) {
	return E('input', Object.assign({ 'type': 'text', 'class': 'cbi-input-text', 'name': name, 'value': (value == null) ? '' : String(value) }, attrs || {}));
}

function select(name, choices, value) {
	return E('select', { 'class': 'cbi-input-select', 'name': name }, choices.map(function(c) {
		return E('option', { 'value': c[0], 'selected': (c[0] === (value || '')) ? 'selected' : null }, [ c[1] ]);
	}));
}

function checkbox(name, checked) {
	return E('input', { 'type': 'checkbox', 'name': name, 'checked': checked ? 'checked' : null });
}

return view.extend({
	load: function() {
		return Promise.all([ callRules(), callPrograms() ]);
	},

	/* (id, location) → program, for "stored on the router". */
	storedPrograms: function() {
		var m = {};
		((this.programs && this.programs.items) || []).forEach(function(p) { m[p.id + '\u0000' + p.location] = p; });
		return m;
	},

	renderRules: function(res) {
		var body = this.nodes.rules;
		if (!res || res.error) {
			dom.content(this.nodes.problem, E('div', { 'class': 'alert-message warning' }, text(res ? res.error : _('no answer'))));
			return;
		}
		dom.content(this.nodes.problem, []);
		this.rules = res.items || [];
		var stored = this.storedPrograms();
		var rows = this.rules.map(L.bind(function(r) {
			var when = [];
			if (r.environment) when.push(environmentText(r.environment));
			if (r.threat) when.push(threatText(r.threat));
			return E('tr', { 'class': 'tr', 'data-rule': r.id }, [
				E('td', { 'class': 'td' }, text(r.id)),
				E('td', { 'class': 'td' }, text(r.name || '')),
				E('td', { 'class': 'td', 'data-field': 'kind' }, text(KINDS[r.kind] || r.kind)),
				E('td', { 'class': 'td', 'data-field': 'enabled' }, text(r.enabled ? _('yes') : _('no'))),
				E('td', { 'class': 'td' }, text(r.priority)),
				E('td', { 'class': 'td', 'data-field': 'when' }, text(when.join(_(' and ')))),
				E('td', { 'class': 'td', 'data-field': 'remedy' }, text(remedyText(r.remedy || {}, stored))),
				E('td', { 'class': 'td' }, [
					E('button', { 'class': 'btn cbi-button cbi-button-edit', 'data-action': 'edit', 'disabled': tgrpc.writeDisabled(),
						'click': ui.createHandlerFn(this, 'openEditor', r) }, [ _('Edit') ]), ' ',
					E('button', { 'class': 'btn cbi-button cbi-button-remove', 'data-action': 'delete', 'disabled': tgrpc.writeDisabled(),
						'click': ui.createHandlerFn(this, 'handleDelete', r.id) }, [ _('Delete') ])
				])
			]);
		}, this));
		if (!rows.length)
			rows = [ E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': 8 },
				E('em', {}, [ _('No rules yet: add one below, or import a rules file.') ]))) ];
		dom.content(body, rows);
	},

	renderPrograms: function(res) {
		if (!res || res.error) {
			dom.content(this.nodes.programsProblem, E('div', { 'class': 'alert-message warning' }, text(res ? res.error : _('no answer'))));
			return;
		}
		dom.content(this.nodes.programsProblem, []);
		this.programs = res;
		var rows = (res.items || []).map(function(p) {
			return E('tr', { 'class': 'tr', 'data-program': p.id, 'data-location': p.location }, [
				E('td', { 'class': 'td' }, text(p.id)),
				E('td', { 'class': 'td' }, text(p.location)),
				E('td', { 'class': 'td' }, text(p.platform)),
				E('td', { 'class': 'td', 'data-field': 'size' }, text(p.size)),
				E('td', { 'class': 'td', 'data-field': 'sha256', 'style': 'font-family:monospace;font-size:85%' }, text(p.sha256)),
				E('td', { 'class': 'td' }, text(p.storedAt ? new Date(p.storedAt).toLocaleString() : '–'))
			]);
		});
		if (!rows.length)
			rows = [ E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': 6 },
				E('em', {}, [ _('No programs stored on the router.') ]))) ];
		dom.content(this.nodes.programs, rows);
	},

	refresh: function() {
		return Promise.all([ callRules(), callPrograms() ]).then(L.bind(function(r) {
			this.renderPrograms(r[1]);
			this.renderRules(r[0]);
		}, this));
	},

	/* ---- the editor ---- */

	programRow: function(p) {
		p = p || {};
		var row = E('div', { 'class': 'tg-program', 'style': 'margin:.3em 0;padding:.3em;border:1px dashed #ccc' }, [
			input('programId', p.id, { 'placeholder': _('program id'), 'size': 16 }), ' ',
			input('location', p.location, { 'placeholder': _('location'), 'size': 24 }), ' ',
			select('platform', PLATFORMS, p.platform || 'any'), ' ',
			input('sha256', p.sha256, { 'placeholder': _('sha256 (a program the host keeps)'), 'size': 30 }), ' ',
			input('args', (p.args || []).join(' '), { 'placeholder': _('arguments'), 'size': 16 }), ' ',
			E('button', { 'class': 'btn cbi-button cbi-button-remove', 'click': function(ev) { ev.preventDefault(); row.remove(); } }, [ _('Remove') ])
		]);
		row.tgTimeout = p.timeoutMs;
		return row;
	},

	fileOpRow: function(f) {
		f = f || {};
		var row = E('div', { 'class': 'tg-fileop', 'style': 'margin:.3em 0;padding:.3em;border:1px dashed #ccc' }, [
			select('op', FILE_OPS, f.op || 'quarantine'), ' ',
			input('fileName', f.name, { 'placeholder': _('file name'), 'size': 16 }), ' ',
			input('location', f.location, { 'placeholder': _('directory'), 'size': 24 }), ' ',
			input('mode', (f.mode != null) ? f.mode.toString(8) : '', { 'placeholder': _('mode (octal, chmod)'), 'size': 8 }), ' ',
			input('quarantineId', f.quarantineId, { 'placeholder': _('quarantine id (restore)'), 'size': 20 }), ' ',
			E('button', { 'class': 'btn cbi-button cbi-button-remove', 'click': function(ev) { ev.preventDefault(); row.remove(); } }, [ _('Remove') ])
		]);
		return row;
	},

	openEditor: function(rule) {
		var r = rule || { kind: 'environment', enabled: true, priority: 100, remedy: {} };
		var e = r.environment || {}, t = r.threat || {}, range = e.softwareRange || {};
		var form = this.nodes.editor, self = this;
		var q = function(name) { return form.querySelector('[name="' + name + '"]'); };
		var programs = E('div', { 'id': 'tg-edit-programs' }, (r.remedy.programs || []).map(function(p) { return self.programRow(p); }));
		var fileOps = E('div', { 'id': 'tg-edit-fileops' }, (r.remedy.fileOps || []).map(function(f) { return self.fileOpRow(f); }));
		var envBox = E('div', { 'id': 'tg-edit-environment' }, [
			E('h4', {}, [ _('Environment') ]),
			field(_('Operating system'), input('osType', e.osType, { 'placeholder': 'Windows' })),
			field(_('OS versions'), input('osVersions', (e.osVersions || []).join(', ')), _('Any of these, separated by commas.')),
			field(_('Software'), input('software', e.software, { 'placeholder': 'nginx' }), _('A product name, or vendor:product as in CPE.')),
			field(_('Software versions'), input('softwareVersions', (e.softwareVersions || []).join(', ')), _('Any of these exact versions, separated by commas.')),
			field(_('Version range'), [
				input('versionStartIncluding', range.versionStartIncluding, { 'placeholder': _('from (including)'), 'size': 10 }), ' ',
				input('versionStartExcluding', range.versionStartExcluding, { 'placeholder': _('after'), 'size': 10 }), ' ',
				input('versionEndIncluding', range.versionEndIncluding, { 'placeholder': _('up to (including)'), 'size': 10 }), ' ',
				input('versionEndExcluding', range.versionEndExcluding, { 'placeholder': _('before'), 'size': 10 })
			])
		]);
		var threatBox = E('div', { 'id': 'tg-edit-threat' }, [
			E('h4', {}, [ _('Threat') ]),
			field(_('Threat type'), select('threatType', THREAT_TYPES, t.type)),
			field(_('Threat id'), input('threatId', t.id, { 'placeholder': 'CVE-2021-23017' }), _('A CVE, BUGTRAQ, CNCVE or CNNVD id, or a malicious program\'s name.')),
			field(_('Possible matches too'), checkbox('includePossible', t.includePossible), _('Also hosts whose version is only possibly affected (distributions backport fixes).'))
		]);
		var kindHelp = E('div', { 'class': 'cbi-value-description', 'id': 'tg-edit-kind-help' });
		var kind = select('kind', Object.keys(KINDS).map(function(k) { return [ k, KINDS[k] ]; }), r.kind);
		var showKind = function() {
			envBox.style.display = (kind.value === 'threat') ? 'none' : '';
			threatBox.style.display = (kind.value === 'environment') ? 'none' : '';
			dom.content(kindHelp, text(KIND_HELP[kind.value]));
		};
		kind.addEventListener('change', showKind);
		this.editing = rule ? rule.id : null;
		dom.content(form, [
			E('h3', {}, [ rule ? _('Edit rule %s').format(rule.id) : _('New rule') ]),
			E('div', { 'id': 'tg-edit-problem' }),
			field(_('Rule id'), input('id', r.id, rule ? { 'readonly': 'readonly' } : { 'placeholder': 'nginx-cve-2021-23017' }), _('1-64 of letters, digits, . _ -')),
			field(_('Name'), input('name', r.name)),
			field(_('Kind'), [ kind, kindHelp ]),
			field(_('Enabled'), checkbox('enabled', r.enabled !== false)),
			field(_('Priority'), input('priority', r.priority, { 'type': 'number', 'size': 6 }), _('Lower runs first among matching rules.')),
			envBox,
			threatBox,
			E('h4', {}, [ _('Remedy') ]),
			E('div', { 'class': 'cbi-value-description' }, [ _('A program to run (the router sends a program it stores, listed below; otherwise the host must keep it, pinned by its sha256), and/or file operations.') ]),
			programs,
			E('button', { 'class': 'btn cbi-button cbi-button-add', 'data-action': 'add-program', 'click': function(ev) { ev.preventDefault(); programs.appendChild(self.programRow()); } }, [ _('Add program') ]), ' ',
			fileOps,
			E('button', { 'class': 'btn cbi-button cbi-button-add', 'data-action': 'add-fileop', 'click': function(ev) { ev.preventDefault(); fileOps.appendChild(self.fileOpRow()); } }, [ _('Add file operation') ]),
			E('div', { 'style': 'margin-top:1em' }, [
				E('button', { 'class': 'btn cbi-button cbi-button-save', 'data-action': 'save-rule', 'click': ui.createHandlerFn(this, 'handleSaveRule') }, [ _('Save rule') ]), ' ',
				E('button', { 'class': 'btn cbi-button cbi-button-reset', 'data-action': 'cancel', 'click': function(ev) { ev.preventDefault(); self.closeEditor(); } }, [ _('Cancel') ])
			])
		]);
		showKind();
		form.style.display = '';
		q('id').focus();
	},

	closeEditor: function() {
		dom.content(this.nodes.editor, []);
		this.nodes.editor.style.display = 'none';
		this.editing = null;
	},

	/* The editor's fields as a rule for the API (empty fields left out: the API says what is missing). */
	ruleFromEditor: function() {
		var form = this.nodes.editor;
		var val = function(root, name) { var n = root.querySelector('[name="' + name + '"]'); return n ? n.value.trim() : ''; };
		var kind = val(form, 'kind');
		var rule = { id: val(form, 'id'), kind: kind, enabled: form.querySelector('[name="enabled"]').checked };
		if (val(form, 'name')) rule.name = val(form, 'name');
		if (val(form, 'priority') !== '') rule.priority = +val(form, 'priority');
		if (kind !== 'threat') {
			var env = {}, range = {};
			if (val(form, 'osType')) env.osType = val(form, 'osType');
			if (list(val(form, 'osVersions')).length) env.osVersions = list(val(form, 'osVersions'));
			if (val(form, 'software')) env.software = val(form, 'software');
			if (list(val(form, 'softwareVersions')).length) env.softwareVersions = list(val(form, 'softwareVersions'));
			[ 'versionStartIncluding', 'versionStartExcluding', 'versionEndIncluding', 'versionEndExcluding' ].forEach(function(k) {
				if (val(form, k)) range[k] = val(form, k);
			});
			if (Object.keys(range).length) env.softwareRange = range;
			rule.environment = env;
		}
		if (kind !== 'environment') {
			var threat = { includePossible: form.querySelector('[name="includePossible"]').checked };
			if (val(form, 'threatType')) threat.type = val(form, 'threatType');
			if (val(form, 'threatId')) threat.id = val(form, 'threatId');
			rule.threat = threat;
		}
		var programs = Array.prototype.map.call(form.querySelectorAll('.tg-program'), function(row) {
			var p = { id: val(row, 'programId'), location: val(row, 'location'), platform: val(row, 'platform') };
			if (val(row, 'sha256')) p.sha256 = val(row, 'sha256').toLowerCase();
			var args = val(row, 'args');
			if (args) p.args = args.split(/\s+/);
			if (row.tgTimeout) p.timeoutMs = row.tgTimeout;
			return p;
		});
		var fileOps = Array.prototype.map.call(form.querySelectorAll('.tg-fileop'), function(row) {
			var f = { op: val(row, 'op'), name: val(row, 'fileName'), location: val(row, 'location') };
			if (val(row, 'mode') !== '') f.mode = /^[0-7]{1,4}$/.test(val(row, 'mode')) ? parseInt(val(row, 'mode'), 8) : -1;
			if (val(row, 'quarantineId')) f.quarantineId = val(row, 'quarantineId');
			return f;
		});
		rule.remedy = {};
		if (programs.length) rule.remedy.programs = programs;
		if (fileOps.length) rule.remedy.fileOps = fileOps;
		return rule;
	},

	handleSaveRule: function(ev) {
		if (ev) ev.preventDefault();
		var rule = this.ruleFromEditor(), creating = (this.editing == null);
		var problem = this.nodes.editor.querySelector('#tg-edit-problem');
		return callRuleSave(rule, creating).then(L.bind(function(res) {
			if (!res || res.error) {
				dom.content(problem, E('div', { 'class': 'alert-message error', 'data-error': 'rule' }, text(res ? res.error : _('no answer'))));
				return;
			}
			this.closeEditor();
			/* The table first, then the word: what the notification says is on the page by then. */
			return this.refresh().then(function() {
				ui.addNotification(null, E('p', {}, text((creating ? _('Rule %s added.') : _('Rule %s saved.')).format(rule.id))), 'info');
			});
		}, this));
	},

	handleDelete: function(id) {
		return callRuleDelete(id).then(L.bind(function(res) {
			if (!res || res.error) {
				ui.addNotification(null, E('p', {}, text(_('Could not delete rule %s: %s').format(id, res ? res.error : _('no answer')))), 'error');
				return;
			}
			return this.refresh().then(function() {
				ui.addNotification(null, E('p', {}, text(_('Rule %s deleted.').format(id))), 'info');
			});
		}, this));
	},

	/* ---- program upload ---- */

	handleUpload: function(ev) {
		if (ev) ev.preventDefault();
		var n = this.nodes.upload, file = n.file.files[0];
		var fail = function(msg) {
			dom.content(n.problem, E('div', { 'class': 'alert-message error', 'data-error': 'upload' }, text(msg)));
		};
		dom.content(n.problem, []);
		if (!file) return fail(_('Choose the program file first.'));
		if (file.size > MAX_PROGRAM_BYTES) return fail(_('%s is %d bytes: the router keeps programs up to %d bytes.').format(file.name, file.size, MAX_PROGRAM_BYTES));
		if (!n.id.value.trim() || !n.location.value.trim()) return fail(_('A program needs an id and a location (what a rule names).'));
		var data = new FormData();
		data.append('sessionid', L.env.sessionid);
		data.append('filename', UPLOAD_PATH);
		data.append('filedata', file);
		return request.post(L.env.cgi_base + '/cgi-upload', data).then(L.bind(function(res) {
			var reply = null;
			try { reply = res.json(); } catch (e) {}
			if (!res.ok || !reply || reply.failure)
				throw new Error(_('the upload failed: %s').format((reply && reply.message) || res.statusText || res.status));
			return callProgramAdd(n.id.value.trim(), n.location.value.trim(), n.platform.value);
		}, this)).then(L.bind(function(res) {
			if (!res || res.error)
				return fail(res ? res.error : _('no answer'));
			n.file.value = '';
			return this.refresh().then(function() {
				ui.addNotification(null, E('p', {}, text(_('Stored program %s for %s: %d bytes, sha256 %s.').format(res.id, res.location, res.size, res.sha256))), 'info');
			});
		}, this)).catch(function(e) { fail((e && e.message) || String(e)); });
	},

	render: function(data) {
		this.nodes = {
			problem: E('div'),
			rules: E('tbody', { 'id': 'tg-rules' }),
			editor: E('div', { 'id': 'tg-rule-editor', 'class': 'cbi-section', 'style': 'display:none' }),
			programsProblem: E('div'),
			programs: E('tbody', { 'id': 'tg-programs' }),
			upload: {
				problem: E('div', { 'id': 'tg-upload-problem' }),
				file: E('input', { 'type': 'file', 'id': 'tg-upload-file' }),
				id: input('program-id', '', { 'id': 'tg-upload-id', 'placeholder': _('program id') }),
				location: input('program-location', '', { 'id': 'tg-upload-location', 'placeholder': _('location') }),
				platform: select('program-platform', PLATFORMS, 'any')
			}
		};
		this.nodes.upload.platform.id = 'tg-upload-platform';
		this.renderPrograms(data[1]);
		this.renderRules(data[0]);
		var u = this.nodes.upload;
		return E('div', { 'id': 'tg-rules-page' }, [
			E('h2', {}, [ _('tunguard: remediation rules') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('When a host matches a rule, its remedy can be sent to the host\'s agent (see Hosts). Lower priority runs first.') ]),
			E('div', { 'class': 'cbi-section' }, [
				this.nodes.problem,
				E('table', { 'class': 'table' }, [
					E('thead', {}, E('tr', { 'class': 'tr table-titles' }, [
						E('th', { 'class': 'th' }, [ _('Rule') ]),
						E('th', { 'class': 'th' }, [ _('Name') ]),
						E('th', { 'class': 'th' }, [ _('Kind') ]),
						E('th', { 'class': 'th' }, [ _('Enabled') ]),
						E('th', { 'class': 'th' }, [ _('Priority') ]),
						E('th', { 'class': 'th' }, [ _('Matches when') ]),
						E('th', { 'class': 'th' }, [ _('Remedy') ]),
						E('th', { 'class': 'th' }, [ _('Action') ])
					])),
					this.nodes.rules
				]),
				E('button', { 'class': 'btn cbi-button cbi-button-add', 'data-action': 'add-rule', 'disabled': tgrpc.writeDisabled(),
					'click': ui.createHandlerFn(this, 'openEditor', null) }, [ _('Add rule') ])
			]),
			this.nodes.editor,
			E('div', { 'class': 'cbi-section', 'id': 'tg-programs-section' }, [
				E('h3', {}, [ _('Programs the router sends') ]),
				E('div', { 'class': 'cbi-map-descr' }, [ _('A rule\'s program with the same id and location is sent to the host\'s agent with its bytes; the agent checks the sha256 and runs it (the agent must allow programs sent by the router).') ]),
				this.nodes.programsProblem,
				E('table', { 'class': 'table' }, [
					E('thead', {}, E('tr', { 'class': 'tr table-titles' }, [
						E('th', { 'class': 'th' }, [ _('Program') ]),
						E('th', { 'class': 'th' }, [ _('Location') ]),
						E('th', { 'class': 'th' }, [ _('Platform') ]),
						E('th', { 'class': 'th' }, [ _('Bytes') ]),
						E('th', { 'class': 'th' }, [ 'sha256' ]),
						E('th', { 'class': 'th' }, [ _('Stored') ])
					])),
					this.nodes.programs
				]),
				E('h4', {}, [ _('Upload a program') ]),
				u.problem,
				field(_('File'), u.file, _('At most 2 MiB.')),
				field(_('Program id'), u.id),
				field(_('Location'), u.location, _('Where the host runs it from, as rules name it.')),
				field(_('Platform'), u.platform),
				E('button', { 'class': 'btn cbi-button cbi-button-apply', 'data-action': 'upload', 'disabled': tgrpc.writeDisabled(),
					'click': ui.createHandlerFn(this, 'handleUpload') }, [ _('Upload') ])
			])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});

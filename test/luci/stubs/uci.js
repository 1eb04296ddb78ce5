'use strict';
'require baseclass';
'require rpc';

// Test stand-in for LuCI's uci module: loads a config through ubus `uci get` (once, as LuCI caches it),
// keeps the edits of the page (set, unset, add, remove) and sends them with `uci add` / `uci set` /
// `uci delete` on save(), then reloads. apply() asks for `uci apply` and `uci confirm`, as LuCI's
// "Save & Apply" does.

var callGet = rpc.declare({ object: 'uci', method: 'get', params: [ 'config' ], expect: { values: {} }, reject: true });
var callAdd = rpc.declare({ object: 'uci', method: 'add', params: [ 'config', 'type', 'name', 'values' ], expect: { section: '' }, reject: true });
var callSet = rpc.declare({ object: 'uci', method: 'set', params: [ 'config', 'section', 'values' ], reject: true });
var callDelete = rpc.declare({ object: 'uci', method: 'delete', params: [ 'config', 'section', 'options' ], reject: true });
var callApply = rpc.declare({ object: 'uci', method: 'apply', params: [ 'timeout', 'rollback' ], reject: true });
var callConfirm = rpc.declare({ object: 'uci', method: 'confirm', reject: true });

var newId = 0;

return baseclass.extend({
	__init__: function() {
		this.state = { values: {}, created: {}, changed: {}, deleted: {}, removed: {} };
	},

	/* Loaded once; `force` (after a save, on reset) reads it again and drops the page's edits. */
	load: function(config, force) {
		var self = this;
		if (this.state.values[config] && !force)
			return Promise.resolve(config);
		return callGet(config).then(function(values) {
			self.state.values[config] = values;
			[ 'created', 'changed', 'deleted', 'removed' ].forEach(function(k) { delete self.state[k][config]; });
			return config;
		});
	},

	/* The section as the page sees it: the loaded one or a new one, with this page's edits on top. */
	section: function(config, sid) {
		var s = this.state;
		if (s.removed[config] && s.removed[config][sid]) return null;
		var base = (s.created[config] && s.created[config][sid]) || (s.values[config] && s.values[config][sid]);
		if (!base) return null;
		var out = Object.assign({}, base);
		var changed = (s.changed[config] || {})[sid] || {}, deleted = (s.deleted[config] || {})[sid] || {};
		Object.keys(changed).forEach(function(k) { out[k] = changed[k]; });
		Object.keys(deleted).forEach(function(k) { delete out[k]; });
		return out;
	},

	get: function(config, sid, opt) {
		if (!this.state.values[config]) throw new Error('uci stub: config ' + config + ' is not loaded');
		var s = this.section(config, sid);
		if (!s) return null;
		return (opt == null) ? s : s[opt];
	},

	set: function(config, sid, opt, value) {
		if (value == null) return this.unset(config, sid, opt);
		if (!this.section(config, sid)) throw new Error('uci stub: no section ' + sid);
		if (!this.state.changed[config]) this.state.changed[config] = {};
		var c = this.state.changed[config];
		if (!c[sid]) c[sid] = {};
		c[sid][opt] = Array.isArray(value) ? value.slice() : String(value);
		var d = (this.state.deleted[config] || {})[sid];
		if (d) delete d[opt];
	},

	unset: function(config, sid, opt) {
		var c = (this.state.changed[config] || {})[sid];
		if (c) delete c[opt];
		if (!this.state.deleted[config]) this.state.deleted[config] = {};
		var d = this.state.deleted[config];
		if (!d[sid]) d[sid] = {};
		d[sid][opt] = true;
	},

	add: function(config, type, name) {
		newId++;
		var sid = name || ('new' + newId.toString(16).padStart(6, '0'));
		if (!this.state.created[config]) this.state.created[config] = {};
		this.state.created[config][sid] = { '.name': sid, '.type': type, '.anonymous': !name, '.index': 10000 + newId, '.create': name || null };
		return sid;
	},

	remove: function(config, sid) {
		if (this.state.created[config] && this.state.created[config][sid]) {
			delete this.state.created[config][sid];
			return;
		}
		if (!this.state.removed[config]) this.state.removed[config] = {};
		this.state.removed[config][sid] = true;
	},

	sections: function(config, type, cb) {
		var self = this, all = Object.assign({}, this.state.values[config] || {}, this.state.created[config] || {});
		var list = Object.keys(all).map(function(sid) { return self.section(config, sid); })
			.filter(function(s) { return s && (!type || s['.type'] === type); })
			.sort(function(a, b) { return a['.index'] - b['.index']; });
		if (typeof cb === 'function') list.forEach(function(s) { cb.call(self, s, s['.name']); });
		return list;
	},

	/* Sends this page's edits (new sections first), then reloads what was loaded. */
	save: function() {
		var self = this, s = this.state, tasks = [];
		Object.keys(s.values).forEach(function(config) {
			var created = s.created[config] || {}, removed = s.removed[config] || {};
			Object.keys(created).forEach(function(sid) {
				var sec = self.section(config, sid), values = {};
				Object.keys(sec).forEach(function(k) { if (k.charAt(0) !== '.') values[k] = sec[k]; });
				tasks.push(function() { return callAdd(config, sec['.type'], sec['.create'] || undefined, values); });
			});
			Object.keys(removed).forEach(function(sid) {
				tasks.push(function() { return callDelete(config, sid); });
			});
			Object.keys(s.changed[config] || {}).forEach(function(sid) {
				if (created[sid] || removed[sid]) return;
				var values = s.changed[config][sid];
				if (Object.keys(values).length) tasks.push(function() { return callSet(config, sid, values); });
			});
			Object.keys(s.deleted[config] || {}).forEach(function(sid) {
				if (created[sid] || removed[sid]) return;
				var opts = Object.keys(s.deleted[config][sid]);
				if (opts.length) tasks.push(function() { return callDelete(config, sid, opts); });
			});
		});
		return tasks.reduce(function(p, t) { return p.then(t); }, Promise.resolve()).then(function() {
			return Promise.all(Object.keys(s.values).map(function(config) { return self.load(config, true); }));
		});
	},

	apply: function(timeout) {
		return callApply(timeout || 10, true).then(function() { return callConfirm(); });
	}
});

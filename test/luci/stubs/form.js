'use strict';
'require baseclass';
'require dom';
'require uci';
'require ui';

// Test stand-in for the parts of LuCI's form module the settings view uses: Map, NamedSection,
// TypedSection and the Value, Flag, ListValue, DynamicList options, with LuCI's datatype expressions
// (only the types below; any other is refused loudly) and per-option validate functions. Input ids
// follow LuCI's: widget.cbid.<config>.<section>.<option>. save() validates every field, writes the
// changed ones to uci, uci.save()s and renders again; an invalid field stops the save.

function decimal(v) {
	return /^-?[0-9]+(\.[0-9]+)?$/.test(v) ? +v : NaN;
}

/* name → function(value, args...) returning true or what was expected (as LuCI phrases it). */
var DATATYPES = {
	integer: function(v) { return /^-?[0-9]+$/.test(v) || _('valid integer value'); },
	uinteger: function(v) { return /^[0-9]+$/.test(v) || _('positive integer value'); },
	range: function(v, min, max) { var n = decimal(v); return (n >= min && n <= max) || _('value between %s and %s').format(min, max); },
	min: function(v, min) { return decimal(v) >= min || _('value greater or equal to %s').format(min); },
	max: function(v, max) { return decimal(v) <= max || _('value smaller or equal to %s').format(max); },
	port: function(v) { return (/^[0-9]+$/.test(v) && +v <= 65535) || _('valid port value'); },
	and: function(v, a, b) { var r = check(a, v); return (r === true) ? check(b, v) : r; },
	or: function(v, a, b) { var r = check(a, v); return (r === true || check(b, v) === true) ? true : r; }
};

/* "and(uinteger,range(1,16))" → { name, args } with numbers or nested types as arguments. */
function parseType(src) {
	var pos = 0;
	var fail = function() { throw new Error('datatype stub: cannot parse "' + src + '"'); };
	var node = function() {
		var m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*/.exec(src.slice(pos));
		if (!m) fail();
		pos += m[0].length;
		var n = { name: m[1], args: [] };
		if (!DATATYPES[n.name]) throw new Error('datatype stub: "' + n.name + '" is not implemented');
		if (src.charAt(pos) === '(') {
			pos++;
			while (src.charAt(pos) !== ')') {
				var num = /^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*/.exec(src.slice(pos));
				if (num) { n.args.push(+num[1]); pos += num[0].length; }
				else n.args.push(node());
				if (src.charAt(pos) === ',') pos++;
				else if (src.charAt(pos) !== ')') fail();
			}
			pos++;
		}
		return n;
	};
	var tree = node();
	if (pos !== src.length) fail();
	return tree;
}

function check(tree, value) {
	return DATATYPES[tree.name].apply(null, [ value ].concat(tree.args));
}

var AbstractValue = baseclass.extend({
	__init__: function(map, section, option, title, description) {
		this.map = map;
		this.section = section;
		this.option = option;
		this.title = title || '';
		this.description = description || '';
		this.rmempty = true;
		this.optional = false;
		this.datatype = null;
		this.placeholder = null;
		this.default = null;
	},
	validate: function(section_id, value) { return true; },
	/* What an option needs before it renders (LuCI calls it per section after uci.load). */
	load: function(sid) { return Promise.resolve(this.cfgvalue(sid)); },
	cbid: function(sid) { return 'cbid.' + this.map.config + '.' + sid + '.' + this.option; },
	widgetNode: function(sid) { return document.getElementById('widget.' + this.cbid(sid)); },
	cfgvalue: function(sid) {
		var v = uci.get(this.map.config, sid, this.option);
		return (v == null) ? this.default : v;
	},
	formvalue: function(sid) {
		var w = this.widgetNode(sid);
		return w ? w.value : null;
	},
	/* The datatype, then the option's own validate(); each list item on its own. */
	checkOne: function(sid, value) {
		if (value === '' && (this.rmempty || this.optional)) return true;
		if (value === '') return _('non-empty value');
		if (this.datatype) {
			var r = check(parseType(this.datatype), value);
			if (r !== true) return _('Expecting: %s').format(r);
		}
		var own = this.validate(sid, value);
		return (own === true || own == null) ? true : String(own);
	},
	isValid: function(sid) {
		var fv = this.formvalue(sid);
		var values = Array.isArray(fv) ? fv : [ (fv == null) ? '' : fv ];
		if (!values.length) values = [ '' ];
		var error = null;
		for (var i = 0; i < values.length && error == null; i++) {
			var r = this.checkOne(sid, values[i]);
			if (r !== true) error = r;
		}
		var box = document.getElementById(this.cbid(sid));
		if (box) {
			box.classList.toggle('cbi-value-invalid', error != null);
			var w = this.widgetNode(sid);
			if (w) w.classList.toggle('cbi-input-invalid', error != null);
			dom.content(box.querySelector('.cbi-value-error'), [ error || '' ]);
		}
		return error == null;
	},
	empty: function(v) { return v == null || v === '' || (Array.isArray(v) && v.length === 0); },
	same: function(a, b) { return JSON.stringify(a == null ? null : a) === JSON.stringify(b == null ? null : b); },
	parse: function(sid) {
		if (!this.isValid(sid))
			return Promise.reject(new TypeError(_('Option "%s" contains an invalid input value.').format(this.title || this.option)));
		var fv = this.formvalue(sid), stored = uci.get(this.map.config, sid, this.option);
		if (!this.empty(fv)) {
			if (!this.same(fv, stored)) uci.set(this.map.config, sid, this.option, fv);
		}
		else if (this.rmempty || this.optional) {
			if (stored != null) uci.unset(this.map.config, sid, this.option);
		}
		else return Promise.reject(new TypeError(_('Option "%s" must not be empty.').format(this.title || this.option)));
		return Promise.resolve();
	},
	renderWidget: function(sid, value) {
		return E('input', { 'type': 'text', 'class': 'cbi-input-text', 'id': 'widget.' + this.cbid(sid),
			'value': (value == null) ? '' : value, 'placeholder': this.placeholder });
	},
	render: function(sid) {
		var self = this;
		var widget = this.renderWidget(sid, this.cfgvalue(sid));
		widget.addEventListener('change', function() { self.isValid(sid); });
		return E('div', { 'class': 'cbi-value', 'id': this.cbid(sid), 'data-name': this.option }, [
			E('label', { 'class': 'cbi-value-title', 'for': 'widget.' + this.cbid(sid) }, [ this.title ]),
			E('div', { 'class': 'cbi-value-field' }, [
				widget,
				E('div', { 'class': 'cbi-value-error', 'style': 'color:#c00' }),
				this.description ? E('div', { 'class': 'cbi-value-description' }, [ this.description ]) : ''
			])
		]);
	}
});

var Value = AbstractValue.extend({});

var Flag = AbstractValue.extend({
	__init__: function() {
		AbstractValue.prototype.__init__.apply(this, arguments);
		this.enabled = '1';
		this.disabled = '0';
		this.default = this.disabled;
	},
	formvalue: function(sid) {
		var w = this.widgetNode(sid);
		return w ? (w.checked ? this.enabled : this.disabled) : null;
	},
	renderWidget: function(sid, value) {
		return E('input', { 'type': 'checkbox', 'id': 'widget.' + this.cbid(sid), 'checked': (value === this.enabled) ? '' : null });
	}
});

var ListValue = AbstractValue.extend({
	__init__: function() {
		AbstractValue.prototype.__init__.apply(this, arguments);
		this.keylist = [];
		this.vallist = [];
	},
	value: function(key, label) {
		this.keylist.push(String(key));
		this.vallist.push(label != null ? label : key);
	},
	renderWidget: function(sid, value) {
		var self = this;
		return E('select', { 'id': 'widget.' + this.cbid(sid), 'class': 'cbi-input-select' }, this.keylist.map(function(k, i) {
			return E('option', { 'value': k, 'selected': (k === value) ? '' : null }, [ self.vallist[i] ]);
		}));
	}
});

/* Items with a remove button and an input to add more; the input's text counts as an item, as in LuCI. */
var DynamicList = AbstractValue.extend({
	cfgvalue: function(sid) {
		var v = uci.get(this.map.config, sid, this.option);
		return L.toArray(v == null ? this.default : v);
	},
	formvalue: function(sid) {
		var box = document.getElementById(this.cbid(sid));
		if (!box) return null;
		var items = Array.prototype.map.call(box.querySelectorAll('.cbi-dynlist .item'), function(i) { return i.getAttribute('data-value'); });
		var pending = this.widgetNode(sid).value.trim();
		if (pending !== '' && items.indexOf(pending) < 0) items.push(pending);
		return items;
	},
	renderItem: function(value) {
		var item = E('div', { 'class': 'item', 'data-value': value }, [
			E('span', {}, [ value ]), ' ',
			E('button', { 'class': 'btn cbi-button-remove', 'type': 'button', 'title': _('Remove'), 'click': function() { item.remove(); } }, [ '×' ])
		]);
		return item;
	},
	renderWidget: function(sid, values) {
		var self = this;
		var input = E('input', { 'type': 'text', 'class': 'cbi-input-text', 'id': 'widget.' + this.cbid(sid), 'placeholder': this.placeholder });
		var list = E('div', { 'class': 'cbi-dynlist' }, values.map(function(v) { return self.renderItem(v); }));
		var add = function() {
			var v = input.value.trim();
			if (v === '') return;
			if (self.checkOne(sid, v) !== true) { self.isValid(sid); return; }
			list.appendChild(self.renderItem(v));
			input.value = '';
			self.isValid(sid);
		};
		input.addEventListener('keydown', function(ev) { if (ev.key === 'Enter') { ev.preventDefault(); add(); } });
		list.appendChild(E('div', { 'class': 'add-item' }, [ input, ' ',
			E('button', { 'class': 'btn cbi-button-add', 'type': 'button', 'click': add }, [ '+' ]) ]));
		return list;
	}
});

var AbstractSection = baseclass.extend({
	__init__: function(map, title, description) {
		this.map = map;
		this.title = title || '';
		this.description = description || '';
		this.children = [];
		this.addremove = false;
		this.anonymous = false;
	},
	option: function(cls, name, title, description) {
		if (!(cls.prototype instanceof AbstractValue)) throw new TypeError('option(): not an option class');
		var o = new cls(this.map, this, name, title, description);
		this.children.push(o);
		return o;
	},
	load: function() {
		var self = this;
		return Promise.all(this.cfgsections().map(function(sid) {
			return Promise.all(self.children.map(function(o) { return o.load(sid); }));
		}));
	},
	formvalue: function(sid, name) {
		for (var i = 0; i < this.children.length; i++)
			if (this.children[i].option === name) return this.children[i].formvalue(sid);
		return null;
	},
	renderOptions: function(sid) {
		return E('div', { 'class': 'cbi-section-node', 'id': 'cbi-' + this.map.config + '-' + sid },
			this.children.map(function(o) { return o.render(sid); }));
	},
	parse: function() {
		var self = this;
		return this.cfgsections().reduce(function(p, sid) {
			return self.children.reduce(function(q, o) { return q.then(function() { return o.parse(sid); }); }, p);
		}, Promise.resolve());
	},
	head: function() {
		return [ this.title ? E('h3', {}, [ this.title ]) : '',
			this.description ? E('div', { 'class': 'cbi-section-descr' }, [ this.description ]) : '' ];
	}
});

var NamedSection = AbstractSection.extend({
	__init__: function(map, sid, type, title, description) {
		AbstractSection.prototype.__init__.call(this, map, title, description);
		this.section = sid;
		this.sectiontype = type;
	},
	cfgsections: function() { return uci.get(this.map.config, this.section) ? [ this.section ] : []; },
	render: function() {
		var exists = this.cfgsections().length > 0;
		return E('fieldset', { 'class': 'cbi-section', 'id': 'cbi-' + this.map.config + '-' + this.section },
			this.head().concat(exists ? [ this.renderOptions(this.section) ] : [ E('em', {}, [ _('This section is not in the configuration.') ]) ]));
	}
});

var TypedSection = AbstractSection.extend({
	__init__: function(map, type, title, description) {
		AbstractSection.prototype.__init__.call(this, map, title, description);
		this.sectiontype = type;
	},
	cfgsections: function() {
		return uci.sections(this.map.config, this.sectiontype).map(function(s) { return s['.name']; });
	},
	render: function() {
		var self = this;
		var nodes = this.cfgsections().map(function(sid) {
			return E('div', { 'class': 'cbi-section-item', 'data-section': sid }, [
				self.renderOptions(sid),
				self.addremove ? E('button', { 'class': 'cbi-button cbi-button-remove', 'type': 'button', 'click': function() {
					/* Keep what was typed elsewhere, as LuCI does. */
					return self.map.parse(true).then(function() {
						uci.remove(self.map.config, sid);
						return self.map.rerender();
					});
				} }, [ _('Delete') ]) : ''
			]);
		});
		if (this.addremove)
			nodes.push(E('button', { 'class': 'cbi-button cbi-button-add', 'type': 'button', 'data-add': this.sectiontype, 'click': function() {
				return self.map.parse(true).then(function() {
					uci.add(self.map.config, self.sectiontype);
					return self.map.rerender();
				});
			} }, [ _('Add') ]));
		return E('fieldset', { 'class': 'cbi-section', 'id': 'cbi-' + this.map.config + '-' + this.sectiontype }, this.head().concat(nodes));
	}
});

var Map = baseclass.extend({
	__init__: function(config, title, description) {
		this.config = config;
		this.title = title || '';
		this.description = description || '';
		this.children = [];
	},
	section: function(cls, a, b, c, d) {
		if (!(cls.prototype instanceof AbstractSection)) throw new TypeError('section(): not a section class');
		var s = new cls(this, a, b, c, d);
		this.children.push(s);
		return s;
	},
	load: function() {
		var self = this;
		return uci.load(this.config).then(function() {
			return Promise.all(self.children.map(function(s) { return s.load(); }));
		});
	},
	renderContents: function() {
		return [ this.title ? E('h2', {}, [ this.title ]) : '',
			this.description ? E('div', { 'class': 'cbi-map-descr' }, [ this.description ]) : '' ]
			.concat(this.children.map(function(s) { return s.render(); }));
	},
	render: function() {
		var self = this;
		return this.load().then(function() {
			self.root = E('div', { 'class': 'cbi-map', 'id': 'cbi-' + self.config }, self.renderContents());
			dom.bindClassInstance(self.root, self);
			return self.root;
		});
	},
	rerender: function() {
		dom.content(this.root, this.renderContents());
		return Promise.resolve();
	},
	/* Every field into uci; with `quiet`, an invalid field ends the parse without an error. */
	parse: function(quiet) {
		var self = this;
		return this.children.reduce(function(p, s) { return p.then(function() { return s.parse(); }); }, Promise.resolve())
			.catch(function(err) {
				if (!quiet) throw err;
			}).then(function() { return self; });
	},
	save: function() {
		var self = this;
		return this.parse().catch(function(err) {
			ui.addNotification(null, E('p', {}, [ _('One or more fields contain invalid values: %s').format(err.message) ]), 'error');
			err.reported = true;
			throw err;
		}).then(function() { return uci.save(); }).then(function() { return self.rerender(); });
	},
	reset: function() {
		return uci.load(this.config, true).then(this.rerender.bind(this));
	}
});

return baseclass.extend({
	Map: Map,
	NamedSection: NamedSection,
	TypedSection: TypedSection,
	Value: Value,
	Flag: Flag,
	ListValue: ListValue,
	DynamicList: DynamicList
});

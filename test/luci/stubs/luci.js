// Test stand-in for what LuCI's luci.js gives a view: the class helper, L (module loader, env,
// helpers), dom, poll, request, the View base class, and the globals E(), _() and String#format.
// Written for the tunguard views' tests; it follows LuCI's documented behaviour where the views depend
// on it (module format and 'require' lines, E()'s string-child-is-HTML rule, poll ticks, view footer),
// and throws on anything it does not implement instead of pretending. (Not linted by biome: it is
// browser ES5 in LuCI's style, like luci-app/.)
(function(window, document) {
	'use strict';

	/* Class helper: extend() makes a constructor that runs __init__ (own or inherited). */
	var Class = function() {};
	Class.extend = function(props) {
		var Parent = this;
		var Ctor = function() {
			if (!(this instanceof Ctor))
				throw new TypeError('Constructor must be called with new');
			if (typeof this.__init__ === 'function')
				this.__init__.apply(this, arguments);
		};
		Ctor.prototype = Object.create(Parent.prototype);
		Object.keys(props).forEach(function(k) { Ctor.prototype[k] = props[k]; });
		Ctor.prototype.constructor = Ctor;
		Ctor.prototype.__base__ = Parent.prototype;
		Ctor.extend = Class.extend;
		Ctor.singleton = Class.singleton;
		Ctor.instantiate = Class.instantiate;
		Ctor.isSubclass = Class.isSubclass;
		return Ctor;
	};
	Class.singleton = function(props) { return new (this.extend(props))(); };
	Class.instantiate = function(args) {
		var C = this;
		return new (Function.prototype.bind.apply(C, [ null ].concat(args || [])))();
	};
	Class.isSubclass = function(c) { return typeof c === 'function' && c.prototype instanceof this; };
	Class.prototype.varargs = function(args, offset) {
		return Array.prototype.slice.call(arguments, 2).concat(Array.prototype.slice.call(args, offset));
	};

	/* String#format: the subset the views use (%s, %d, %%); anything else is refused loudly. */
	String.prototype.format = function() {
		var args = arguments, i = 0;
		return this.replace(/%(%|s|d|[a-z])/g, function(m, c) {
			if (c === '%') return '%';
			var v = args[i++];
			if (c === 's') return (v == null) ? '' : String(v);
			if (c === 'd') return String(Math.trunc(+v || 0));
			throw new Error('String.format stub: %' + c + ' is not implemented');
		});
	};

	var dom = Class.singleton({
		registry: {},
		nextId: 1,
		elem: function(e) { return e != null && typeof e === 'object' && 'nodeType' in e; },
		/* Like LuCI: arrays become children (strings as text nodes); a lone string child is HTML. */
		append: function(node, children) {
			if (!this.elem(node)) return null;
			if (Array.isArray(children)) {
				for (var i = 0; i < children.length; i++) {
					if (this.elem(children[i])) node.appendChild(children[i]);
					else if (children[i] != null) node.appendChild(document.createTextNode(String(children[i])));
				}
				return node.lastChild;
			}
			if (typeof children === 'function') return this.append(node, children(node));
			if (this.elem(children)) return node.appendChild(children);
			if (children != null) { node.innerHTML = String(children); return node.lastChild; }
			return null;
		},
		content: function(node, children) {
			if (!this.elem(node)) return null;
			while (node.firstChild) node.removeChild(node.firstChild);
			return this.append(node, children);
		},
		attr: function(node, attrs) {
			for (var k in attrs) {
				var v = attrs[k];
				if (v == null) continue;
				if (typeof v === 'function') node.addEventListener(k, v);
				else if (typeof v === 'object') node.setAttribute(k, JSON.stringify(v));
				else node.setAttribute(k, v);
			}
		},
		create: function(tag, attrs, children) {
			if (!(attrs instanceof Object) || Array.isArray(attrs)) { children = attrs; attrs = null; }
			var el;
			if (Array.isArray(tag)) {
				el = document.createDocumentFragment();
				for (var i = 0; i < tag.length; i++) el.appendChild(this.create(tag[i]));
			}
			else if (this.elem(tag)) el = tag;
			else if (tag.charAt(0) === '<') throw new Error('dom.create stub: HTML strings are not implemented');
			else el = document.createElement(tag);
			if (attrs) this.attr(el, attrs);
			this.append(el, children);
			return el;
		},
		bindClassInstance: function(node, inst) {
			var id = String(this.nextId++);
			node.setAttribute('data-idref', id);
			this.registry[id] = inst;
			return inst;
		},
		findClassInstance: function(node) {
			for (; node && node.getAttribute; node = node.parentNode) {
				var id = node.getAttribute('data-idref');
				if (id && this.registry[id]) return this.registry[id];
			}
			return null;
		},
		callClassMethod: function(node, method) {
			var inst = this.findClassInstance(node);
			if (!inst || typeof inst[method] !== 'function') return null;
			return inst[method].apply(inst, Array.prototype.slice.call(arguments, 2));
		}
	});

	/* poll: one tick a second; an entry runs every `interval` ticks, never twice at once (as LuCI). */
	var poll = Class.singleton({
		queue: [],
		tick: 0,
		add: function(fn, interval) {
			if (typeof fn !== 'function' || !(interval > 0)) throw new TypeError('Invalid argument to poll.add()');
			for (var i = 0; i < this.queue.length; i++) if (this.queue[i].fn === fn) return false;
			this.queue.push({ fn: fn, interval: interval >>> 0, idle: true });
			this.start();
			return true;
		},
		remove: function(fn) {
			this.queue = this.queue.filter(function(e) { return e.fn !== fn; });
			return true;
		},
		start: function() {
			if (this.timer) return false;
			this.timer = window.setInterval(this.step.bind(this), 1000);
			return true;
		},
		stop: function() {
			if (!this.timer) return false;
			window.clearInterval(this.timer);
			this.timer = null;
			return true;
		},
		active: function() { return this.timer != null; },
		step: function() {
			this.tick++;
			this.queue.forEach(function(e) {
				if (this.tick % e.interval !== 0 || !e.idle) return;
				e.idle = false;
				Promise.resolve().then(e.fn).catch(function(err) { console.error(err); })
					.then(function() { e.idle = true; });
			}, this);
		}
	});

	var request = Class.singleton({
		/* JSON, or a FormData as it is (multipart, as LuCI's request sends uploads). */
		post: function(url, content) {
			var form = (content instanceof window.FormData);
			return window.fetch(url, form ? { method: 'POST', body: content } : {
				method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(content)
			}).then(function(res) {
				return res.text().then(function(text) {
					return { ok: res.ok, status: res.status, statusText: res.statusText, json: function() { return JSON.parse(text); } };
				});
			});
		}
	});

	var classes = {};

	var LuCI = Class.extend({
		__init__: function(env) {
			this.env = env;
			window.L = this;
			document.addEventListener('DOMContentLoaded', this.boot.bind(this));
		},
		/* The view named in env.view, loaded the way LuCI's dispatcher does. */
		boot: function() {
			var self = this;
			this.require('view.' + this.env.view.replace(/\//g, '.')).then(function(view) {
				if (!(view instanceof View)) throw new TypeError(self.env.view + ' is not a view');
			}).catch(this.error.bind(this));
		},
		/* Loads resources/<name>.js: its 'require x [as y]' strings become arguments of its factory,
		 * whose return value must be a class; the module is that class's one instance. */
		require: function(name, from) {
			var self = this;
			from = from || [];
			if (from.indexOf(name) >= 0) throw new Error('Circular dependency: ' + from.concat(name).join(' -> '));
			if (classes[name]) return Promise.resolve(classes[name]);
			var url = this.env.resource + '/' + name.replace(/\./g, '/') + '.js';
			var p = window.fetch(url).then(function(res) {
				if (!res.ok) throw new Error('HTTP error ' + res.status + ' while loading class file "' + url + '"');
				return res.text();
			}).then(function(source) {
				var deps = [], names = [];
				/* The source's string literals in order, as LuCI reads them: 'use strict' and
				 * 'require x [as y]' are taken until the first other string. */
				for (var i = 0, start = -1, quote = 0, esc = false; i < source.length; i++) {
					var c = source.charCodeAt(i);
					if (esc) { esc = false; continue; }
					if (c === 92) { esc = true; continue; }
					if (quote === 0) {
						if (c === 34 || c === 39) { quote = c; start = i + 1; }
						continue;
					}
					if (c !== quote) continue;
					var s = source.substring(start, i);
					quote = 0;
					if (/^use[ \t]+strict$/.test(s)) continue;
					var r = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([A-Za-z_]\S*))?$/.exec(s);
					if (!r) break;
					deps.push(self.require(r[1], from.concat(name)));
					names.push(r[2] || r[1].replace(/[^A-Za-z0-9_]/g, '_'));
				}
				return Promise.all(deps).then(function(instances) {
					var factory = new Function([ 'window', 'document', 'L' ].concat(names).join(','),
						source + '\n//# sourceURL=' + url);
					var cls = factory.apply(null, [ window, document, self ].concat(instances));
					if (!Class.isSubclass(cls)) throw new TypeError('"' + name + '" factory yields invalid constructor');
					var instance = new cls();
					classes[name] = instance;
					return instance;
				});
			});
			classes[name] = p;
			return p;
		},
		bind: function(fn, self) {
			return Function.prototype.bind.apply(fn, [ self ].concat(Array.prototype.slice.call(arguments, 2)));
		},
		resolveDefault: function(value, dflt) {
			return Promise.resolve(value).catch(function() { return dflt; });
		},
		isObject: function(v) { return v != null && typeof v === 'object'; },
		toArray: function(v) {
			if (v == null) return [];
			if (Array.isArray(v)) return v;
			if (typeof v === 'object') return [ v ];
			var s = String(v).trim();
			return s === '' ? [] : s.split(/\s+/);
		},
		raise: function(type, fmt) {
			var msg = fmt ? String.prototype.format.apply(fmt, Array.prototype.slice.call(arguments, 2)) : 'Unspecified error';
			var e = new Error(msg);
			e.name = type || 'Error';
			throw e;
		},
		/* Shows the error where the view would be and logs it (tests fail on console errors). */
		error: function(e) {
			console.error(e && e.stack ? e.stack : String(e));
			var vp = document.getElementById('view');
			if (vp) dom.content(vp, E('pre', { 'class': 'alert-message error' }, [ String((e && e.message) || e) ]));
			throw e;
		},
		url: function() {
			return this.env.scriptname + '/' + Array.prototype.join.call(arguments, '/');
		},
		/* LuCI's: false when the dispatcher marked the page read-only (the ACL granted only reading). */
		hasViewPermission: function() {
			return !(this.env.nodespec && this.env.nodespec.readonly);
		}
	});

	var View = Class.extend({
		__init__: function() {
			var vp = document.getElementById('view'), self = this;
			dom.content(vp, E('div', { 'class': 'spinning' }, [ _('Loading view…') ]));
			return Promise.resolve(this.load())
				.then(function(data) { return self.render(data); })
				.then(function(nodes) {
					dom.content(vp, nodes);
					dom.append(vp, self.addFooter());
					vp.setAttribute('data-rendered', 'true');
				}).catch(window.L.error.bind(window.L));
		},
		load: function() {},
		render: function() {},
		handleSave: function() {
			return Promise.all(Array.prototype.map.call(document.querySelectorAll('#view .cbi-map'), function(map) {
				return dom.callClassMethod(map, 'save');
			}));
		},
		handleSaveApply: function(ev) {
			return this.handleSave(ev).then(function() { return classes.ui.changes.apply(true); });
		},
		handleReset: function() {
			return Promise.all(Array.prototype.map.call(document.querySelectorAll('#view .cbi-map'), function(map) {
				return dom.callClassMethod(map, 'reset');
			}));
		},
		/* Save & Apply / Save / Reset, as LuCI adds them: only for views that keep the handlers. */
		addFooter: function() {
			var self = this, buttons = [];
			var button = function(cls, label, fn) {
				return E('button', { 'class': 'cbi-button ' + cls, 'click': function(ev) {
					return Promise.resolve(fn.call(self, ev)).catch(function(err) {
						if (!err || !err.reported)
							classes.ui.addNotification(null, E('p', {}, [ String((err && err.message) || err) ]), 'error');
					});
				} }, [ label ]);
			};
			if (this.handleSaveApply) buttons.push(button('cbi-button-apply', _('Save & Apply'), this.handleSaveApply));
			if (this.handleSave) buttons.push(button('cbi-button-save', _('Save'), this.handleSave));
			if (this.handleReset) buttons.push(button('cbi-button-reset', _('Reset'), this.handleReset));
			return buttons.length ? E('div', { 'class': 'cbi-page-actions' }, buttons) : E([]);
		}
	});

	classes.baseclass = Class;
	classes.dom = dom;
	classes.poll = poll;
	classes.request = request;
	classes.view = View;

	window.E = function() { return dom.create.apply(dom, arguments); };
	window._ = function(s) { return s; };
	window.N_ = function(n, s, p) { return n === 1 ? s : p; };
	window.LuCI = LuCI;
	/* Loaded modules by name (the footer needs ui, which the view requires). */
	LuCI.classes = classes;
})(window, document);

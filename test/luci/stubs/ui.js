'use strict';
'require baseclass';
'require dom';
'require uci';

// Test stand-in for the parts of LuCI's ui module the tunguard views use: notifications, modals,
// createHandlerFn (a button is busy while its action runs) and changes.apply ("Save & Apply").

return baseclass.extend({
	/* A dismissable message above the view, as LuCI shows them. */
	addNotification: function(title, children, cls) {
		var area = document.getElementById('tg-notifications');
		var msg = E('div', { 'class': 'alert-message ' + (cls || ''), 'data-notification': cls || 'info' }, [
			title ? E('h4', {}, [ title ]) : '',
			E('div', {}, Array.isArray(children) ? children : [ children ]),
			E('button', { 'class': 'btn', 'click': function() { msg.remove(); } }, [ _('Dismiss') ])
		]);
		area.insertBefore(msg, area.firstChild);
		return msg;
	},

	showModal: function(title, children) {
		var overlay = document.getElementById('modal_overlay');
		dom.content(overlay, E('div', { 'class': 'modal' }, [ E('h4', {}, [ title ]) ].concat(children || [])));
		overlay.style.display = 'block';
		return overlay.firstChild;
	},

	hideModal: function() {
		document.getElementById('modal_overlay').style.display = 'none';
	},

	/* fn (or ctx[fn] when a name) with the extra arguments; the clicked button is disabled meanwhile. */
	createHandlerFn: function(ctx, fn) {
		var args = Array.prototype.slice.call(arguments, 2);
		if (typeof fn === 'string') fn = ctx[fn];
		if (typeof fn !== 'function') throw new TypeError('createHandlerFn: not a function');
		return function(ev) {
			var button = ev.currentTarget;
			button.disabled = true;
			button.classList.add('spinning');
			return Promise.resolve(fn.apply(ctx, args.concat([ ev ]))).finally(function() {
				button.disabled = false;
				button.classList.remove('spinning');
			});
		};
	},

	changes: {
		apply: function() {
			return uci.apply().then(function() {
				LuCI.classes.ui.addNotification(null, E('p', {}, [ _('Configuration changes have been applied.') ]), 'info');
			});
		}
	}
});

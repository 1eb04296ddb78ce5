'use strict';
'require view';
'require dom';
'require poll';

// Test stand-in for luci-mod-status's Status → Overview: each include under view/status/include (the
// harness lists them, as the real page lists the directory) is required, loaded and rendered in its own
// section titled by the include, and refreshed on the poll.

return view.extend({
	load: function() {
		return Promise.all((L.env.includes || []).map(function(name) {
			return L.require('view.status.include.' + name);
		}));
	},
	render: function(includes) {
		var sections = includes.map(function(inc, i) {
			var body = E('div', { 'data-include': L.env.includes[i] });
			var update = function() {
				return Promise.resolve(inc.load()).then(function(data) { dom.content(body, inc.render(data)); });
			};
			poll.add(update, 5);
			return E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ inc.title ]), body ]);
		});
		var page = E('div', { 'id': 'tg-overview-page' }, [ E('h2', {}, [ _('Status') ]) ].concat(sections));
		return Promise.all(includes.map(function(inc, i) {
			return Promise.resolve(inc.load()).then(function(data) { dom.content(page.querySelectorAll('[data-include]')[i], inc.render(data)); });
		})).then(function() { return page; });
	},
	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});

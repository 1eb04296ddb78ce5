'use strict';
'require view';
'require dom';
'require poll';
'require rpc';
'require ui';
'require tunguard.rpc as tgrpc';

// tunguard service and log: start, stop, restart, enable at boot (procd's init script, through rpcd's
// own "rc" object as LuCI's Startup page does it) and the newest tunguard lines of the system log
// (the plugin runs `logread -e tunguard`, at most 300 lines), refreshed every few seconds.

var callLog = tgrpc.declare('log');
var callRcList = rpc.declare({ object: 'rc', method: 'list', params: [ 'name' ], expect: { '': {} } });
var callRcInit = rpc.declare({ object: 'rc', method: 'init', params: [ 'name', 'action' ], expect: { '': {} } });

var LOG_SECONDS = 5;

/* Log lines are whatever any process wrote: always text, never HTML. */
function text(s) {
	return [ (s == null) ? '' : String(s) ];
}

return view.extend({
	load: function() {
		return Promise.all([ L.resolveDefault(callRcList('tunguard'), {}), callLog() ]);
	},

	renderService: function(list) {
		var svc = (list && list.tunguard) || null;
		var state = this.nodes.state, buttons = this.nodes.buttons;
		if (!svc) {
			dom.content(state, E('em', {}, text(_('The init script /etc/init.d/tunguard is not installed.'))));
			dom.content(buttons, []);
			return;
		}
		state.setAttribute('data-running', svc.running ? 'true' : 'false');
		state.setAttribute('data-enabled', svc.enabled ? 'true' : 'false');
		dom.content(state, text(
			(svc.running ? _('Running') : _('Stopped')) + ', ' +
			(svc.enabled ? _('starts at boot') : _('does not start at boot'))));
		var self = this;
		var button = function(action, label, cls) {
			return E('button', { 'class': 'cbi-button ' + cls, 'data-action': action, 'disabled': tgrpc.writeDisabled(),
				'click': ui.createHandlerFn(self, 'handleAction', action) }, text(label));
		};
		dom.content(buttons, [
			svc.running ? button('restart', _('Restart'), 'cbi-button-apply') : button('start', _('Start'), 'cbi-button-apply'),
			svc.running ? button('stop', _('Stop'), 'cbi-button-reset') : '',
			svc.enabled ? button('disable', _('Disable at boot'), 'cbi-button-neutral') : button('enable', _('Enable at boot'), 'cbi-button-neutral')
		]);
	},

	handleAction: function(action) {
		var self = this;
		return callRcInit('tunguard', action).then(function(res) {
			if (res && res.error)
				throw new Error(res.error);
			return callRcList('tunguard');
		}).then(function(list) {
			self.renderService(list);
		}).catch(function(e) {
			ui.addNotification(null, E('p', {}, text(_('Could not %s tunguard: %s').format(action, (e && e.message) || e))), 'error');
		});
	},

	renderLog: function(res) {
		if (!res || res.error) {
			dom.content(this.nodes.logProblem, E('div', { 'class': 'alert-message warning' }, text(res ? res.error : _('no answer'))));
			return;
		}
		dom.content(this.nodes.logProblem, []);
		var filter = this.nodes.filter.value.trim().toLowerCase();
		var lines = (res.lines || []).filter(function(l) { return !filter || String(l).toLowerCase().indexOf(filter) >= 0; });
		this.nodes.log.setAttribute('data-lines', String(lines.length));
		this.nodes.log.value = lines.length ? lines.join('\n') : _('No tunguard lines in the system log.');
		this.lastLog = res;
	},

	render: function(data) {
		var self = this;
		this.nodes = {
			state: E('span', { 'id': 'tg-service-state' }),
			buttons: E('span', { 'id': 'tg-service-buttons', 'style': 'margin-left:1em' }),
			logProblem: E('div', { 'id': 'tg-log-problem' }),
			filter: E('input', { 'id': 'tg-log-filter', 'type': 'text', 'class': 'cbi-input-text', 'placeholder': _('Show only lines containing…'),
				'input': function() { if (self.lastLog) self.renderLog(self.lastLog); } }),
			log: E('textarea', { 'id': 'tg-log', 'readonly': 'readonly', 'wrap': 'off', 'rows': 25, 'style': 'width:100%;font-family:monospace;font-size:90%' })
		};
		this.renderService(data[0]);
		this.renderLog(data[1]);
		poll.add(function() {
			return callLog().then(L.bind(self.renderLog, self));
		}, LOG_SECONDS);
		return E('div', { 'id': 'tg-log-page' }, [
			E('h2', {}, _('tunguard: service and log')),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('Service')),
				E('div', { 'class': 'cbi-value' }, [
					E('label', { 'class': 'cbi-value-title' }, _('tunguard')),
					E('div', { 'class': 'cbi-value-field' }, [ this.nodes.state, this.nodes.buttons ])
				])
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('System log')),
				E('div', { 'class': 'cbi-map-descr' }, _('The newest %d lines of tunguard in the system log (logread), refreshed every %d seconds.').format(300, LOG_SECONDS)),
				this.nodes.logProblem,
				this.nodes.filter,
				this.nodes.log
			])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});

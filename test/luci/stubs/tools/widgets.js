'use strict';
'require baseclass';
'require form';
'require network';

// Test stand-in for LuCI's tools.widgets DeviceSelect: a form option whose choices are the router's
// network devices (network.getDevices(), loaded before rendering as LuCI does), `multiple` for a list
// option, `noaliases` leaving out alias devices (names starting with '@'), and a configured device
// that is not there now kept as a choice (LuCI keeps it too, so saving never drops it silently).

var DeviceSelect = form.ListValue.extend({
	__init__: function() {
		form.ListValue.prototype.__init__.apply(this, arguments);
		this.multiple = false;
		this.noaliases = false;
		this.devices = [];
	},
	load: function(sid) {
		var self = this;
		return network.getDevices().then(function(devices) {
			self.devices = devices.filter(function(d) { return !(self.noaliases && d.getName().charAt(0) === '@'); });
			return self.cfgvalue(sid);
		});
	},
	cfgvalue: function(sid) {
		var v = form.ListValue.prototype.cfgvalue.call(this, sid);
		return this.multiple ? L.toArray(v) : v;
	},
	formvalue: function(sid) {
		var w = this.widgetNode(sid);
		if (!w) return null;
		if (!this.multiple) return w.value;
		return Array.prototype.filter.call(w.options, function(o) { return o.selected; }).map(function(o) { return o.value; });
	},
	renderWidget: function(sid, value) {
		var chosen = this.multiple ? L.toArray(value) : (value == null || value === '' ? [] : [ value ]);
		var names = this.devices.map(function(d) { return d.getName(); });
		var options = this.devices.map(function(d) {
			var label = d.getName() + (d.isUp() ? '' : ' (' + _('down') + ')') + (d.getMAC() ? ' ' + d.getMAC() : '');
			return E('option', { 'value': d.getName(), 'data-up': d.isUp() ? '1' : '0',
				'selected': chosen.indexOf(d.getName()) >= 0 ? '' : null }, [ label ]);
		});
		chosen.forEach(function(c) {
			if (names.indexOf(c) < 0)
				options.push(E('option', { 'value': c, 'data-missing': '1', 'selected': '' }, [ c + ' (' + _('not present') + ')' ]));
		});
		if (!this.multiple)
			options.unshift(E('option', { 'value': '', 'selected': chosen.length ? null : '' }, [ _('-- unspecified --') ]));
		return E('select', { 'id': 'widget.' + this.cbid(sid), 'class': 'cbi-input-select', 'multiple': this.multiple ? '' : null,
			'size': this.multiple ? Math.min(8, options.length) : null }, options);
	}
});

return baseclass.extend({
	DeviceSelect: DeviceSelect
});

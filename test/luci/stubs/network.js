'use strict';
'require baseclass';
'require rpc';

// Test stand-in for the part of LuCI's network module the device pickers use: getDevices(), from
// luci-rpc's getNetworkDevices (the router's devices as the harness reads them from the namespace),
// each with getName(), getType(), isUp() and getMAC().

var callNetworkDevices = rpc.declare({ object: 'luci-rpc', method: 'getNetworkDevices', expect: { '': {} } });

var Device = baseclass.extend({
	__init__: function(dev) { this.dev = dev; },
	getName: function() { return this.dev.name; },
	getType: function() { return this.dev.devtype || (this.dev.bridge ? 'bridge' : 'ethernet'); },
	isUp: function() { return !!(this.dev.flags && this.dev.flags.up); },
	getMAC: function() { return this.dev.mac || null; }
});

return baseclass.extend({
	getDevices: function() {
		return callNetworkDevices().then(function(devs) {
			return Object.keys(devs || {}).sort().map(function(name) { return new Device(devs[name]); });
		});
	}
});

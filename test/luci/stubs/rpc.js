'use strict';
'require baseclass';
'require request';

// Test stand-in for LuCI's rpc module: declare() makes a function that sends one ubus call as JSON-RPC
// 2.0 ({method: 'call', params: [session, object, method, args]}) to L.env.ubuspath and resolves with
// the reply's data, shaped by `expect` and `filter` as LuCI documents them. Positional arguments map to
// `params` in order; undefined ones are left out of the JSON.

var nextId = 1;

function shaped(options, data) {
	if (options.expect) {
		for (var key in options.expect) {
			var want = options.expect[key];
			if (data != null && key !== '')
				data = data[key];
			if (data == null || Object.prototype.toString.call(data) !== Object.prototype.toString.call(want))
				data = want;
			break;
		}
	}
	return data;
}

return baseclass.extend({
	declare: function(options) {
		return function() {
			var args = Array.prototype.slice.call(arguments), params = {};
			(options.params || []).forEach(function(name, i) { params[name] = args[i]; });
			var what = 'RPC call to ' + options.object + '/' + options.method;
			var msg = {
				jsonrpc: '2.0',
				id: nextId++,
				method: 'call',
				params: [ L.env.sessionid, options.object, options.method, params ]
			};
			return request.post(L.env.ubuspath, msg).then(function(res) {
				if (!res.ok)
					throw new Error(what + ' failed with HTTP error ' + res.status);
				var reply = res.json();
				if (!reply || reply.jsonrpc !== '2.0')
					throw new Error(what + ' returned invalid message frame');
				if (reply.error)
					L.raise('RPCError', '%s failed with error %d: %s', what, reply.error.code, reply.error.message);
				var result = reply.result, data = null;
				if (Array.isArray(result)) {
					if (options.reject && result[0] !== 0)
						throw new Error(what + ' failed with ubus code ' + result[0]);
					data = (result.length > 1) ? result[1] : result[0];
				}
				data = shaped(options, data);
				return (typeof options.filter === 'function') ? options.filter(data, params) : data;
			});
		};
	}
});

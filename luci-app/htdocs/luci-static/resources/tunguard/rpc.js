'use strict';
'require baseclass';
'require rpc';

// The ubus calls of tunguard's rpcd plugin (object "tunguard"), shared by the views:
// 'require tunguard.rpc as tgrpc' then tgrpc.declare('status').

return baseclass.extend({
	/* A call that always resolves to an object: a bare ubus status (timeout, no data) or a refused
	 * call (session, ACL) becomes {error}, as the plugin's own refusals are. */
	declare: function(method, params) {
		var call = rpc.declare({ object: 'tunguard', method: method, params: params || [],
			filter: function(data) { return L.isObject(data) ? data : { error: _('rpcd answered with ubus status %s').format(data) }; } });
		return function() {
			return call.apply(null, arguments).catch(function(e) { return { error: String((e && e.message) || e) }; });
		};
	}
});

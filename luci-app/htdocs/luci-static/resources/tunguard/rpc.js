'use strict';
'require baseclass';
'require rpc';

// The ubus calls of tunguard's rpcd plugin (object "tunguard"), shared by the views:
// 'require tunguard.rpc as tgrpc' then tgrpc.declare('status').

/* A refused or failed call in the user's words. LuCI's RPCError message carries the JavaScript stack
 * after its first line; rpcd's "Access denied" (-32002) means this login lacks the ACL for it. */
function errorText(method, e) {
	var msg = String((e && e.message) || e).split('\n')[0];
	if (e && e.name == 'RPCError' && / -32002:/.test(msg))
		return _('Not allowed for this login: its access to tunguard does not include %s.').format(method);
	return msg;
}

return baseclass.extend({
	/* A call that always resolves to an object: a bare ubus status (timeout, no data) or a refused
	 * call (session, ACL) becomes {error}, as the plugin's own refusals are. */
	declare: function(method, params) {
		var call = rpc.declare({ object: 'tunguard', method: method, params: params || [],
			filter: function(data) { return L.isObject(data) ? data : { error: _('rpcd answered with ubus status %s').format(data) }; } });
		return function() {
			return call.apply(null, arguments).catch(function(e) { return { error: errorText(method, e) }; });
		};
	},

	/* Whether this login may change tunguard. LuCI marks the page read-only when the session holds
	 * the app's ACL group for reading only; the views then disable their write buttons, as LuCI's
	 * own forms do, instead of offering actions rpcd would refuse. */
	writable: function() {
		return L.hasViewPermission();
	},

	/* The "disabled" attribute of a write button: set on a read-only page. */
	writeDisabled: function() {
		return L.hasViewPermission() ? null : '';
	}
});

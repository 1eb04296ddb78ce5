'use strict';
'require view';
'require form';
'require uci';
'require tools.widgets as widgets';

// tunguard settings: /etc/config/tunguard through LuCI's form (validation, save and apply). Option
// names and limits are the daemon's own (src/config/schema.ts); the daemon re-reads the file on reload
// and refuses a file it cannot use, keeping the settings in force.

/* Sections the daemon knows, by name and type: created when missing so every field can be set. */
var SECTIONS = [
	[ 'main', 'tunguard' ], [ 'syn', 'defense' ], [ 'icmp', 'ratelimit' ], [ 'udp', 'ratelimit' ], [ 'api', 'api' ],
	[ 'detect', 'detect' ]
];

/* A protected host as the daemon takes it: an IP address, a MAC or a host name. */
function validHostIdent(section_id, value) {
	if (value == null || value === '')
		return true;
	return /^(?:[0-9A-Fa-f:.]{2,45}|(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}|[A-Za-z0-9][A-Za-z0-9._-]{0,62})$/.test(value)
		? true : _('Expecting an IP address, a MAC or a host name');
}

/* nmap's port list: 22,80,8000-8100 (empty: nmap's top 1000). */
function validPorts(section_id, value) {
	if (value == null || value === '')
		return true;
	var ok = /^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$/.test(value) &&
		value.split(/[,-]/).every(function(p) { return +p >= 1 && +p <= 65535; });
	return ok ? true : _('Expecting ports like 22,80,8000-8100');
}

/* Linux interface names as the daemon takes them (at most 15 characters). */
function validDevice(section_id, value) {
	if (value == null || value === '')
		return true;
	return /^[A-Za-z0-9_.@:-]{1,15}$/.test(value) && value !== '.' && value !== '..'
		? true : _('Expecting a network device name (up to 15 of A-Z a-z 0-9 _ . - @ :)');
}

function validPath(section_id, value) {
	return (value == null || value === '' || /^\/[^\0]*$/.test(value)) ? true : _('Expecting an absolute path');
}

/* IPv4 or IPv6 address with an optional prefix length and no host bits set (as the daemon insists). */
function parsePrefix(value) {
	var m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(value);
	if (!m)
		return null;
	var words = null, bits = 0;
	var v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(m[1]);
	if (v4) {
		var o = v4.slice(1).map(Number);
		if (o.some(function(x) { return x > 255; }) || v4.slice(1).some(function(x) { return x.length > 1 && x[0] === '0'; }))
			return null;
		words = [ o[0] << 8 | o[1], o[2] << 8 | o[3] ];
		bits = 32;
	}
	else if (/^[0-9A-Fa-f:]+$/.test(m[1]) && m[1].indexOf(':') >= 0) {
		var halves = m[1].split('::');
		if (halves.length > 2)
			return null;
		var head = halves[0] ? halves[0].split(':') : [], tail = (halves.length === 2 && halves[1]) ? halves[1].split(':') : [];
		var fill = 8 - head.length - tail.length;
		if ((halves.length === 2) ? fill < 1 : fill !== 0)
			return null;
		var groups = head.concat(new Array(halves.length === 2 ? fill : 0).fill('0'), tail);
		if (groups.some(function(g) { return !/^[0-9A-Fa-f]{1,4}$/.test(g); }))
			return null;
		words = groups.map(function(g) { return parseInt(g, 16); });
		bits = 128;
	}
	else
		return null;
	var len = (m[2] != null) ? +m[2] : bits;
	if (len > bits)
		return null;
	for (var i = 0; i < words.length; i++) {
		var keep = Math.max(0, Math.min(16, len - i * 16));
		if ((words[i] & (0xffff >> keep)) !== 0)
			return { hostBits: true };
	}
	return { hostBits: false };
}

function validPrefix(section_id, value) {
	if (value == null || value === '')
		return true;
	var p = parsePrefix(value);
	if (!p)
		return _('Expecting an IPv4 or IPv6 address or prefix (192.0.2.0/24, 2001:db8::/32)');
	return p.hostBits ? _('Host bits are set: use the network address of the prefix') : true;
}

/* The API's address:port, IPv6 in brackets. */
function validListen(section_id, value) {
	if (value == null || value === '')
		return true;
	var m = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(value);
	if (!m || +m[3] < 1 || +m[3] > 65535)
		return _('Expecting address:port (127.0.0.1:7447, [::1]:7447)');
	var p = parsePrefix(m[1] || m[2]);
	return (p && !p.hostBits) ? true : _('Expecting address:port (127.0.0.1:7447, [::1]:7447)');
}

/* risky_threshold above moderate_threshold; per_source_rate not above rate (the daemon checks both). */
function above(other, message) {
	return function(section_id, value) {
		var low = +this.section.formvalue(section_id, other);
		return (value === '' || isNaN(low) || +value > low) ? true : message;
	};
}

function notAbove(other, message) {
	return function(section_id, value) {
		var high = +this.section.formvalue(section_id, other);
		return (value === '' || isNaN(high) || +value <= high) ? true : message;
	};
}

function flag(s, name, title, description, dflt) {
	var o = s.option(form.Flag, name, title, description);
	o.default = dflt;
	o.rmempty = false;
	return o;
}

function number(s, name, title, description, datatype, placeholder) {
	var o = s.option(form.Value, name, title, description);
	o.datatype = datatype;
	o.placeholder = placeholder;
	return o;
}

return view.extend({
	load: function() {
		return uci.load('tunguard').then(function() {
			SECTIONS.forEach(function(sec) {
				if (!uci.get('tunguard', sec[0]))
					uci.add('tunguard', sec[1], sec[0]);
			});
		});
	},

	render: function() {
		var m, s, o;

		m = new form.Map('tunguard', _('tunguard: settings'),
			_('The daemon between WAN and LAN: which devices it sits on, when it considers the router under attack, the rate limits and the API. Saved to /etc/config/tunguard; applying reloads the daemon, which keeps its old settings if it refuses the new file (see: logread -e tunguard).'));

		s = m.section(form.NamedSection, 'main', 'tunguard', _('General'));
		flag(s, 'enabled', _('Enabled'), _('Steer and inspect forwarded traffic.'), '1');
		o = s.option(widgets.DeviceSelect, 'wan_device', _('WAN device'), _('The uplink at start. With "Follow the uplink" on, tunguard follows netifd to whichever uplink is up (hotel Wi-Fi, USB tethering, LTE, cable).'));
		o.noaliases = true;
		o.validate = validDevice;
		flag(s, 'wan_follow', _('Follow the uplink'), _('Ask netifd which interfaces carry the default route, and follow them as they come and go.'), '0');
		o = s.option(widgets.DeviceSelect, 'lan_device', _('LAN devices'), _('The devices of the LAN tunguard protects (usually the bridge br-lan).'));
		o.noaliases = true;
		o.multiple = true;
		o.validate = validDevice;
		flag(s, 'lan_follow', _('Follow the LAN'), _('Take the LAN devices from netifd\'s LAN interfaces (below), at start and whenever a network reload re-creates or renames them: steered again without a restart. The LAN devices above are the fallback when netifd names none.'), '0');
		o = s.option(form.DynamicList, 'lan_network', _('LAN interfaces'), _('netifd\'s logical interfaces whose devices are the LAN, when following the LAN (lan when empty).'));
		o.placeholder = 'lan';
		o.validate = validDevice;
		o = s.option(form.Value, 'tun_name', _('TUN device'));
		o.placeholder = 'tg0';
		o.validate = validDevice;
		number(s, 'queues', _('Queues'), _('TUN queues, one dataplane worker each (1-16).'), 'and(uinteger,range(1,16))', '1');
		o = number(s, 'route_table', _('Routing table'), _('The policy-routing table an older tunguard steered through: rules of it left behind are removed at start. Steering itself no longer uses a table.'), 'and(uinteger,range(1,2147483632))', '4747');
		o.validate = function(section_id, value) {
			return (value === '253' || value === '254' || value === '255') ? _('Tables 253-255 belong to the kernel') : true;
		};
		flag(s, 'ipv6', _('IPv6'), _('Steer IPv6 as well as IPv4.'), '1');
		flag(s, 'offload', _('Offloads'), _('Virtio-net header and TSO on the TUN (much faster).'), '1');
		o = s.option(form.Value, 'state_dir', _('Runtime state'), _('On tmpfs: connection store, status.json.'));
		o.placeholder = '/var/run/tunguard';
		o.validate = validPath;
		o = s.option(form.Value, 'durable_dir', _('Durable state'), _('On flash: hosts, rules, dispatches, audit log.'));
		o.placeholder = '/etc/tunguard';
		o.validate = validPath;
		o = s.option(form.ListValue, 'log_level', _('Log level'));
		[ 'error', 'warn', 'info', 'debug' ].forEach(function(l) { o.value(l); });
		o.default = 'info';
		number(s, 'status_interval', _('Status interval'), _('Shortest seconds between status.json writes, which follow changes (0: never; the Status page needs it).'), 'and(uinteger,range(0,3600))', '1');
		flag(s, 'seccomp', _('System-call filter'), _('Start the daemon under procd\'s seccomp filter (/etc/seccomp/tunguard.json: the system calls a measured run made). Off by default: a call the measurement missed kills the daemon. Takes effect on restart.'), '0');
		o = s.option(form.DynamicList, 'allow_prefix', _('Allowed sources'), _('Addresses or prefixes never subject to the defenses, e.g. an admin host: keep yourself from being locked out.'));
		o.validate = validPrefix;

		s = m.section(form.NamedSection, 'syn', 'defense', _('SYN defense and risk tiers'),
			_('New SYNs counted over a sliding window set the tier: up to the moderate threshold is normal, up to the risky threshold moderate, above it risky.'));
		number(s, 'window_seconds', _('Window'), _('Seconds (1-60).'), 'and(uinteger,range(1,60))', '3');
		number(s, 'moderate_threshold', _('Moderate threshold'), _('New SYNs in the window.'), 'and(uinteger,min(1))', '100');
		o = number(s, 'risky_threshold', _('Risky threshold'), _('New SYNs in the window; above the moderate threshold.'), 'and(uinteger,min(1))', '300');
		o.validate = above('moderate_threshold', _('Must be above the moderate threshold'));
		o = s.option(form.ListValue, 'risky_action', _('Risky tier action'), _('Answer new SYNs with stateless cookies (legitimate clients still get through) or drop them.'));
		o.value('cookie', _('cookie'));
		o.value('drop', _('drop'));
		o.default = 'cookie';
		number(s, 'max_unfinished_per_source', _('Unfinished per source'), _('A source with more unfinished handshakes is aggressive (1-254).'), 'and(uinteger,range(1,254))', '5');
		number(s, 'aggressive_hold_seconds', _('Aggressive hold'), _('Seconds an aggressive source\'s SYNs are dropped (1-86400).'), 'and(uinteger,range(1,86400))', '60');
		number(s, 'syn_cache_size', _('SYN cache size'), _('Entries (256-16777216).'), 'and(uinteger,range(256,16777216))', '65536');
		number(s, 'connection_idle_seconds', _('Connection idle'), _('Seconds before an idle proxied connection is forgotten (10-2592000).'), 'and(uinteger,range(10,2592000))', '7440');
		flag(s, 'proxy_inbound', _('Proxy inbound'), _('SYN-proxy connections from the WAN to LAN hosts.'), '1');
		flag(s, 'proxy_outbound', _('Proxy outbound'), _('SYN-proxy connections from LAN hosts to the WAN.'), '0');

		[ [ 'icmp', _('ICMP rate limit'), '100', '50' ], [ 'udp', _('UDP rate limit'), '200', '100' ] ].forEach(function(rl) {
			s = m.section(form.NamedSection, rl[0], 'ratelimit', rl[1], _('Token buckets in packets per second; the excess is dropped.'));
			flag(s, 'enabled', _('Enabled'), null, '1');
			number(s, 'rate', _('Rate'), _('Packets per second, all sources.'), 'and(uinteger,min(1))', rl[2]);
			number(s, 'burst', _('Burst'), _('Packets.'), 'and(uinteger,min(1))', rl[2]);
			o = number(s, 'per_source_rate', _('Per-source rate'), _('Packets per second from one source (0: no per-source limit).'), 'uinteger', rl[3]);
			o.validate = notAbove('rate', _('Must not exceed the rate'));
			number(s, 'per_source_burst', _('Per-source burst'), _('Packets.'), 'and(uinteger,min(1))', rl[3]);
			if (rl[0] === 'udp') {
				o = s.option(form.DynamicList, 'exempt_port', _('Exempt ports'), _('Destination ports not counted (DNS by default).'));
				o.datatype = 'port';
				o.placeholder = '53';
			}
		});

		s = m.section(form.TypedSection, 'allow', _('Allowlist groups'), _('More allowed prefixes, one group per purpose.'));
		s.anonymous = true;
		s.addremove = true;
		o = s.option(form.DynamicList, 'prefix', _('Prefixes'));
		o.validate = validPrefix;
		o.rmempty = false;
		s.option(form.Value, 'comment', _('Comment'));

		s = m.section(form.NamedSection, 'api', 'api', _('API'),
			_('The JSON API for scripts and this page\'s daemon calls. Never on a WAN address. Host agents are paired through the API and keep their own settings on their hosts.'));
		o = s.option(form.DynamicList, 'listen', _('Listen'), _('address:port, IPv6 in brackets; when empty, 127.0.0.1:7447.'));
		o.placeholder = '127.0.0.1:7447';
		o.validate = validListen;
		o = s.option(form.Value, 'token_file', _('Token file'), _('A file directly in /etc/tunguard or the state directory; never a link.'));
		o.placeholder = '/etc/tunguard/api.token';
		o.validate = validPath;
		flag(s, 'cors', _('CORS'), _('Send CORS headers (only for a browser client on another origin).'), '0');

		s = m.section(form.NamedSection, 'detect', 'detect', _('Detection'),
			_('Every interval the protected hosts are scanned (nmap -sV -O; opkg install nmap), matched against the remediation rules, and remedies queued for their agents.'));
		flag(s, 'enabled', _('Enabled'), _('Re-check the protected hosts on a schedule.'), '0');
		o = s.option(form.DynamicList, 'protected_host', _('Protected hosts'), _('IP address, MAC or host name.'));
		o.validate = validHostIdent;
		number(s, 'interval', _('Interval'), _('Seconds between rounds (60-604800).'), 'and(uinteger,range(60,604800))', '3600');
		flag(s, 'scan', _('Scan first'), _('Run nmap on the hosts before matching.'), '1');
		flag(s, 'scan_lan', _('Scan the LAN'), _('Scan every host on the LAN\'s IPv4 prefixes and check them all.'), '0');
		number(s, 'scan_timeout', _('Scan time limit'), _('Seconds (30-21600).'), 'and(uinteger,range(30,21600))', '600');
		number(s, 'scan_max_rate', _('Scan rate'), _('Packets per second nmap may send (1-10000).'), 'and(uinteger,range(1,10000))', '100');
		o = s.option(form.Value, 'scan_ports', _('Scan ports'), _('e.g. 22,80,443,8000-8100; empty: nmap\'s top 1000.'));
		o.validate = validPorts;
		o = s.option(form.ListValue, 'lookup', _('Rule lookup'), _('ordered: environment, then threat, then combined rules.'));
		o.value('ordered', _('ordered'));
		o.value('first-hit', _('first hit'));
		o.value('simultaneous', _('simultaneous'));
		o.default = 'ordered';
		o = s.option(form.ListValue, 'remedy_evidence', _('Remedies need'), _('confirm: facts a scan, the host\'s agent or you reported (traffic a LAN client can forge never triggers a remedy alone); any: passive facts too.'));
		o.value('confirm', _('confirmed facts'));
		o.value('any', _('any facts'));
		o.default = 'confirm';
		number(s, 'agent_check', _('Agent check'), _('Seconds between pings of each paired host agent (0-86400; 0: only dispatches tell). The Status page and /metrics count the agents not reached.'), 'and(uinteger,range(0,86400))', '300');

		return m.render();
	}
});

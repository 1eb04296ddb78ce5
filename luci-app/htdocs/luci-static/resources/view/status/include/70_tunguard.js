'use strict';
'require baseclass';
'require tunguard.rpc as tgrpc';

// Status → Overview: tunguard's line on the router's front page (LuCI's status index loads every
// include and calls load() and render() on its own poll). The rpcd plugin only reads status.json here.

var callStatus = tgrpc.declare('status');

var TIER_COLOURS = { normal: '#2e7d32', moderate: '#ef6c00', risky: '#c62828' };

function sumDrops(drops) {
	var n = 0;
	for (var k in drops)
		n += +drops[k] || 0;
	return n;
}

function row(key, title, value) {
	return E('tr', { 'class': 'tr', 'data-field': key }, [
		E('td', { 'class': 'td left', 'width': '33%' }, [ title ]),
		E('td', { 'class': 'td left' }, value)
	]);
}

return baseclass.extend({
	title: _('tunguard'),

	load: function() {
		return callStatus();
	},

	render: function(st) {
		var table = E('table', { 'class': 'table', 'id': 'tg-overview' });
		if (!st || st.error) {
			table.appendChild(row('error', _('Status'), [ E('em', {}, [ String(st ? st.error : _('no answer')) ]) ]));
			return table;
		}
		var c = st.counters || {};
		var tier = st.tier || 'unknown';
		table.appendChild(row('tier', _('Risk tier'), [ E('span', { 'data-tier': tier,
			'style': 'display:inline-block;padding:0 .6em;border-radius:3px;color:#fff;background:' + (TIER_COLOURS[tier] || '#777') },
			[ st.tier ? st.tier : _('unknown') ]) ]));
		/* Only while it is down: the SYN police's nft table is gone until the daemon rebuilds it. */
		if (st.police && !st.police.installed)
			table.appendChild(row('police', _('SYN police'), [ E('span', { 'style': 'color:#c62828;font-weight:bold' },
				[ _('Down: %s.').format(String(st.police.reason || _('none given'))) ]) ]));
		table.appendChild(row('proxied', _('Proxied connections'),
			[ _('%d since start').format(+c.synproxy_conn_established || 0) ]));
		table.appendChild(row('drops', _('Packets dropped'), [ _('%d since start').format(sumDrops(st.drops)) ]));
		table.appendChild(row('attackers', _('Aggressive sources'),
			[ String(st.attackers && st.attackers.total != null ? st.attackers.total : 0) ]));
		table.appendChild(row('more', '', [ E('a', { 'href': L.url('admin/services/tunguard/status') }, [ _('Details…') ]) ]));
		return table;
	}
});

// The schema: defaults, the shipped file, good settings (table) and bad ones, each with its line and message.
// One file (about 680 lines): one table of good and bad settings per section, read top to bottom.
import { describe, expect, test } from 'vitest';
import {
  ConfigError,
  configFromText,
  DEFAULT_UCI,
  defaultConfig,
  formatUci,
  parseUci,
  SECTION_OPTIONS,
  type TunguardConfig,
} from '../../src/config/index.js';
import { configErrorOf } from './helpers.js';

describe('defaults', () => {
  test('are the documented values', () => {
    const c = defaultConfig();
    expect(c.defense.syn).toMatchObject({
      windowSeconds: 3,
      moderateThreshold: 100,
      riskyThreshold: 300,
      riskyAction: 'cookie',
      maxUnfinishedPerSource: 5,
      aggressiveHoldSeconds: 60,
      proxyInbound: true,
      proxyOutbound: false,
    });
    expect(c.ratelimit.icmp.rate).toBe(100);
    expect(c.ratelimit.udp.rate).toBe(200);
    expect(c.main).toMatchObject({
      tunName: 'tg0',
      queues: 1,
      stateDir: '/var/run/tunguard',
      durableDir: '/etc/tunguard',
    });
    expect(c.api).toEqual({
      listen: [{ family: 4, host: '127.0.0.1', port: 7447 }],
      tokenFile: '/etc/tunguard/api.token',
      cors: false,
    });
    expect(c.allow).toEqual([]);
  });

  test('an empty file gives the defaults', () => {
    expect(configFromText('', 'empty')).toEqual({ config: defaultConfig(), warnings: [] });
    expect(configFromText('# nothing\n\n', 'empty').config).toEqual(defaultConfig());
  });

  test('each call returns a fresh object', () => {
    const a = defaultConfig();
    a.main.lanDevices.push('eth9');
    a.ratelimit.udp.exemptPorts.length = 0;
    expect(defaultConfig().main.lanDevices).toEqual(['br-lan']);
    expect(defaultConfig().ratelimit.udp.exemptPorts).toEqual([53]);
  });

  test('the shipped file (DEFAULT_UCI) parses to exactly the defaults, without warnings', () => {
    expect(configFromText(DEFAULT_UCI, '/etc/config/tunguard')).toEqual({
      config: defaultConfig(),
      warnings: [],
    });
  });

  test('the shipped file sets every option of every section (it documents them all)', () => {
    const doc = parseUci(DEFAULT_UCI);
    const seen: Record<string, string[]> = {};
    for (const s of doc.sections) {
      const id = ['tunguard', 'api', 'detect'].includes(s.type) ? s.type : `${s.type}.${s.name}`;
      seen[id] = [...Object.keys(s.options), ...Object.keys(s.lists)].sort();
    }
    const expected = Object.fromEntries(
      Object.entries(SECTION_OPTIONS)
        .filter(([id]) => id !== 'allow')
        // allow_prefix and protected_host are shown commented out: their default lists are empty.
        .map(([id, keys]) => [id, keys.filter((k) => k !== 'allow_prefix' && k !== 'protected_host').sort()]),
    );
    expect(seen).toEqual(expected);
    expect(DEFAULT_UCI).toMatch(/# list allow_prefix/);
    expect(DEFAULT_UCI).toMatch(/# config allow/);
    expect(DEFAULT_UCI).toMatch(/# list protected_host/);
  });

  test('the shipped file survives a format round trip', () => {
    expect(configFromText(formatUci(parseUci(DEFAULT_UCI))).config).toEqual(defaultConfig());
  });
});

/** Builds a config file from lines (line numbers in the tests are 1-based indexes into this). */
const file = (...lines: string[]) => `${lines.join('\n')}\n`;

type Check = (c: TunguardConfig) => unknown;

describe('good settings', () => {
  const BOOLS: Array<[string, boolean]> = [
    ['1', true],
    ['yes', true],
    ['on', true],
    ['true', true],
    ['enabled', true],
    ['0', false],
    ['no', false],
    ['off', false],
    ['false', false],
    ['disabled', false],
  ];
  test.each(BOOLS)("option cors '%s' → %s", (word, value) => {
    expect(configFromText(file('config api', `\toption cors '${word}'`)).config.api.cors).toBe(value);
  });

  const cases: Array<[string, string, Check, unknown]> = [
    [
      'several LAN devices as a list',
      file("config tunguard 'main'", "\tlist lan_device 'br-lan'", "\tlist lan_device 'eth2'"),
      (c) => c.main.lanDevices,
      ['br-lan', 'eth2'],
    ],
    [
      'several LAN devices in one option',
      file('config tunguard', "\toption lan_device 'br-lan  eth2\teth3'"),
      (c) => c.main.lanDevices,
      ['br-lan', 'eth2', 'eth3'],
    ],
    ['wan_device', file('config tunguard', '\toption wan_device eth0.2'), (c) => c.main.wanDevice, 'eth0.2'],
    [
      'detection of protected hosts by address, MAC and name',
      file(
        'config detect',
        "\toption enabled '1'",
        "\tlist protected_host '192.168.1.20'",
        "\tlist protected_host '02:00:5e:10:00:01'",
        "\tlist protected_host 'fd00::20'",
        "\tlist protected_host 'nas.lan'",
        "\toption interval '900'",
        "\toption scan_ports '22,80,8000-8100'",
        "\toption lookup 'simultaneous'",
      ),
      (c) => c.detect,
      {
        enabled: true,
        protectedHosts: ['192.168.1.20', '02:00:5e:10:00:01', 'fd00::20', 'nas.lan'],
        intervalSeconds: 900,
        scan: true,
        scanLan: false,
        scanTimeoutSeconds: 600,
        scanMaxRate: 100,
        scanPorts: '22,80,8000-8100',
        lookup: 'simultaneous',
        remedyEvidence: 'confirm',
        agentCheckSeconds: 300,
      },
    ],
    [
      'agent_check off',
      file('config detect', "\toption agent_check '0'"),
      (c) => c.detect.agentCheckSeconds,
      0,
    ],
    [
      'remedy_evidence any',
      file('config detect', "\toption remedy_evidence 'any'"),
      (c) => c.detect.remedyEvidence,
      'any',
    ],
    ['queues', file('config tunguard', "\toption queues '4'"), (c) => c.main.queues, 4],
    ['leading zeros are decimal', file('config tunguard', "\toption queues '008'"), (c) => c.main.queues, 8],
    ['log_level', file('config tunguard', "\toption log_level 'debug'"), (c) => c.main.logLevel, 'debug'],
    [
      'status_interval 0',
      file('config tunguard', "\toption status_interval '0'"),
      (c) => c.main.statusIntervalSeconds,
      0,
    ],
    [
      'risky_action drop',
      file("config defense 'syn'", "\toption risky_action 'drop'"),
      (c) => c.defense.syn.riskyAction,
      'drop',
    ],
    [
      'thresholds',
      file("config defense 'syn'", "\toption moderate_threshold '1000'", "\toption risky_threshold '5000'"),
      (c) => [c.defense.syn.moderateThreshold, c.defense.syn.riskyThreshold],
      [1000, 5000],
    ],
    [
      'aggressive hold and unfinished handshakes',
      file(
        "config defense 'syn'",
        '\toption max_unfinished_per_source 8',
        '\toption aggressive_hold_seconds 300',
      ),
      (c) => [c.defense.syn.maxUnfinishedPerSource, c.defense.syn.aggressiveHoldSeconds],
      [8, 300],
    ],
    [
      'proxy directions',
      file("config defense 'syn'", '\toption proxy_inbound no', '\toption proxy_outbound no'),
      (c) => [c.defense.syn.proxyInbound, c.defense.syn.proxyOutbound],
      [false, false],
    ],
    [
      'an icmp limit',
      file(
        "config ratelimit 'icmp'",
        "\toption rate '50'",
        "\toption burst '80'",
        "\toption per_source_rate '0'",
      ),
      (c) => c.ratelimit.icmp,
      { enabled: true, rate: 50, burst: 80, perSourceRate: 0, perSourceBurst: 50 },
    ],
    [
      'udp exempt ports',
      file("config ratelimit 'udp'", "\tlist exempt_port '53'", "\tlist exempt_port '123'"),
      (c) => c.ratelimit.udp.exemptPorts,
      [53, 123],
    ],
    [
      "option exempt_port '' exempts none",
      file("config ratelimit 'udp'", "\toption exempt_port ''"),
      (c) => c.ratelimit.udp.exemptPorts,
      [],
    ],
    [
      'a disabled limit',
      file("config ratelimit 'udp'", "\toption enabled '0'"),
      (c) => c.ratelimit.udp.enabled,
      false,
    ],
    [
      'allowlist from main and allow sections, canonical, in file order',
      file(
        "config tunguard 'main'",
        "\tlist allow_prefix '192.168.1.10'",
        "config allow 'admin'",
        "\tlist prefix '2001:DB8::/32'",
        "\tlist prefix '10.0.0.0/8'",
        "\toption comment 'the admins'",
        'config allow',
        "\toption prefix 'fd00::/8 172.16.0.0/12'",
      ),
      (c) => c.allow.map((p) => p.cidr),
      ['192.168.1.10/32', '2001:db8::/32', '10.0.0.0/8', 'fd00::/8', '172.16.0.0/12'],
    ],
    [
      'api listen on LAN and loopback v6',
      file("config api 'api'", "\tlist listen '192.168.1.1:7447'", "\tlist listen '[::1]:7447'"),
      (c) => c.api.listen,
      [
        { family: 4, host: '192.168.1.1', port: 7447 },
        { family: 6, host: '::1', port: 7447 },
      ],
    ],
    ["option listen '' turns the API off", file('config api', "\toption listen ''"), (c) => c.api.listen, []],
    [
      'token_file',
      file('config api', '\toption token_file /root/token'),
      (c) => c.api.tokenFile,
      '/root/token',
    ],
    [
      'an anonymous tunguard section',
      file('config tunguard', '\toption tun_name tgx'),
      (c) => c.main.tunName,
      'tgx',
    ],
  ];
  test.each(cases)('%s', (_, text, get, expected) => {
    const { config, warnings } = configFromText(text, 'test');
    expect(get(config)).toEqual(expected);
    expect(warnings).toEqual([]);
  });

  test('only what is set changes', () => {
    const { config } = configFromText(file("config defense 'syn'", "\toption window_seconds '5'"));
    const expected = defaultConfig();
    expected.defense.syn.windowSeconds = 5;
    expect(config).toEqual(expected);
  });
});

describe('warnings', () => {
  const cases: Array<[string, string, Array<[number, string]>]> = [
    [
      'a repeated option',
      file('config tunguard', '\toption queues 2', '\toption queues 3'),
      [[3, 'line 3: option queues repeated; it overrides the value from line 2']],
    ],
    [
      'a repeated allowed prefix',
      file(
        'config tunguard',
        "\tlist allow_prefix '10.0.0.0/8'",
        'config allow',
        "\tlist prefix '10.0.0.0/8'",
      ),
      [[4, 'line 4: allowed prefix 10.0.0.0/8 repeats line 2']],
    ],
    [
      'an allowlist of everything',
      file('config allow', "\tlist prefix '::/0'"),
      [[2, 'line 2: allowed prefix ::/0 exempts every IPv6 source from the defenses']],
    ],
    [
      'an API on every address',
      file('config api', "\tlist listen '127.0.0.1:7448'", "\tlist listen '0.0.0.0:7447'"),
      [
        [
          3,
          'line 3: the API listens on every address (0.0.0.0:7447), the WAN side included; listen on a LAN address or loopback instead',
        ],
      ],
    ],
    [
      'a repeated exempt port',
      file("config ratelimit 'udp'", "\toption exempt_port '53 53'"),
      [[2, 'line 2: exempt_port 53 is listed twice']],
    ],
    [
      'detection with nothing to check',
      file("config detect 'detect'", "\toption enabled '1'"),
      [
        [
          2,
          "line 2: detection is enabled but has nothing to check: add list protected_host, or scan_lan '1'",
        ],
      ],
    ],
    [
      'a LAN scan without scanning',
      file(
        "config detect 'detect'",
        "\toption scan '0'",
        "\toption scan_lan '1'",
        "\tlist protected_host 'a'",
      ),
      [[3, "line 3: scan_lan '1' has no effect while scan is '0'"]],
    ],
    [
      'a repeated protected host',
      file('config detect', "\tlist protected_host 'nas'", "\tlist protected_host 'nas'"),
      [[3, "line 3: protected_host 'nas' is listed twice"]],
    ],
  ];
  test.each(cases)('%s', (_, text, expected) => {
    const { warnings } = configFromText(text, 'w');
    expect(warnings.map((w) => [w.line, w.message])).toEqual(expected);
  });
});

describe('bad settings', () => {
  // [what, file, line, message (exact, without the file name)]
  const cases: Array<[string, string, number, string]> = [
    [
      'a negative threshold (the example from the brief)',
      file(
        '# tunguard',
        "config tunguard 'main'",
        "\toption enabled '1'",
        '',
        "config defense 'syn'",
        "\toption window_seconds '3'",
        "\toption moderate_threshold '-3'",
      ),
      7,
      "line 7: option moderate_threshold: expected an integer ≥ 1, got '-3'",
    ],
    [
      'a detection interval under a minute',
      file("config detect 'detect'", "\toption interval '5'"),
      2,
      "line 2: option interval: expected an integer 60..604800, got '5'",
    ],
    [
      'a protected host that could be read as an nmap option',
      file('config detect', "\tlist protected_host 'nas'", "\tlist protected_host '-oN/tmp/x'"),
      3,
      "line 3: list protected_host: expected an IP address, a MAC or a host name, got '-oN/tmp/x'",
    ],
    [
      'a port out of range',
      file('config detect', "\toption scan_ports '22,70000'"),
      2,
      "line 2: option scan_ports: expected ports like '22,80,8000-8100' (1..65535), got '22,70000'",
    ],
    [
      'a detect section with another name',
      file("config detect 'scan'"),
      1,
      "line 1: config detect cannot be named 'scan': expected 'detect'",
    ],
    [
      'trailing garbage in a number',
      file("config defense 'syn'", "\toption risky_threshold '10x'"),
      2,
      "line 2: option risky_threshold: expected an integer ≥ 1, got '10x'",
    ],
    [
      'an empty number',
      file("config defense 'syn'", "\toption window_seconds ''"),
      2,
      "line 2: option window_seconds: expected an integer 1..60, got ''",
    ],
    [
      'a fraction',
      file('config tunguard', "\toption queues '1.5'"),
      2,
      "line 2: option queues: expected an integer 1..16, got '1.5'",
    ],
    [
      'a blank in a number',
      file('config tunguard', "\toption queues ' 2'"),
      2,
      "line 2: option queues: expected an integer 1..16, got ' 2'",
    ],
    [
      'a hex number',
      file('config tunguard', "\toption queues '0x2'"),
      2,
      "line 2: option queues: expected an integer 1..16, got '0x2'",
    ],
    [
      'out of range',
      file('config tunguard', "\toption queues '17'"),
      2,
      "line 2: option queues: expected an integer 1..16, got '17'",
    ],
    [
      'beyond any integer',
      file("config ratelimit 'icmp'", "\toption rate '99999999999999999999'"),
      2,
      "line 2: option rate: expected an integer ≥ 1, got '99999999999999999999'",
    ],
    [
      'a list for a single value',
      file("config defense 'syn'", "\tlist window_seconds '3'"),
      2,
      "line 2: list window_seconds: expected a single value (use 'option', not 'list')",
    ],
    [
      'not a boolean',
      file('config tunguard', "\toption enabled 'maybe'"),
      2,
      "line 2: option enabled: expected a boolean (1/0, yes/no, on/off, true/false, enabled/disabled), got 'maybe'",
    ],
    [
      'booleans are case-sensitive, as in UCI',
      file('config tunguard', "\toption ipv6 'True'"),
      2,
      "line 2: option ipv6: expected a boolean (1/0, yes/no, on/off, true/false, enabled/disabled), got 'True'",
    ],
    [
      'an unknown risky_action',
      file("config defense 'syn'", "\toption risky_action 'reject'"),
      2,
      "line 2: option risky_action: expected one of 'cookie', 'drop', got 'reject'",
    ],
    [
      'an unknown log level',
      file('config tunguard', "\toption log_level 'verbose'"),
      2,
      "line 2: option log_level: expected one of 'error', 'warn', 'info', 'debug', got 'verbose'",
    ],
    [
      'a device name too long',
      file('config tunguard', "\toption wan_device 'abcdefghijklmnop'"),
      2,
      "line 2: option wan_device: expected a network device name (1 to 15 of A-Z a-z 0-9 _ . - @ :), got 'abcdefghijklmnop'",
    ],
    [
      'a bad LAN device in a list',
      file('config tunguard', "\tlist lan_device 'br-lan'", '', "\tlist lan_device 'eth/1'"),
      4,
      "line 4: list lan_device: expected a network device name (1 to 15 of A-Z a-z 0-9 _ . - @ :), got 'eth/1'",
    ],
    [
      'no LAN device',
      file('config tunguard', "\toption lan_device ''"),
      2,
      'line 2: option lan_device: needs at least one device',
    ],
    [
      'a relative path',
      file('config tunguard', "\toption state_dir 'var/run/tunguard'"),
      2,
      "line 2: option state_dir: expected an absolute path, got 'var/run/tunguard'",
    ],
    [
      "the kernel's main table",
      file('config tunguard', "\toption route_table '254'"),
      2,
      'line 2: option route_table: table 254 belongs to the kernel (253 default, 254 main, 255 local)',
    ],
    [
      'a prefix with host bits',
      file('config tunguard', "\tlist allow_prefix '192.168.1.1/24'"),
      2,
      "line 2: list allow_prefix: bad prefix '192.168.1.1/24': host bits set (the network is 192.168.1.0/24)",
    ],
    [
      'a prefix too long',
      file('config allow', "\tlist prefix '10.0.0.0/8'", "\tlist prefix 'fd00::/200'"),
      3,
      "line 3: list prefix: bad prefix 'fd00::/200': prefix length must be 0..128",
    ],
    [
      'a prefix that is no address',
      file('config allow', "\toption prefix '10.0.0.0/8 lan'"),
      2,
      "line 2: option prefix: bad prefix 'lan': not an IPv4 or IPv6 address",
    ],
    [
      'an allow section without a prefix',
      file('', "config allow 'x'", "\toption comment 'hm'"),
      2,
      "line 2: config allow 'x' has no prefix (add: list prefix '192.0.2.0/24')",
    ],
    [
      'a bad listen address',
      file('config api', "\tlist listen 'localhost:7447'"),
      2,
      "line 2: list listen: bad listen address 'localhost:7447': expected address:port, e.g. 127.0.0.1:7447 or [::1]:7447",
    ],
    [
      'a listen address twice',
      file('config api', "\tlist listen '127.0.0.1:7447'", "\tlist listen '127.0.0.1:7447'"),
      3,
      "line 3: list listen: '127.0.0.1:7447' is listed twice",
    ],
    [
      'a port out of range',
      file("config ratelimit 'udp'", "\tlist exempt_port '70000'"),
      2,
      "line 2: list exempt_port: expected a port 1..65535, got '70000'",
    ],
    [
      'a misspelt option',
      file("config defense 'syn'", "\toption modrate_threshold '100'"),
      2,
      "line 2: unknown option 'modrate_threshold' in config defense 'syn'; did you mean 'moderate_threshold'?",
    ],
    [
      'an unknown option without a near name',
      file('config api', "\toption colour 'blue'"),
      2,
      "line 2: unknown option 'colour' in config api (known: listen, token_file, cors)",
    ],
    [
      'an option named like an Object member',
      file('config tunguard', "\toption __proto__ 'x'"),
      2,
      "line 2: unknown option '__proto__' in config tunguard (known: enabled, wan_device, lan_device, tun_name, queues, route_table, ipv6, offload, state_dir, durable_dir, log_level, status_interval, commit_interval, wan_follow, seccomp, lan_follow, lan_network, allow_prefix)",
    ],
    [
      'a section type named like an Object member',
      file('config constructor'),
      1,
      "line 1: unknown section type 'constructor' (known: tunguard, defense, ratelimit, allow, api, detect)",
    ],
    [
      'an option of another section',
      file("config ratelimit 'icmp'", "\tlist exempt_port '53'"),
      2,
      "line 2: unknown list 'exempt_port' in config ratelimit 'icmp' (exempt_port applies to udp only)",
    ],
    [
      'a misspelt section type',
      file('', "config defence 'syn'"),
      2,
      "line 2: unknown section type 'defence'; did you mean 'defense'?",
    ],
    [
      'an unknown section type',
      file("config zone 'lan'"),
      1,
      "line 1: unknown section type 'zone' (known: tunguard, defense, ratelimit, allow, api, detect)",
    ],
    [
      'an unknown defense',
      file("config defense 'syn_'"),
      1,
      "line 1: config defense cannot be named 'syn_': expected 'syn'; did you mean 'syn'?",
    ],
    [
      'an anonymous defense',
      file('config defense'),
      1,
      "line 1: config defense needs a name: expected 'syn'",
    ],
    [
      'an unknown rate limit',
      file("config ratelimit 'tcp'"),
      1,
      "line 1: config ratelimit cannot be named 'tcp': expected 'icmp' or 'udp'",
    ],
    [
      'two main sections',
      file('config tunguard', '', "config tunguard 'main'"),
      3,
      "line 3: config tunguard 'main' repeats the section at line 1",
    ],
    [
      'moderate above risky (moderate set)',
      file("config defense 'syn'", "\toption moderate_threshold '400'"),
      2,
      'line 2: option moderate_threshold: 400 must be below risky_threshold (300)',
    ],
    [
      'risky below moderate (risky set last)',
      file("config defense 'syn'", "\toption moderate_threshold '50'", "\toption risky_threshold '50'"),
      3,
      'line 3: option risky_threshold: 50 must be above moderate_threshold (50)',
    ],
    [
      'a per-source rate above the global rate',
      file("config ratelimit 'udp'", "\toption per_source_rate '500'"),
      2,
      'line 2: option per_source_rate: 500 must not exceed rate (200)',
    ],
    [
      'the WAN device among the LAN devices',
      file('config tunguard', "\toption wan_device 'eth0'", "\tlist lan_device 'eth0'"),
      3,
      "line 3: list lan_device: 'eth0' is both the WAN device and a LAN device",
    ],
    [
      'the TUN named like the WAN',
      file('config tunguard', "\toption tun_name 'wan'"),
      2,
      "line 2: option tun_name: 'wan' is both the TUN device and a WAN or LAN device",
    ],
    [
      'a LAN device twice',
      file(
        'config tunguard',
        "\tlist lan_device 'eth1'",
        "\tlist lan_device 'eth2'",
        "\tlist lan_device 'eth1'",
      ),
      4,
      "line 4: list lan_device: 'eth1' is listed twice",
    ],
    [
      'proxy_outbound on (not built: refused, not ignored)',
      file(
        'config tunguard',
        "\toption wan_device 'wan'",
        "config defense 'syn'",
        "\toption proxy_outbound '1'",
      ),
      4,
      "line 4: option proxy_outbound: '1' is not supported yet: connections the LAN opens are counted (synproxy_outbound_syn), not proxied",
    ],
  ];
  test.each(cases)('%s', (_, text, line, message) => {
    const err = configErrorOf(() => configFromText(text, '/etc/config/tunguard'));
    expect(err.line).toBe(line);
    expect(err.path).toBe('/etc/config/tunguard');
    expect(err.issues[0].message).toBe(message);
    expect(err.message.split('\n')[0]).toBe(`/etc/config/tunguard: ${message}`);
  });

  test('every problem is reported, in line order', () => {
    const err = configErrorOf(() =>
      configFromText(
        file(
          "config api 'api'",
          "\toption cors 'perhaps'",
          "config defense 'syn'",
          "\toption window_seconds '0'",
          "\toption risky_action 'explode'",
          "config tunguard 'main'",
          "\toption queues 'many'",
        ),
        'f',
      ),
    );
    expect(err.issues.map((i) => i.line)).toEqual([2, 4, 5, 7]);
    expect(err.message.split('\n')).toHaveLength(4);
    expect(err.message.split('\n').every((l) => /^f: line \d+: /.test(l))).toBe(true);
  });

  test('syntax errors carry a column', () => {
    const err = configErrorOf(() => configFromText("config tunguard\n\toption enabled '1", 'f'));
    expect([err.line, err.column]).toEqual([2, 17]);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      'f: line 2: unterminated single quote (values spanning lines are not supported)',
    );
  });
});

// CPE 2.2 → WFN → 2.3 normalisation, name matching, and version comparison / range matching.

import { describe, expect, it } from 'vitest';
import {
  ANY,
  CpeError,
  NA,
  normalizeCpe,
  parseCpe,
  toFs,
  unbindFs,
  unbindUri,
} from '../../src/inventory/cpe.js';
import { compareVersions, inRange, parseVersion } from '../../src/inventory/version.js';

describe('CPE normalisation', () => {
  it('binds a 2.2 URI to a 2.3 formatted string through the WFN', () => {
    expect(toFs(unbindUri('cpe:/a:apache:http_server:2.4.52'))).toBe(
      'cpe:2.3:a:apache:http_server:2.4.52:*:*:*:*:*:*:*',
    );
    expect(toFs(unbindUri('cpe:/o:microsoft:windows_7::sp1'))).toBe(
      'cpe:2.3:o:microsoft:windows_7:*:sp1:*:*:*:*:*:*',
    );
    expect(toFs(unbindUri('cpe:/o:microsoft:windows_7::-:professional'))).toBe(
      'cpe:2.3:o:microsoft:windows_7:*:-:professional:*:*:*:*:*',
    );
  });

  it('decodes percent-escapes and the packed edition', () => {
    const w = unbindUri('cpe:/a:hp:insight_diagnostics:7.4.0.1570::~~online~win2003~x64~');
    expect(w.sw_edition).toBe('online');
    expect(w.target_sw).toBe('win2003');
    expect(w.target_hw).toBe('x64');
    expect(w.edition).toBe(ANY);
    expect(toFs(unbindUri('cpe:/a:foo%21bar:baz'))).toBe('cpe:2.3:a:foo\\!bar:baz:*:*:*:*:*:*:*:*');
  });

  it('splits OpenSSH portable suffixes the way NVD writes them and folds vendor aliases', () => {
    expect(normalizeCpe('cpe:/a:openbsd:openssh:8.2p1')).toBe('cpe:2.3:a:openbsd:openssh:8.2:p1:*:*:*:*:*:*');
    expect(normalizeCpe('cpe:/o:microsoft_corporation:windows_10')).toBe(
      'cpe:2.3:o:microsoft:windows_10:*:*:*:*:*:*:*:*',
    );
  });

  it('round-trips a formatted string and keeps NA vs ANY', () => {
    const fs = 'cpe:2.3:a:openbsd:openssh:9.3:-:*:*:*:*:*:*';
    const w = unbindFs(fs);
    expect(w.update).toBe(NA);
    expect(toFs(w)).toBe(fs);
    expect(toFs(parseCpe('cpe:2.3:a:vendor:prod\\:x:1.0:*:*:*:*:*:*:*'))).toBe(
      'cpe:2.3:a:vendor:prod\\:x:1.0:*:*:*:*:*:*:*',
    );
  });

  it('refuses what is not a CPE', () => {
    expect(() => parseCpe('cpe:/x:foo')).toThrow(CpeError);
    expect(() => parseCpe('cpe:2.3:a:too:few')).toThrow(CpeError);
    expect(() => parseCpe('hello')).toThrow(CpeError);
    expect(() => parseCpe('cpe:/a:foo%zz:bar')).toThrow(CpeError);
  });
});

describe('version comparison', () => {
  it('orders plain dotted versions and treats trailing zeros as equal', () => {
    expect(compareVersions('2.4.52', '2.4.9')).toBe(1);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
    expect(compareVersions('10.0.17763', '10.0.17763.7557')).toBe(-1);
  });

  it('orders OpenSSL letter releases', () => {
    expect(compareVersions('1.0.2k', '1.0.2u')).toBe(-1);
    expect(compareVersions('1.0.2', '1.0.2a')).toBe(-1);
    expect(compareVersions('1.1.1w', '3.0.0')).toBe(-1);
    expect(compareVersions('1.0.2zb', '1.0.2z')).toBe(1);
  });

  it('orders OpenSSH portable releases', () => {
    expect(compareVersions('8.9p1', '8.9')).toBe(1);
    expect(compareVersions('8.9p1', '9.3p2')).toBe(-1);
    expect(compareVersions('9.3p2', '9.3p1')).toBe(1);
    expect(compareVersions('7.4', '7.4p1')).toBe(-1);
  });

  it('puts pre-releases before the release', () => {
    expect(compareVersions('2.0rc1', '2.0')).toBe(-1);
    expect(compareVersions('2.0-beta2', '2.0-alpha9')).toBe(1);
    expect(compareVersions('2.0b1', '2.0')).toBe(-1);
  });

  it('handles epochs only when both sides have one, and splits distro revisions', () => {
    expect(compareVersions('1:8.9p1-3ubuntu0.1', '8.9p1')).toBe(0);
    expect(compareVersions('2:1.0', '1:9.0')).toBe(1);
    expect(parseVersion('1:8.9p1-3ubuntu0.1')?.revision).toBe('3ubuntu0.1');
    expect(parseVersion('8.9p1 Ubuntu 3ubuntu0.6')?.revision).toBe('Ubuntu 3ubuntu0.6'.toLowerCase());
  });

  it('says incomparable instead of guessing', () => {
    expect(compareVersions('2013.58', 'foo')).toBeUndefined();
    expect(compareVersions('1.0-custom', '1.0-other')).toBeUndefined();
    expect(compareVersions('', '1.0')).toBeUndefined();
  });
});

describe('range matching', () => {
  it('applies start/end including/excluding bounds', () => {
    const r = { versionStartIncluding: '1.0.2', versionEndExcluding: '1.0.2u' };
    expect(inRange('1.0.2k', r)).toBe('in');
    expect(inRange('1.0.2u', r)).toBe('out');
    expect(inRange('1.0.1z', r)).toBe('out');
    expect(inRange('1.0.2', r)).toBe('in');
    expect(inRange('9.3p1', { versionEndIncluding: '9.3p1' })).toBe('in');
    expect(inRange('9.3p2', { versionEndIncluding: '9.3p1' })).toBe('out');
    expect(inRange('5.0', { versionStartExcluding: '5.0' })).toBe('out');
  });

  it('gives incomparable (no match) when a bound cannot be compared', () => {
    expect(inRange('custom-build', { versionEndExcluding: '2.0' })).toBe('incomparable');
    expect(inRange('1.0-foo', { versionEndExcluding: '1.0-bar' })).toBe('incomparable');
  });
});

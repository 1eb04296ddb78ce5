// The path rules of both platforms as pure functions (these run on Linux; test/windows runs them on Windows).

import { describe, expect, it } from 'vitest';
import { expandWinEnv, posixRules, win32Rules } from '../../src/agent/platform.js';
import { Refused } from '../../src/agent/refused.js';

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof Refused) return e.refusal;
    throw e;
  }
  return 'accepted';
};

describe('Windows path rules', () => {
  const canon = (p: string) => win32Rules.canonical(p);

  it('takes drive paths and the \\\\?\\ long form as one spelling, the drive letter upper-case', () => {
    expect(canon('c:\\Windows\\System32')).toBe('C:\\Windows\\System32');
    expect(canon('\\\\?\\C:\\Windows\\System32')).toBe('C:\\Windows\\System32');
    expect(canon('C:\\')).toBe('C:\\');
  });

  it.each([
    ['..\\ traversal', 'C:\\a\\..\\b'],
    ['. component', 'C:\\a\\.\\b'],
    ['drive-relative C:..', 'C:..\\b'],
    ['drive-relative C:a', 'C:a'],
    ['rooted without a drive', '\\Windows'],
    ['relative', 'Windows\\System32'],
    ['UNC', '\\\\server\\share\\x'],
    ['UNC long form', '\\\\?\\UNC\\server\\share'],
    ['device', '\\\\.\\PhysicalDrive0'],
    ['device with a drive', '\\\\.\\C:\\x'],
    ['forward slash', 'C:\\a/..\\b'],
    ['empty component', 'C:\\a\\\\b'],
    ['trailing separator', 'C:\\a\\'],
    ['stream', 'C:\\a\\file.txt:hidden'],
    ['stream type', 'C:\\a\\file.txt::$DATA'],
    ['reserved CON', 'C:\\a\\CON'],
    ['reserved with extension', 'C:\\a\\nul.sys'],
    ['reserved COM1 with spaces', 'C:\\a\\COM1 .txt'],
    ['reserved superscript', 'C:\\a\\LPT\u00b9'],
    ['trailing dot', 'C:\\a\\evil.sys.'],
    ['trailing space', 'C:\\a\\evil.sys '],
    ['wildcard', 'C:\\a\\*.sys'],
    ['control character', 'C:\\a\\b\u0001'],
    ['NUL byte', 'C:\\a\0'],
  ])('refuses %s', (_, p) => expect(refusal(() => canon(p))).toBe('path-not-canonical'));

  it('accepts names that only look like reserved ones', () => {
    for (const n of ['CONSOLE.txt', 'nul1', 'COM10', 'LPT', 'aux_', 'file.sys'])
      expect(win32Rules.checkName(n)).toBeUndefined();
  });

  it('compares roots without case and only on component boundaries', () => {
    expect(
      win32Rules.below('C:\\WINDOWS\\system32\\DRIVERS\\x.sys', 'C:\\Windows\\System32\\drivers'),
    ).toEqual(['x.sys']);
    expect(
      win32Rules.below('C:\\Windows\\System32\\drivers2\\x.sys', 'C:\\Windows\\System32\\drivers'),
    ).toBeUndefined();
    expect(
      win32Rules.below('C:\\Windows\\System32\\drivers', 'C:\\Windows\\System32\\drivers'),
    ).toBeUndefined();
    expect(
      win32Rules.below('D:\\Windows\\System32\\drivers\\x', 'C:\\Windows\\System32\\drivers'),
    ).toBeUndefined();
    expect(win32Rules.same('c:\\a\\B', 'C:\\A\\b')).toBe(true);
  });

  it('expands %SystemRoot% and %ProgramData% without case; an unknown name is an error', () => {
    const env = { SystemRoot: 'C:\\Windows', PROGRAMDATA: 'C:\\ProgramData' };
    expect(expandWinEnv('%systemroot%\\System32\\drivers', env)).toBe('C:\\Windows\\System32\\drivers');
    expect(expandWinEnv('%ProgramData%\\tunguard-agent', env)).toBe('C:\\ProgramData\\tunguard-agent');
    expect(() => expandWinEnv('%NoSuchThing%\\x', env)).toThrow(/%NoSuchThing% is not set/);
  });
});

describe('POSIX path rules (unchanged from the Linux agent)', () => {
  it('refuses non-canonical spellings and compares with case', () => {
    expect(posixRules.canonical('/srv/root')).toBe('/srv/root');
    for (const p of ['srv', '/srv/../etc', '/srv//x', '/srv/./x', '/srv/'])
      expect(refusal(() => posixRules.canonical(p))).toBe('path-not-canonical');
    expect(posixRules.below('/srv/root/x', '/srv/root')).toEqual(['x']);
    expect(posixRules.below('/srv/ROOT/x', '/srv/root')).toBeUndefined();
    expect(posixRules.below('/srv/rootx/y', '/srv/root')).toBeUndefined();
  });
});

// A listen port that Node's fetch (the CLI) and browsers (the dashboard) refuse is refused when the
// config is checked, not found out later as a daemon nobody can reach.
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromText } from '../../src/config/index.js';
import { FETCH_BLOCKED_PORTS } from '../../src/config/net.js';

const conf = (listen: string) => `config api 'api'\n\tlist listen '${listen}'\n`;

describe('listen ports fetch refuses', () => {
  it('(control) Node fetch really refuses them', async () => {
    for (const port of [6000, 10080, 22])
      await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({
        cause: { message: 'bad port' },
      });
  });

  it('are refused at config time with the reason; others are fine', () => {
    expect(FETCH_BLOCKED_PORTS.size).toBeGreaterThan(70);
    expect(() => configFromText(conf('127.0.0.1:6000'))).toThrow(ConfigError);
    expect(() => configFromText(conf('127.0.0.1:6000'))).toThrow(
      /line 2: .*bad listen address '127\.0\.0\.1:6000': port 6000 is one that browsers and Node's fetch refuse/,
    );
    expect(() => configFromText(conf('[::1]:10080'))).toThrow(/port 10080/);
    expect(configFromText(conf('127.0.0.1:7447')).config.api.listen[0].port).toBe(7447);
    expect(configFromText(conf('127.0.0.1:8080')).config.api.listen[0].port).toBe(8080);
  });
});

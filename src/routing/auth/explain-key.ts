import { shownKey } from '../../proxy/policy-explain.js';
import { headerOf } from './policy.js';

/** The filter type a policy's name comes from, as the config file spells it. */
export const AUTH_FILTERS: Readonly<Record<string, string>> = { 'basic-auth': 'BasicAuth', 'forward-auth': 'ForwardAuth', jwt: 'JWT' };

/**
 * Who the request says it is, for X-LB-Explain: a BasicAuth user name, a JWT's `sub` as the token
 * claims it (read, not verified: a refused token shows what it claimed), or null (no credentials,
 * or ForwardAuth, whose service decides on the headers it is sent). Never a password or a token.
 * Only run for a request that asked to be explained.
 */
export function authKey(policy: string, raw: readonly string[]): string | null {
  const value = headerOf(raw, 'authorization');
  if (value === undefined) return null;
  const space = value.indexOf(' ');
  const scheme = value.slice(0, space).toLowerCase();
  const credentials = value.slice(space + 1).trim();
  if (policy === 'basic-auth' && scheme === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? null : shownKey('user', decoded.slice(0, colon));
  }
  if (policy === 'jwt' && scheme === 'bearer') {
    try {
      const payload = JSON.parse(Buffer.from(credentials.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
      return typeof payload.sub === 'string' ? shownKey('sub', payload.sub) : null;
    } catch {
      return null;
    }
  }
  return null;
}

import { ConfigError } from '../../config/errors.js';
import type { Config } from '../../config/index.js';

/**
 * The names ACME gets certificates for: ACME_DOMAINS, or with `routes` every exact hostname of
 * the routes (wildcards are left out: HTTP-01 and TLS-ALPN-01 cannot prove them). Empty: off.
 */
export function acmeNames(config: Pick<Config, 'acme' | 'routes'>): string[] {
  const { domains } = config.acme;
  if (domains !== 'routes') return [...domains];
  return [...new Set(config.routes.flatMap((r) => r.hostnames).filter((h) => !h.startsWith('*.')))];
}

/** Whether ACME is on (some name is configured). */
export function acmeOn(config: Pick<Config, 'acme'>): boolean {
  return config.acme.domains === 'routes' || config.acme.domains.length > 0;
}

/** The challenge answered: `auto` is http-01 when there is a plain listener, else tls-alpn-01. */
export function acmeChallenge(config: Pick<Config, 'acme' | 'tls'>): 'http-01' | 'tls-alpn-01' {
  const { challenge } = config.acme;
  if (challenge !== 'auto') return challenge;
  return config.tls.httpPort !== undefined ? 'http-01' : 'tls-alpn-01';
}

/** The checks across ACME settings; throws ConfigError naming the setting and what is expected. */
export function checkAcme(config: Config): void {
  if (!acmeOn(config)) return;
  const { acme } = config;
  if (acme.storage === undefined) {
    throw new ConfigError('missing ACME_STORAGE (acme.storage): expected a directory for the ACME account key and certificates when ACME_DOMAINS is set');
  }
  if (acme.challenge === 'http-01' && config.tls.httpPort === undefined) {
    throw new ConfigError('invalid ACME_CHALLENGE (acme.challenge) "http-01" without HTTP_PORT: expected HTTP_PORT (the plain listener answers the challenge), or tls-alpn-01');
  }
  if (acmeNames(config).length === 0) {
    throw new ConfigError('invalid ACME_DOMAINS (acme.domains) "routes": expected routes with exact hostnames (wildcards cannot be proved by HTTP-01 or TLS-ALPN-01), or a list of names');
  }
}

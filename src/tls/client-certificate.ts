import type { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { RequestContext } from '../context/request-context.js';
import type { Middleware } from '../middleware/chain.js';

/** TLS_CLIENT_AUTH: whether the TLS listener asks clients for a certificate, and what a missing or bad one costs. */
export const CLIENT_AUTH_MODES = ['off', 'optional', 'require'] as const;
export type ClientAuthMode = (typeof CLIENT_AUTH_MODES)[number];

/** A client's certificate, verified against TLS_CLIENT_CA_FILE during the handshake. */
export interface ClientCertificate {
  /** The subject as RFC 4514 (2253) writes it, most specific first: `CN=client,O=Example`. */
  readonly subject: string;
  /** Subject alternative names without their type: URIs, DNS names and e-mail addresses. */
  readonly sans: readonly string[];
  /** The value of Envoy's `X-Forwarded-Client-Cert` for it: `Hash=…;Subject="…";URI=…;DNS=…`. */
  readonly xfcc: string;
}

/** Where a connection keeps its verified certificate, read once: undefined not read yet, null none. */
const VERIFIED = Symbol('verified client certificate');

type TlsLike = Socket & {
  authorized?: boolean;
  getPeerX509Certificate?: () => X509Certificate | undefined;
  [VERIFIED]?: ClientCertificate | null;
};

/**
 * The certificate the client on `socket` presented, when the handshake verified it; undefined
 * for a plain connection, a client without one, or one that did not verify (TLS_CLIENT_AUTH
 * optional lets those through). Read once per connection: every request on it shares the answer.
 */
export function verifiedCertificate(socket: Socket): ClientCertificate | undefined {
  const tls = socket as TlsLike;
  const known = tls[VERIFIED];
  if (known !== undefined) return known ?? undefined;
  let found: ClientCertificate | null = null;
  if (tls.authorized === true && typeof tls.getPeerX509Certificate === 'function') {
    const x509 = tls.getPeerX509Certificate();
    if (x509 !== undefined) found = describeCertificate(x509);
  }
  tls[VERIFIED] = found;
  return found ?? undefined;
}

/** Subject, SANs and the XFCC value of a certificate. */
export function describeCertificate(x509: X509Certificate): ClientCertificate {
  const subject = rfc4514(x509.subject);
  const uris: string[] = [];
  const dns: string[] = [];
  const sans: string[] = [];
  for (const m of (x509.subjectAltName ?? '').matchAll(/(?:^|, )(URI|DNS|email):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const value = m[2]!.startsWith('"') ? JSON.parse(m[2]!) as string : m[2]!;
    sans.push(value);
    if (m[1] === 'URI') uris.push(value);
    else if (m[1] === 'DNS') dns.push(value);
  }
  // Envoy's format (config.core.v3 ForwardClientCertDetails): the hash of the DER, the subject
  // quoted, then one URI= and DNS= element per name.
  let xfcc = `Hash=${x509.fingerprint256.replaceAll(':', '').toLowerCase()};Subject=${quote(subject)}`;
  for (const uri of uris) xfcc += `;URI=${quoteIfNeeded(uri)}`;
  for (const name of dns) xfcc += `;DNS=${quoteIfNeeded(name)}`;
  return { subject, sans, xfcc };
}

/**
 * Node writes a subject one attribute a line, least specific first (`C=…\nO=…\nCN=…`); RFC 4514
 * puts the most specific first, separated by commas, with `,+"\;<>` escaped.
 */
function rfc4514(subject: string): string {
  return subject.split('\n').filter((line) => line !== '').reverse()
    .map((line) => {
      const eq = line.indexOf('=');
      return `${line.slice(0, eq)}=${line.slice(eq + 1).replace(/[,+"\\;<>]/g, '\\$&')}`;
    }).join(',');
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** XFCC quotes a value that holds one of its separators (`,;=`) or a quote. */
function quoteIfNeeded(value: string): string {
  return /[,;="]/.test(value) ? quote(value) : value;
}

/**
 * The chain's step that reads the client's verified certificate once per connection into
 * `ctx.clientCertificate` (what routes match on and X-Forwarded-Client-Cert carries). Only in
 * the chain when TLS_CLIENT_AUTH is not off: otherwise no request pays for it.
 */
export function clientCertificates(): Middleware {
  return {
    name: 'client-certificate',
    handle: (ctx: RequestContext, next) => {
      ctx.clientCertificate = verifiedCertificate(ctx.req.socket);
      next(ctx);
    },
  };
}

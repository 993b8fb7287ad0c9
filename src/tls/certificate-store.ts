import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { ContextMaker } from './server-contexts.js';

/** A certificate (PEM, the leaf first, then its intermediates) and its private key (PEM). */
export interface CertificatePems {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** A certificate or key the store cannot use: unreadable PEM, or a key that does not match. */
export class CertificateError extends Error {
  readonly code = 'LB_ERR_TLS_CERTIFICATE';
  override readonly name = 'CertificateError';
}

/** One certificate as the store keeps it. */
interface Entry {
  readonly source: string;
  /** Bumped on every `set` of the source: contexts built from an older version are not reused. */
  readonly version: number;
  readonly pems: CertificatePems;
  /** `rsa`, `ec`, `ed25519`, …: OpenSSL keeps one certificate per key type in a context. */
  readonly keyType: string;
  /** Lowercase DNS names it serves: its DNS SANs, or its subject CN when it has none; `*.example.com` kept as is. */
  readonly names: readonly string[];
}

/** The SNICallback Node's TLS server calls with the client's server name (on the handshake's TLSSocket). */
export type SniCallback = (servername: string, callback: (err: Error | null, context?: SecureContext) => void) => void;

/** What a name is served with: one context per key type, in the order the certificates were set. */
type Choices = readonly { readonly keyType: string; readonly context: SecureContext }[];

let versions = 0;

/**
 * The certificates the TLS listener serves, chosen by the client's server name (SNI). Each
 * certificate is known by a `source` (the file it came from, or `acme:example.com`); its names are
 * its DNS subject alternative names. A server name is matched exactly first, then against
 * wildcards of one label (`*.example.com` covers `a.example.com`, not `a.b.example.com` nor
 * `example.com`); a client without SNI, or whose name matches nothing, gets the default: the
 * certificate set of the first source's first name.
 *
 * Certificates with different key types for the same name (RSA and ECDSA) may coexist. Node
 * hands a handshake one certificate for its server name (the SNI context's current one), so the
 * SNICallback picks the one whose key type comes first in the signature algorithms shared with
 * the client (OpenSSL's order: ECDSA before RSA); the default set is in the server's own context whole, and OpenSSL picks among
 * it with everything the client said. Every context is built when a certificate is set or
 * deleted, never during a handshake: the SNICallback is a map lookup and a short scan.
 */
export class CertificateStore {
  readonly #entries = new Map<string, Entry>();
  /** Makes every context: TLS versions, ciphers, groups, the client CA, the session id context, the ticket keys. */
  readonly #maker: ContextMaker;
  /** By name: its choices, or null for the default set's names (served by the server's own context). */
  #exact = new Map<string, Choices | null>();
  #wildcard = new Map<string, Choices | null>();
  #default: { readonly context: SecureContext; readonly entries: readonly Entry[] } | undefined;
  /** Contexts by the versions they were built from, kept across rebuilds while still in use. */
  #built = new Map<string, SecureContext>();
  readonly #listeners: (() => void)[] = [];

  /** `maker`: makes every context with the listener's settings (ServerContexts); plain contexts by default. */
  constructor(maker: ContextMaker = PLAIN) {
    this.#maker = maker;
  }

  /**
   * Adds or replaces the certificate of `source` (a replaced source keeps its place in the order,
   * so the default stays the first configured). Returns the names it serves. Throws
   * CertificateError (and changes nothing) when the PEM cannot be read or the key does not match.
   * New handshakes see the change at once; open connections keep their certificate.
   */
  set(source: string, pems: CertificatePems): readonly string[] {
    const entry = describe(source, pems, this.#maker);
    this.#entries.set(source, entry);
    this.#rebuild();
    return entry.names;
  }

  /** Removes the certificate of `source`; false when there was none. */
  delete(source: string): boolean {
    if (!this.#entries.delete(source)) return false;
    this.#rebuild();
    return true;
  }

  /** Whether a certificate is set for `source`. */
  has(source: string): boolean {
    return this.#entries.has(source);
  }

  /** The names each source serves, in order. */
  sources(): ReadonlyMap<string, readonly string[]> {
    return new Map([...this.#entries.values()].map((e) => [e.source, e.names]));
  }

  /**
   * The context for `servername` (any case, a trailing dot allowed): exact, then wildcard, then
   * the default. `sigalgs`: the signature algorithms shared with the client, as Node names them
   * (`ECDSA+SHA256`, `RSA-PSS+SHA256`), to choose among key types; the first set otherwise.
   */
  contextFor(servername: string | undefined, sigalgs?: readonly string[]): SecureContext | undefined {
    const choices = this.#choicesFor(servername);
    return choices === undefined ? this.#default?.context : choose(choices, sigalgs);
  }

  /** The choices for a server name; undefined for the default (the default set's names, no match, no name). */
  #choicesFor(servername: string | undefined): Choices | undefined {
    if (servername === undefined || servername === '') return undefined;
    let name = servername.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    let choices = this.#exact.get(name);
    if (choices === undefined) {
      const dot = name.indexOf('.');
      if (dot > 0) choices = this.#wildcard.get(name.slice(dot + 1));
    }
    return choices ?? undefined;
  }

  /**
   * For Node's TLS server (`SNICallback`): the context for the client's server name. Node calls
   * it on the handshake's TLSSocket, whose shared signature algorithms are known by then.
   */
  readonly SNICallback: SniCallback = (() => {
    const store = this;
    return function (this: unknown, servername: string, callback: (err: Error | null, context?: SecureContext) => void): void {
      const choices = store.#choicesFor(servername);
      // The default: no context, so the handshake keeps the server's own, which holds every
      // certificate of the default set (handing it over would pass on only one, Node 24 on).
      if (choices === undefined) {
        callback(null, undefined);
        return;
      }
      const socket = this as { getSharedSigalgs?: () => string[] } | undefined;
      callback(null, choose(choices, typeof socket?.getSharedSigalgs === 'function' ? socket.getSharedSigalgs() : undefined));
    };
  })();

  /**
   * The default certificates as options for the server's own context (what a client without SNI
   * gets; the listener's settings are ServerContexts'); undefined while the store is empty.
   */
  defaultOptions(): SecureContextOptions | undefined {
    const entries = this.#default?.entries;
    if (entries === undefined) return undefined;
    return { cert: entries.map((e) => e.pems.cert), key: entries.map((e) => e.pems.key) };
  }

  /** Calls `listener` after every change (the listener's default context follows the store). */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  #rebuild(): void {
    const entries = [...this.#entries.values()];
    // For each name, the first certificate of each key type that serves it, in source order.
    const byName = new Map<string, Entry[]>();
    for (const entry of entries) {
      for (const name of entry.names) {
        const list = byName.get(name);
        if (list === undefined) byName.set(name, [entry]);
        else if (!list.some((e) => e.keyType === entry.keyType)) list.push(entry);
      }
    }
    const built = new Map<string, SecureContext>();
    const first = entries[0];
    const defaults = first === undefined ? undefined : first.names.length === 0 ? [first] : byName.get(first.names[0]!)!;
    const defaultKey = defaults?.map((e) => `${e.version}`).join(',');
    const contextOf = (set: readonly Entry[]): SecureContext => {
      const key = set.map((e) => `${e.version}`).join(',');
      let context = built.get(key) ?? this.#built.get(key);
      if (context === undefined) {
        context = this.#maker.create({ cert: set.map((e) => e.pems.cert), key: set.map((e) => e.pems.key) });
      }
      built.set(key, context);
      return context;
    };
    // The default set's names get its whole context (the server's own has it too); any other
    // name one context per certificate, chosen per handshake (see `choose`).
    const choicesOf = (set: readonly Entry[]): Choices | null => (set.map((e) => `${e.version}`).join(',') === defaultKey
      ? null
      : set.map((e) => ({ keyType: e.keyType, context: contextOf([e]) })));
    const exact = new Map<string, Choices | null>();
    const wildcard = new Map<string, Choices | null>();
    for (const [name, set] of byName) {
      if (name.startsWith('*.')) wildcard.set(name.slice(2), choicesOf(set));
      else exact.set(name, choicesOf(set));
    }
    this.#default = defaults === undefined ? undefined : { context: contextOf(defaults), entries: defaults };
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#built = built;
    for (const listener of this.#listeners) listener();
  }
}

/** The key type a signature algorithm as Node names it (`ECDSA+SHA256`, `RSA-PSS+SHA256`, `Ed25519+UNDEF`) signs with. */
function keyTypeOf(sigalg: string): string {
  const scheme = sigalg.slice(0, sigalg.indexOf('+')).toLowerCase();
  return scheme === 'ecdsa' ? 'ec' : scheme === 'rsa-pss' || scheme === 'rsa' ? 'rsa' : scheme;
}

/** The context of the key type the client prefers among those the name has; the first without a preference. */
function choose(choices: Choices, sigalgs: readonly string[] | undefined): SecureContext {
  if (choices.length === 1 || sigalgs === undefined) return choices[0]!.context;
  for (const sigalg of sigalgs) {
    const type = keyTypeOf(sigalg);
    for (const choice of choices) if (choice.keyType === type) return choice.context;
  }
  return choices[0]!.context;
}

/** Contexts with Node's defaults (a store not behind a listener, as in tests). */
const PLAIN: ContextMaker = { create: (certificates) => createSecureContext(certificates as SecureContextOptions) };

/** Reads a certificate's key type and names, and checks that its key matches. */
function describe(source: string, pems: CertificatePems, maker: ContextMaker): Entry {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(pems.cert);
    // Throws on a bad PEM, or a key that does not match the certificate (with the listener's settings).
    maker.create(pems);
  } catch (err) {
    throw new CertificateError(`${source}: expected a PEM certificate and its matching key (${(err as Error).message})`, { cause: err });
  }
  return { source, version: ++versions, pems, keyType: x509.publicKey.asymmetricKeyType ?? 'unknown', names: certificateNames(x509) };
}

/** The DNS names a certificate serves: its DNS subject alternative names, else its subject's CN (lowercase). */
export function certificateNames(x509: X509Certificate): string[] {
  const names: string[] = [];
  for (const m of (x509.subjectAltName ?? '').matchAll(/(?:^|, )DNS:([^,\s]+)/g)) {
    const name = m[1]!.toLowerCase();
    if (!names.includes(name)) names.push(name);
  }
  if (names.length > 0) return names;
  const cn = /^CN=(.+)$/m.exec(x509.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

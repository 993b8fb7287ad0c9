import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { dnsBackendSpec, type BackendSpec, type DnsBackend } from './backend-spec.js';

/** The backends a DNS entry resolved to, and how long the answer may be trusted (seconds). */
export interface Resolved {
  readonly specs: readonly BackendSpec[];
  readonly ttl: number | undefined;
}

export interface DiscoveryOptions {
  /** Longest time between lookups of an entry, ms; a shorter TTL wins. */
  readonly refresh: number;
  /** `host:port` pairs; undefined: the system's resolver. */
  readonly servers: readonly string[] | undefined;
}

/** The shortest wait between lookups of one entry, whatever the TTL says (a TTL of 0 is common). */
const MIN_REFRESH_MS = 1000;
/** After a failed lookup, the next comes sooner than DNS_REFRESH, but not sooner than this. */
const RETRY_MS = 5000;

/**
 * Looks a DNS entry up. With DNS servers given, it asks them (A and AAAA with their TTLs, or
 * SRV); without, A/AAAA go through the system's resolver (getaddrinfo: /etc/hosts and the
 * search domains apply, as for any program on the host, but no TTL is known) and SRV through the
 * system's name servers. An answer without any address is an error: DNS never empties the pool.
 */
export class DnsLookup {
  readonly #resolver: dns.Resolver;
  readonly #system: boolean;

  constructor(servers: readonly string[] | undefined) {
    this.#resolver = new dns.Resolver({ timeout: 2000, tries: 2 });
    this.#system = servers === undefined;
    if (servers !== undefined) this.#resolver.setServers([...servers]);
  }

  async resolve(entry: DnsBackend): Promise<Resolved> {
    if (!entry.srv) {
      const { addresses, ttl } = await this.#addresses(entry.name);
      return { specs: addresses.map((a) => dnsBackendSpec(entry, a, entry.port, entry.weight)), ttl };
    }
    const records = (await this.#resolver.resolveSrv(entry.name)).filter((r) => r.name !== '' && r.name !== '.');
    if (records.length === 0) throw noAddress(entry.name);
    // RFC 2782: the lowest priority is used; the others are for when it is gone (we re-resolve).
    const priority = Math.min(...records.map((r) => r.priority));
    const specs: BackendSpec[] = [];
    let ttl: number | undefined;
    for (const record of records.filter((r) => r.priority === priority)) {
      const target = await this.#addresses(record.name).catch(() => undefined);
      if (target === undefined) continue;
      if (target.ttl !== undefined) ttl = Math.min(ttl ?? Infinity, target.ttl);
      // A weight of 0 means "rarely" (RFC 2782); it still gets the smallest share.
      for (const address of target.addresses) specs.push(dnsBackendSpec(entry, address, record.port, Math.max(1, record.weight)));
    }
    if (specs.length === 0) throw noAddress(entry.name);
    return { specs, ttl };
  }

  async #addresses(name: string): Promise<{ addresses: string[]; ttl: number | undefined }> {
    if (isIP(name) !== 0) return { addresses: [name], ttl: undefined };
    if (this.#system) {
      const found = await dns.lookup(name, { all: true });
      return { addresses: [...new Set(found.map((a) => a.address))], ttl: undefined };
    }
    const [v4, v6] = await Promise.allSettled([this.#resolver.resolve4(name, { ttl: true }), this.#resolver.resolve6(name, { ttl: true })]);
    const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (records.length === 0) {
      // Both failed: the A query's error says the most (NXDOMAIN, SERVFAIL, a timeout).
      if (v4.status === 'rejected') throw v4.reason;
      throw noAddress(name);
    }
    return { addresses: [...new Set(records.map((r) => r.address))], ttl: Math.min(...records.map((r) => r.ttl)) };
  }
}

function noAddress(name: string): Error {
  return Object.assign(new Error(`no address for ${name}`), { code: 'ENODATA' });
}

interface Source {
  readonly entry: DnsBackend;
  /** The last good answer; undefined until there is one. */
  specs: readonly BackendSpec[] | undefined;
  timer: NodeJS.Timeout | undefined;
  failing: boolean;
  /** The time between lookups the last answer set (its TTL, or DNS_REFRESH). */
  period: number;
  /** Set when the source is dropped, so a lookup in flight lands nowhere. */
  gone: boolean;
}

/**
 * Keeps the backends of every `dns+` entry: looks each up at start, then again every
 * DNS_REFRESH (or its TTL when shorter), and calls `onChange` when an entry's set of addresses
 * changes. A failed lookup keeps the last good set (and is logged once, until it works again).
 */
export class DnsDiscovery {
  readonly #sources = new Map<string, Source>();
  /** Entries a reload dropped: their backends stay until the new entries' first answers. */
  #retiring: Source[] = [];
  readonly #onChange: () => void;
  readonly #log: Logger;
  #options: DiscoveryOptions;
  #lookup: DnsLookup;
  #running = false;

  constructor(entries: readonly DnsBackend[], options: DiscoveryOptions, onChange: () => void, log: Logger) {
    this.#onChange = onChange;
    this.#log = log;
    this.#options = options;
    this.#lookup = new DnsLookup(options.servers);
    for (const entry of entries) this.#sources.set(entry.text, newSource(entry));
  }

  /** Every entry's backends, by address; an address two entries share is taken once. */
  get specs(): BackendSpec[] {
    const byId = new Map<string, BackendSpec>();
    for (const source of [...this.#sources.values(), ...this.#retiring]) for (const spec of source.specs ?? []) if (!byId.has(spec.id)) byId.set(spec.id, spec);
    return [...byId.values()];
  }

  /** Looks every entry up once (each bounded by the resolver's timeouts), then keeps them fresh. */
  async start(): Promise<void> {
    this.#running = true;
    await Promise.all([...this.#sources.values()].map((s) => this.#refresh(s)));
  }

  stop(): void {
    this.#running = false;
    for (const source of this.#sources.values()) clearTimeout(source.timer);
  }

  /**
   * New entries and options (a reload): entries still configured keep their addresses (and so
   * their backends' health and counters); new ones are looked up now; dropped ones are forgotten.
   */
  configure(entries: readonly DnsBackend[], options: DiscoveryOptions): void {
    const newServers = JSON.stringify(options.servers) !== JSON.stringify(this.#options.servers);
    if (newServers) this.#lookup = new DnsLookup(options.servers);
    this.#options = options;
    const wanted = new Set(entries.map((e) => e.text));
    const dropped: Source[] = [];
    for (const [text, source] of this.#sources) {
      if (wanted.has(text)) continue;
      source.gone = true;
      clearTimeout(source.timer);
      this.#sources.delete(text);
      dropped.push(source);
    }
    const first: Promise<void>[] = [];
    for (const entry of entries) {
      let source = this.#sources.get(entry.text);
      const known = source !== undefined;
      if (source === undefined) {
        source = newSource(entry);
        this.#sources.set(entry.text, source);
      }
      // Other servers may answer otherwise: ask them now. A new DNS_REFRESH applies from the next lookup.
      if (this.#running && (!known || newServers)) first.push(this.#refresh(source));
    }
    // A renamed entry (a reload) must not empty the pool while its new name is looked up: the
    // dropped entries' backends stay until the new entries have answered (or failed to).
    if (dropped.length === 0) return;
    const retiring = dropped.filter((s) => (s.specs?.length ?? 0) > 0);
    if (retiring.length === 0 || first.length === 0) return;
    this.#retiring.push(...retiring);
    void Promise.all(first).then(() => {
      this.#retiring = this.#retiring.filter((s) => !retiring.includes(s));
      this.#onChange();
    });
  }

  async #refresh(source: Source): Promise<void> {
    let next = this.#options.refresh;
    try {
      const { specs, ttl } = await this.#lookup.resolve(source.entry);
      if (source.gone) return;
      if (ttl !== undefined) next = Math.min(next, Math.max(MIN_REFRESH_MS, ttl * 1000));
      source.period = next;
      if (source.failing) this.#log.info({ dns: source.entry.text, addresses: specs.length }, 'DNS lookup works again');
      source.failing = false;
      const sorted = [...specs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      if (!sameSpecs(source.specs, sorted)) {
        this.#log.info({ dns: source.entry.text, backends: sorted.map((s) => s.id) }, 'DNS backends changed');
        source.specs = sorted;
        this.#onChange();
      }
    } catch (err) {
      if (source.gone) return;
      next = Math.min(source.period, RETRY_MS);
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      const kept = source.specs?.length ?? 0;
      if (!source.failing) {
        this.#log.warn({ dns: source.entry.text, err: code, kept }, kept === 0 ? 'DNS lookup failed: no backend from it yet, trying again'
          : `DNS lookup failed: keeping the last ${kept} backend(s) from it, trying again`);
      } else {
        this.#log.debug({ dns: source.entry.text, err: code, kept }, 'DNS lookup failed again');
      }
      source.failing = true;
    }
    if (this.#running && !source.gone) this.#schedule(source, next);
  }

  #schedule(source: Source, ms: number): void {
    clearTimeout(source.timer);
    source.timer = setTimeout(() => void this.#refresh(source), ms);
    source.timer.unref();
  }
}

function newSource(entry: DnsBackend): Source {
  return { entry, specs: undefined, timer: undefined, failing: false, period: Infinity, gone: false };
}

function sameSpecs(a: readonly BackendSpec[] | undefined, b: readonly BackendSpec[]): boolean {
  return a !== undefined && a.length === b.length && a.every((s, i) => s.id === b[i]!.id && s.url === b[i]!.url && s.weight === b[i]!.weight);
}

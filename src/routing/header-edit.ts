import type { HeaderEdit } from '../context/index.js';
import type { HeaderModifierSpec } from './route-spec.js';

/**
 * Gateway API's RequestHeaderModifier and ResponseHeaderModifier, compiled: `set` replaces every
 * field of its name, `add` appends a field (a list-valued header then reads `old, new`),
 * `remove` drops every field of its name. Names compare without case; the list is copied, never
 * edited in place.
 */
export class HeaderModifier implements HeaderEdit {
  /** Lowercase names whose fields go: those removed and those set. */
  readonly #drop: ReadonlySet<string>;
  /** What is appended: the set fields, then the added ones, as [name, value, …]. */
  readonly #append: readonly string[];

  constructor(spec: HeaderModifierSpec) {
    this.#drop = new Set([...spec.remove, ...spec.set.map((h) => h.name)].map((n) => n.toLowerCase()));
    this.#append = [...spec.set, ...spec.add].flatMap((h) => [h.name, h.value]);
  }

  apply(headers: readonly string[]): string[] {
    const out: string[] = [];
    const drop = this.#drop;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (drop.size > 0 && drop.has(name.toLowerCase())) continue;
      out.push(name, headers[i + 1]!);
    }
    for (const field of this.#append) out.push(field);
    return out;
  }
}

/** The Host of a request as received (`:authority` over HTTP/2), or undefined. */
export function requestHost(raw: readonly string[]): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && (name === 'host' || name === 'Host' || name.toLowerCase() === 'host')) return raw[i + 1];
    if (name === ':authority') return raw[i + 1];
  }
  return undefined;
}

/** `raw` with its Host (and `:authority`) set to `host`. */
export function withHost(raw: readonly string[], host: string): string[] {
  const out: string[] = [];
  let done = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const isHost = name === ':authority' || (name.length === 4 && name.toLowerCase() === 'host');
    if (isHost && done) continue;
    out.push(name, isHost ? host : raw[i + 1]!);
    done ||= isHost;
  }
  if (!done) out.push('host', host);
  return out;
}

import type { HookHeaders } from './types.js';

/**
 * HookHeaders over a flat field list ([name, value, …]), the shape both engines keep a head in.
 * The list is never edited in place: an edit makes a new one and hands it to `commit` (for a
 * request, `replaceRawHeaders`, which also renews node's headers object).
 */
export class ListHeaders implements HookHeaders {
  #list: readonly string[];
  readonly #commit: (list: string[]) => void;

  constructor(list: readonly string[], commit: (list: string[]) => void) {
    this.#list = list;
    this.#commit = commit;
  }

  /** The list as it is now. */
  get list(): readonly string[] {
    return this.#list;
  }

  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    const list = this.#list;
    let value: string | undefined;
    for (let i = 0; i + 1 < list.length; i += 2) {
      if (list[i]!.toLowerCase() !== lower) continue;
      value = value === undefined ? list[i + 1]! : `${value}${lower === 'set-cookie' ? '\n' : ', '}${list[i + 1]!}`;
    }
    return value;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, value: string): void {
    const next = this.#without(name.toLowerCase());
    next.push(name, checked(name, value));
    this.#replace(next);
  }

  append(name: string, value: string): void {
    this.#replace([...this.#list, name, checked(name, value)]);
  }

  delete(name: string): void {
    if (this.has(name)) this.#replace(this.#without(name.toLowerCase()));
  }

  entries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 0; i + 1 < this.#list.length; i += 2) out.push([this.#list[i]!, this.#list[i + 1]!]);
    return out;
  }

  #without(lower: string): string[] {
    const next: string[] = [];
    const list = this.#list;
    for (let i = 0; i + 1 < list.length; i += 2) if (list[i]!.toLowerCase() !== lower) next.push(list[i]!, list[i + 1]!);
    return next;
  }

  #replace(next: string[]): void {
    this.#list = next;
    this.#commit(next);
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A hook's field must be one HTTP can carry: a token for a name, no CR, LF or NUL in the value. */
function checked(name: string, value: string): string {
  if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
  const text = String(value);
  if (/[\r\n\0]/.test(text)) throw new TypeError(`invalid value for header ${name}: no CR, LF or NUL`);
  return text;
}

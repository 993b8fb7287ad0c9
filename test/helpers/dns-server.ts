import { once } from 'node:events';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}

export interface Records {
  a?: string[];
  aaaa?: string[];
  srv?: SrvRecord[];
}

const TYPES = { A: 1, AAAA: 28, SRV: 33 } as const;

/**
 * A small authoritative DNS server on 127.0.0.1 (UDP, RFC 1035 section 4), enough for a resolver
 * to ask it A, AAAA and SRV questions: names it does not know get NXDOMAIN, known names
 * without records of the asked type an empty answer. `fail` makes it answer SERVFAIL.
 */
export class TestDnsServer {
  readonly zone = new Map<string, Records>();
  ttl = 30;
  fail = false;
  /** Rotate the order of A records on every answer, as many DNS servers do. */
  rotate = false;
  queries = 0;
  #turn = 0;
  readonly #waiters: { name: string; resolve: () => void }[] = [];
  readonly #socket: Socket;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (msg, from) => this.#answer(msg, from));
  }

  static async start(): Promise<TestDnsServer> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new TestDnsServer(socket);
  }

  /** As DNS_SERVERS takes it. */
  get address(): string {
    const { address, port } = this.#socket.address() as AddressInfo;
    return `${address}:${port}`;
  }

  /** Resolves when the next A question for `name` has been answered. */
  nextQuery(name: string): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ name, resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  #answer(msg: Buffer, from: RemoteInfo): void {
    if (msg.length < 12) return;
    this.queries++;
    let offset = 12;
    const labels: string[] = [];
    while (offset < msg.length && msg[offset]! !== 0) {
      const length = msg[offset]!;
      labels.push(msg.subarray(offset + 1, offset + 1 + length).toString('latin1'));
      offset += 1 + length;
    }
    const questionEnd = offset + 5;
    const type = msg.readUInt16BE(offset + 1);
    const name = labels.join('.').toLowerCase();
    const records = this.zone.get(name);
    const answers: Buffer[] = [];
    let rcode = 0;
    if (this.fail) rcode = 2;
    else if (records === undefined) rcode = 3;
    else if (type === TYPES.A) answers.push(...this.#rotated(records.a ?? []).map((ip) => this.#record(TYPES.A, Buffer.from(ip.split('.').map(Number)))));
    else if (type === TYPES.AAAA) answers.push(...(records.aaaa ?? []).map((ip) => this.#record(TYPES.AAAA, ipv6(ip))));
    else if (type === TYPES.SRV) {
      answers.push(...(records.srv ?? []).map((r) => {
        const head = Buffer.alloc(6);
        head.writeUInt16BE(r.priority, 0);
        head.writeUInt16BE(r.weight, 2);
        head.writeUInt16BE(r.port, 4);
        return this.#record(TYPES.SRV, Buffer.concat([head, encodeName(r.target)]));
      }));
    }
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    // QR, the query's opcode and RD, AA; RA; the rcode.
    header[2] = 0x80 | (msg[2]! & 0x79) | 0x04;
    header[3] = 0x80 | rcode;
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    this.#socket.send(Buffer.concat([header, msg.subarray(12, questionEnd), ...answers]), from.port, from.address);
    if (type !== TYPES.A) return;
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.#waiters[i]!.name === name) this.#waiters.splice(i, 1)[0]!.resolve();
    }
  }

  #rotated(list: readonly string[]): string[] {
    if (!this.rotate || list.length === 0) return [...list];
    const k = this.#turn++ % list.length;
    return [...list.slice(k), ...list.slice(0, k)];
  }

  /** An answer for the question's name (a pointer to offset 12), class IN. */
  #record(type: number, data: Buffer): Buffer {
    const head = Buffer.alloc(12);
    head.writeUInt16BE(0xc00c, 0);
    head.writeUInt16BE(type, 2);
    head.writeUInt16BE(1, 4);
    head.writeUInt32BE(this.ttl, 6);
    head.writeUInt16BE(data.length, 10);
    return Buffer.concat([head, data]);
  }
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((p) => p !== '');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])), Buffer.from([0])]);
}

function ipv6(text: string): Buffer {
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

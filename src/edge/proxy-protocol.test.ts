import { test } from 'node:test';
import assert from 'node:assert/strict';
import { looksLikeProxyHeader, parseProxyHeader, tlvValue, V2_SIGNATURE, type ProxyHeader } from './proxy-protocol.js';

/** A version 2 header: command (0 LOCAL, 1 PROXY), family byte, the address block and TLVs. */
function v2(command: number, family: number, addresses: Buffer, tlvs = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = family;
  head.writeUInt16BE(addresses.length + tlvs.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, addresses, tlvs]);
}

function ports(source: number, destination: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(source, 0);
  b.writeUInt16BE(destination, 2);
  return b;
}

const header = (parsed: ReturnType<typeof parseProxyHeader>): ProxyHeader => {
  assert.ok(typeof parsed === 'object' && !('invalid' in parsed), `a header, not ${JSON.stringify(parsed)}`);
  return parsed;
};

test('version 1: TCP4, TCP6 and UNKNOWN; what follows is left', () => {
  const bytes = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n', 'latin1');
  const h = header(parseProxyHeader(bytes, 'v1'));
  assert.equal(h.version, 1);
  assert.equal(h.source, '203.0.113.7');
  assert.equal(h.sourcePort, 56324);
  assert.equal(h.destinationPort, 443);
  assert.equal(bytes.toString('latin1', h.length), 'GET / HTTP/1.1\r\n');
  assert.equal(header(parseProxyHeader(Buffer.from('PROXY TCP6 2001:DB8::7 ::1 1 2\r\n'), 'auto')).source, '2001:db8::7');
  const unknown = header(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nX'), 'v1'));
  assert.equal(unknown.source, undefined);
  assert.equal(unknown.length, 35);
  assert.equal(header(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'), 'v1')).source, undefined);
});

test('version 1: truncated is `more`; malformed, too long or the wrong version is invalid', () => {
  assert.equal(parseProxyHeader(Buffer.from('PROX'), 'v1'), 'more');
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'), 'v1'), 'more');
  for (const bad of ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', 'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n',
    'PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n', `PROXY TCP4 ${'1'.repeat(120)}\r\n`, `PROXY ${'x'.repeat(110)}`]) {
    const parsed = parseProxyHeader(Buffer.from(bad, 'latin1'), 'v1');
    assert.ok(typeof parsed === 'object' && 'invalid' in parsed, `${JSON.stringify(bad)} is invalid (got ${JSON.stringify(parsed)})`);
  }
  assert.deepEqual(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'), 'v1'), { invalid: 'no PROXY protocol header' });
  assert.ok('invalid' in (parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'v2') as object));
});

test('version 2: IPv4, IPv6 and TLVs; LOCAL and UNSPEC carry no address', () => {
  const tlvs = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32, 0x05, 0x00, 0x03, 0x61, 0x62, 0x63]);
  const bytes = Buffer.concat([v2(1, 0x11, Buffer.concat([Buffer.from([203, 0, 113, 7, 10, 0, 0, 1]), ports(56324, 443)]), tlvs), Buffer.from('GET')]);
  const h = header(parseProxyHeader(bytes, 'v2'));
  assert.equal(h.source, '203.0.113.7');
  assert.equal(h.destination, '10.0.0.1');
  assert.equal(h.sourcePort, 56324);
  assert.equal(bytes.toString('latin1', h.length), 'GET');
  assert.equal(tlvValue(h.tlvs, 0x01)?.toString(), 'h2');
  assert.equal(tlvValue(h.tlvs, 0x05)?.toString(), 'abc');
  assert.equal(tlvValue(h.tlvs, 0x02), undefined);
  const six = Buffer.alloc(36);
  six.writeUInt16BE(0x2001, 0); six.writeUInt16BE(0x0db8, 2); six[15] = 7; six[31] = 1; ports(1, 2).copy(six, 32);
  assert.equal(header(parseProxyHeader(v2(1, 0x21, six), 'auto')).source, '2001:db8::7');
  const mapped = Buffer.alloc(36);
  mapped[10] = 0xff; mapped[11] = 0xff; mapped.set([203, 0, 113, 9], 12);
  assert.equal(header(parseProxyHeader(v2(1, 0x21, mapped), 'v2')).source, '203.0.113.9');
  const local = header(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)), 'v2'));
  assert.equal(local.source, undefined);
  assert.equal(local.length, 16);
  assert.equal(header(parseProxyHeader(v2(0, 0x11, Buffer.alloc(12)), 'v2')).source, undefined, 'LOCAL ignores the addresses');
  assert.equal(header(parseProxyHeader(v2(1, 0x00, Buffer.alloc(0)), 'v2')).source, undefined);
});

test('version 2: truncated is `more`; a bad version, command, family, short addresses or overrunning TLVs are invalid', () => {
  const full = v2(1, 0x11, Buffer.alloc(12));
  for (let n = 1; n < full.length; n++) assert.equal(parseProxyHeader(full.subarray(0, n), 'v2'), 'more', `${n} bytes`);
  const bad = (b: Buffer): boolean => { const p = parseProxyHeader(b, 'auto'); return typeof p === 'object' && 'invalid' in p; };
  const version = Buffer.from(full); version[12] = 0x11;
  assert.ok(bad(version));
  const command = Buffer.from(full); command[12] = 0x22;
  assert.ok(bad(command));
  assert.ok(bad(v2(1, 0x41, Buffer.alloc(12))));
  assert.ok(bad(v2(1, 0x11, Buffer.alloc(8))));
  assert.ok(bad(v2(1, 0x21, Buffer.alloc(12))));
  assert.ok(bad(v2(1, 0x11, Buffer.alloc(12), Buffer.from([0x01, 0x00, 0x09, 0x61]))));
  assert.ok(bad(v2(1, 0x11, Buffer.alloc(12))) === false);
  assert.ok('invalid' in (parseProxyHeader(full, 'v1') as object), 'v2 where v1 is expected');
});

test('looksLikeProxyHeader: a prefix of either signature is `more`; anything else is not one', () => {
  assert.equal(looksLikeProxyHeader(Buffer.from('PRO')), 'more');
  assert.equal(looksLikeProxyHeader(Buffer.from('PROXY ')), true);
  assert.equal(looksLikeProxyHeader(V2_SIGNATURE.subarray(0, 5)), 'more');
  assert.equal(looksLikeProxyHeader(V2_SIGNATURE), true);
  assert.equal(looksLikeProxyHeader(Buffer.from('PRI * HTTP/2.0')), false);
  assert.equal(looksLikeProxyHeader(Buffer.from('GET / HTTP/1.1')), false);
  assert.equal(looksLikeProxyHeader(Buffer.from([0x16, 0x03, 0x01])), false, 'a TLS ClientHello');
});

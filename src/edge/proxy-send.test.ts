import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { PROXY_SOURCE, PROXY_SOURCE_PORT } from '../context/request-context.js';
import { encodeProxyHeader, localProxyHeader, outgoingProxyHeader } from './proxy-send.js';
import { parseProxyHeader, type ProxyHeader } from './proxy-protocol.js';
import { claimText, parseTlvKey, tlvText } from './request-keys.js';
import { envLayer, objectLayer, resolveConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { parseKeySource } from '../balancer/hash-key.js';
import { parseRateLimitKey } from '../rate-limit/spec.js';
import { InvalidBackend, Pool } from '../pool/index.js';

const parsed = (bytes: Buffer): ProxyHeader => {
  const p = parseProxyHeader(bytes, 'auto');
  assert.ok(typeof p === 'object' && !('invalid' in p), `a header, not ${JSON.stringify(p)}`);
  assert.equal(p.length, bytes.length, 'the whole of it');
  return p;
};

test('encoded headers read back with our parser: v1 and v2, IPv4, IPv6, mixed families, no address', () => {
  for (const version of [1, 2] as const) {
    const four = parsed(encodeProxyHeader(version, '203.0.113.7', 51000, '10.0.0.1', 443));
    assert.deepEqual([four.version, four.source, four.sourcePort, four.destination, four.destinationPort], [version, '203.0.113.7', 51000, '10.0.0.1', 443]);
    const six = parsed(encodeProxyHeader(version, '2001:db8::7', 1, '2001:db8::1', 80));
    assert.equal(six.source, '2001:db8::7');
    assert.equal(six.destination, '2001:db8::1');
    // One family per header: the IPv4 address mapped into IPv6 (v2's parse shows it as IPv4, v1's as written).
    const mixed = parsed(encodeProxyHeader(version, '2001:db8::7', 2, '127.0.0.1', 8080));
    assert.equal(mixed.source, '2001:db8::7');
    assert.equal(mixed.destination, version === 1 ? '::ffff:127.0.0.1' : '127.0.0.1');
    const mapped = parsed(encodeProxyHeader(version, '::ffff:198.51.100.4', 3, '::ffff:127.0.0.1', 80));
    assert.equal(mapped.source, '198.51.100.4');
    const none = parsed(encodeProxyHeader(version, '', 0, '127.0.0.1', 80));
    assert.equal(none.source, undefined, 'UNKNOWN / LOCAL: the receiver uses the connection');
  }
  assert.equal(encodeProxyHeader(1, '192.0.2.1', 5, '192.0.2.2', 6).toString('latin1'), 'PROXY TCP4 192.0.2.1 192.0.2.2 5 6\r\n');
  assert.equal(encodeProxyHeader(1, '2001:db8:0:0:1:0:0:1', 5, 'fe80::', 6).toString('latin1'), 'PROXY TCP6 2001:db8::1:0:0:1 fe80:: 5 6\r\n');
  assert.equal(parsed(localProxyHeader('v2')!).source, undefined);
  assert.equal(localProxyHeader('v1')!.toString('latin1'), 'PROXY UNKNOWN\r\n');
  assert.equal(localProxyHeader('off'), undefined);
});

test('the outgoing header: the client\'s port when it is the peer or the PROXY source, 0 from X-Forwarded-For; made once per client connection', () => {
  const socket = { remoteAddress: '::ffff:127.0.0.3', remotePort: 40001, localAddress: '::ffff:127.0.0.1', localPort: 8080 } as unknown as Socket;
  const direct = outgoingProxyHeader(socket, '127.0.0.3', 2);
  assert.deepEqual([parsed(direct.bytes).source, parsed(direct.bytes).sourcePort, parsed(direct.bytes).destinationPort], ['127.0.0.3', 40001, 8080]);
  assert.equal(outgoingProxyHeader(socket, '127.0.0.3', 2), direct, 'the same object for the next request');
  assert.equal(direct.key, direct.bytes.toString('latin1'));
  const forwarded = outgoingProxyHeader(socket, '198.51.100.9', 2);
  assert.deepEqual([parsed(forwarded.bytes).source, parsed(forwarded.bytes).sourcePort], ['198.51.100.9', 0]);
  assert.notEqual(forwarded.key, direct.key);
  const proxied = { remoteAddress: '127.0.0.2', remotePort: 1, localAddress: '127.0.0.1', localPort: 80, [PROXY_SOURCE]: '203.0.113.7', [PROXY_SOURCE_PORT]: 5555 } as unknown as Socket;
  const fromHeader = parsed(outgoingProxyHeader(proxied, '203.0.113.7', 1).bytes);
  assert.deepEqual([fromHeader.version, fromHeader.source, fromHeader.sourcePort], [1, '203.0.113.7', 5555]);
});

test('TLV keys: by name as text (aws_vpce_id past its subtype), by number in hex; claims as text', () => {
  const tlv = (type: number, value: Buffer): Buffer => Buffer.concat([Buffer.from([type, value.length >> 8, value.length & 255]), value]);
  const tlvs = Buffer.concat([tlv(0x02, Buffer.from('api.example.com')), tlv(0xea, Buffer.from('\x01vpce-0123', 'latin1')), tlv(0xe0, Buffer.from([0, 0, 0, 0, 0, 0, 1, 2]))]);
  assert.equal(tlvText(tlvs, parseTlvKey('authority')!), 'api.example.com');
  assert.equal(tlvText(tlvs, parseTlvKey('AWS_VPCE_ID')!), 'vpce-0123');
  assert.equal(tlvText(tlvs, parseTlvKey('0xE0')!), '0000000000000102');
  assert.equal(tlvText(tlvs, parseTlvKey('224')!), '0000000000000102');
  assert.equal(tlvText(tlvs, parseTlvKey('unique_id')!), undefined);
  assert.equal(tlvText(undefined, parseTlvKey('authority')!), undefined);
  assert.equal(parseTlvKey('0x100'), undefined);
  assert.equal(parseTlvKey('vpc'), undefined);
  assert.equal(parseTlvKey('0xE0')!.name, '0xe0');
  assert.equal(claimText({ sub: 'alice', n: 7, groups: ['a'] }, 'sub'), 'alice');
  assert.equal(claimText({ n: 7 }, 'n'), '7');
  assert.equal(claimText({ groups: ['a'] }, 'groups'), '["a"]');
  assert.equal(claimText(undefined, 'sub'), undefined);
  assert.deepEqual(parseKeySource('tlv:Authority'), { kind: 'tlv', name: 'authority', tlv: parseTlvKey('authority') });
  assert.deepEqual(parseKeySource('jwt:sub'), { kind: 'jwt', name: 'sub' });
  assert.equal(parseKeySource('tlv:nope'), undefined);
  assert.equal(parseKeySource('jwt:'), undefined);
  assert.equal(parseRateLimitKey('tlv:0xE0'), 'tlv:0xe0');
  assert.equal(parseRateLimitKey('jwt:sub'), 'jwt:sub');
  assert.equal(parseRateLimitKey('tlv:what'), undefined);
});

test('BACKEND_PROXY_PROTOCOL and proxyProtocol: per pool; a bad value or an HTTP/2 backend is a configuration error naming key and value', () => {
  const config = resolveConfig([objectLayer({ pools: { told: { backends: ['http://127.0.0.1:1'], proxyProtocol: 'v2' }, plain: { backends: ['http://127.0.0.1:2'] } } }, 'lb.yaml')], ['round-robin']);
  assert.equal(config.pools.find((p) => p.name === 'told')!.proxyProtocol, 'v2');
  assert.equal(config.pools.find((p) => p.name === 'plain')!.proxyProtocol, 'off');
  assert.equal(resolveConfig([envLayer({ BACKENDS: 'http://127.0.0.1:1', BACKEND_PROXY_PROTOCOL: 'v1' })], ['round-robin']).pools[0]!.proxyProtocol, 'v1');
  assert.throws(() => resolveConfig([envLayer({ BACKENDS: 'http://127.0.0.1:1', BACKEND_PROXY_PROTOCOL: 'v3' })], ['round-robin']),
    (err: Error) => err instanceof ConfigError && /BACKEND_PROXY_PROTOCOL "v3".*one of off, v1, v2/.test(err.message));
  assert.throws(() => resolveConfig([objectLayer({ pools: { api: { backends: ['http://127.0.0.1:1'], proto: 'h2c', proxyProtocol: 'v2' } } }, 'lb.yaml')], ['round-robin']),
    (err: Error) => err instanceof ConfigError && /BACKEND_PROXY_PROTOCOL \(proxyProtocol\) of pool "api" "v2" for backend "http:\/\/127.0.0.1:1\/?" spoken to with proto h2c/.test(err.message));
  assert.throws(() => resolveConfig([envLayer({ BACKENDS: 'https://127.0.0.1:1', BACKEND_PROXY_PROTOCOL: 'v1' })], ['round-robin']),
    (err: Error) => err instanceof ConfigError && /proto auto.*proto http1/.test(err.message));
  assert.equal(resolveConfig([envLayer({ BACKENDS: 'https://127.0.0.1:1', BACKEND_PROTO: 'http1', BACKEND_PROXY_PROTOCOL: 'v1' })], ['round-robin']).proxyProtocol, 'v1');
  assert.throws(() => resolveConfig([envLayer({ HASH_KEY: 'tlv:nope' })], ['round-robin']), /HASH_KEY "tlv:nope".*tlv:<type>/);
  assert.throws(() => resolveConfig([envLayer({ RATE_LIMIT_KEY: 'jwt:' })], ['round-robin']), /RATE_LIMIT_KEY "jwt:".*jwt:<claim>/);
});

test('a pool that sends the PROXY protocol refuses an HTTP/2 backend added at runtime', () => {
  const pool = new Pool([], { proxyProtocol: 'v2' });
  assert.equal(pool.add('http://127.0.0.1:1').proxyProtocol, 'v2');
  assert.throws(() => pool.add('http://127.0.0.1:2|proto=h2c'), (err: Error) => err instanceof InvalidBackend && /proto http1.*PROXY protocol/.test(err.message));
  assert.throws(() => pool.add('https://127.0.0.1:3'), InvalidBackend, 'https:// on auto may choose h2');
  assert.equal(pool.add('https://127.0.0.1:4|proto=http1').proto, 'http1');
});

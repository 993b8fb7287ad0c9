export { AccessList, NOT_ALLOWED, type AccessListSpec } from './access-list.js';
export { CIDR_EXPECTED, CidrSet, parseCidr } from './cidr.js';
export { forwardedClient } from './client-address.js';
export { ACCESS_DENIED_BODY, Edge, type EdgeSettings } from './edge.js';
export { ProxyGate } from './proxy-gate.js';
export { parseProxyHeader, PROXY_PROTOCOL_MODES, tlvValue, type ProxyHeader, type ProxyProtocolMode } from './proxy-protocol.js';

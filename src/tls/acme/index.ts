export { AcmeTls, type TlsUpdate } from './acme-tls.js';
export { Challenges, HTTP_CHALLENGE_PREFIX, type ChallengeChange } from './challenges.js';
export { acmeHttpChallenge, answerHttpChallenge } from './http-01.js';
export { AcmeManager, type AcmePublisher } from './manager.js';
export { acmeChallenge, acmeNames, acmeOn, checkAcme } from './names.js';
export { ACME_TLS_ALPN, AcmeCertificates, type CertificateSink } from './sni.js';
export { AcmeStorage, type KeyPair } from './storage.js';

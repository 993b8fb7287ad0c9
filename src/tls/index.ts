export { CertificateStore, CertificateError, certificateNames } from './certificate-store.js';
export type { CertificatePems, SniCallback } from './certificate-store.js';
export { ServerTls } from './server-tls.js';
export type { ServerTlsSettings } from './server-tls.js';
export { CLIENT_AUTH_MODES, clientCertificates, describeCertificate, verifiedCertificate } from './client-certificate.js';
export type { ClientAuthMode, ClientCertificate } from './client-certificate.js';
export { BackendTlsFiles, backendConnector } from './backend-tls.js';
export type { BackendTlsSettings } from './backend-tls.js';

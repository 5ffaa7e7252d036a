// Throwaway PKI for TLS tests, made with the system openssl.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface TestPki {
  ca: string;
  /** A CA that signed nothing here: verifying the server with it must fail. */
  wrongCa: string;
  cert: string;
  key: string;
  /** Client certificate/key signed by `ca`, for mTLS. */
  clientCert: string;
  clientKey: string;
}

/** A CA, a server certificate for 127.0.0.1/localhost signed by it, and an unrelated CA, written under dir. */
export function makePki(dir: string): TestPki {
  const p = (name: string): string => path.join(dir, name);
  for (const name of ['ca', 'wrong-ca']) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=kubesentry test ${name}`,
      '-keyout', p(`${name}.key`), '-out', p(`${name}.pem`));
  }
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', p('server.key'), '-out', p('server.csr'));
  fs.writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', p('server.ext'), '-out', p('server.pem'));
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=kubesentry-agent', '-keyout', p('client.key'), '-out', p('client.csr'));
  fs.writeFileSync(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl('x509', '-req', '-in', p('client.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', p('client.ext'), '-out', p('client.pem'));
  return {
    ca: p('ca.pem'),
    wrongCa: p('wrong-ca.pem'),
    cert: p('server.pem'),
    key: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
  };
}

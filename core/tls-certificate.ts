/**
 * The listener's STARTTLS certificate: the user's own (--tls-cert and
 * --tls-key), or a self-signed one generated on first start and kept in
 * `<data-dir>/tls/` (key file mode 0600) so devices that pin it keep
 * working across restarts.
 *
 * Throws RelayError ETLS_CERT when a given file cannot be read.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { generate } from 'selfsigned';
import { RelayError } from './errors.ts';

export interface TlsCertificate {
  readonly key: string;
  readonly cert: string;
  /** True when the relay made the certificate itself. */
  readonly generated: boolean;
}

// Five years spares the office a yearly renewal of a certificate that no
// device can check anyway.
const GENERATED_VALIDITY_MS = 5 * 365 * 24 * 60 * 60 * 1000;
// RSA, not EC: scanners and printers from before 2015 often offer no
// ECDSA cipher suites.
const GENERATED_KEY_BITS = 2048;

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new RelayError(
      'ETLS_CERT',
      `Cannot read the TLS ${what} file ${file}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

export async function loadOrCreateCertificate(options: {
  readonly dataDir: string;
  readonly hostname: string;
  readonly certFile: string | null;
  readonly keyFile: string | null;
}): Promise<TlsCertificate> {
  if (options.certFile && options.keyFile) {
    const cert = await readPem(options.certFile, 'certificate');
    const key = await readPem(options.keyFile, 'key');
    return { cert, key, generated: false };
  }

  const dir = path.join(options.dataDir, 'tls');
  const certPath = path.join(dir, 'relay-cert.pem');
  const keyPath = path.join(dir, 'relay-key.pem');
  try {
    const [cert, key] = await Promise.all([
      fs.readFile(certPath, 'utf8'),
      fs.readFile(keyPath, 'utf8'),
    ]);
    return { cert, key, generated: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }

  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: options.hostname }], {
    keySize: GENERATED_KEY_BITS,
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + GENERATED_VALIDITY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: options.hostname }] },
    ],
  });
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.writeFile(keyPath, pems.private, { mode: 0o600 });
  await fs.writeFile(certPath, pems.cert, { mode: 0o644 });
  return { cert: pems.cert, key: pems.private, generated: true };
}

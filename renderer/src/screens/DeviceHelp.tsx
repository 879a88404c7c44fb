import { useCallback } from 'react';
import type { RelayStatus, SettingsView } from '../../../core/api/model.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useLoaded, useRelayApi } from '../hooks.ts';

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** host and port of a `host:port` or `[v6]:port` text. */
function splitHostPort(text: string | null): { host: string; port: string } | null {
  const match = text ? /^(.*):(\d+)$/.exec(text) : null;
  if (!match?.[1] || !match[2]) return null;
  return { host: match[1], port: match[2] };
}

/** The address a device on the LAN should use, as far as the UI can tell. */
function deviceAddress(listenHost: string, settings: SettingsView, pageHost: string): string {
  if (!WILDCARD_HOSTS.has(listenHost)) return listenHost;
  if (pageHost !== '' && !LOOPBACK_HOSTS.has(pageHost)) return pageHost;
  return settings.hostname;
}

export function DeviceHelp({ status }: { status: RelayStatus }) {
  const api = useRelayApi();
  const load = useCallback(() => api.getSettings({}), [api]);
  const loaded = useLoaded(load);
  const settings = loaded.data;
  const listen = splitHostPort(status.listen);

  return (
    <>
      <h1>Device help</h1>
      <p className="lead">
        Set these values in the email settings of each scanner, printer, NAS or program that sends mail. The relay
        answers them at once and forwards the mail to the smart host.
      </p>
      <ErrorNotice error={loaded.error} />
      {settings && listen ? (
        <>
          <section className="card" aria-labelledby="device-settings">
            <h2 id="device-settings">SMTP settings for devices</h2>
            <dl className="settings-list">
              <div>
                <dt>SMTP server</dt>
                <dd><code>{deviceAddress(listen.host, settings, window.location.hostname)}</code></dd>
              </div>
              <div>
                <dt>Port</dt>
                <dd><code>{listen.port}</code></dd>
              </div>
              <div>
                <dt>Security</dt>
                <dd>None, or STARTTLS where the device offers it ({settings.tlsMinVersion} or newer)</dd>
              </div>
              <div>
                <dt>Sign-in</dt>
                <dd>
                  Not needed from an allowed network.
                  {settings.deviceUsers.length > 0
                    ? ` Devices elsewhere sign in as: ${settings.deviceUsers.map((user) => user.username).join(', ')}.`
                    : ' No device accounts are set up, so devices outside those networks cannot send.'}
                </dd>
              </div>
              <div>
                <dt>Largest message</dt>
                <dd>{settings.maxMessageSizeMb} MB</dd>
              </div>
            </dl>
            {WILDCARD_HOSTS.has(listen.host) ? (
              <p className="muted">
                The relay listens on every network address of this computer ({listen.host}). Use the address that
                devices reach it by, such as its fixed LAN address.
              </p>
            ) : null}
          </section>

          <section className="card" aria-labelledby="allowed-networks">
            <h2 id="allowed-networks">Allowed networks</h2>
            <p>Devices in these networks may send without signing in. Everyone else is rejected, so the relay is never an open relay.</p>
            <ul className="plain-list">
              {settings.allowedNetworks.map((network) => (
                <li key={network}><code>{network}</code></li>
              ))}
            </ul>
            <p className="muted">
              {settings.defaultAllow
                ? 'The list includes this computer itself and the networks of its own interfaces.'
                : 'Only the networks set with --allow are allowed.'}{' '}
              Change it with <code>--allow</code> or <code>allow</code> in settings.json; a change applies after a
              restart.
            </p>
          </section>
        </>
      ) : null}
    </>
  );
}

import { StrictMode, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import type { ConnectionState } from '../../core/api/http-client.ts';
import { App, NoToken } from './App.tsx';
import { pickRelayApi } from './relay-api.ts';
import './styles.css';

// The HTTP client reports the state of its event feed here; the banner
// in App reads it. The desktop app's IPC needs no such banner.
let connection: ConnectionState | null = null;
const connectionListeners = new Set<() => void>();
const connectionStore = {
  subscribe(listener: () => void) {
    connectionListeners.add(listener);
    return () => connectionListeners.delete(listener);
  },
  snapshot: () => connection,
};

const source = pickRelayApi(window, (state) => {
  connection = state;
  for (const listener of connectionListeners) listener();
});

function Root() {
  const state = useSyncExternalStore(connectionStore.subscribe, connectionStore.snapshot);
  if (source.kind === 'no-token') return <NoToken />;
  return <App api={source.api} connection={state} />;
}

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element.');
createRoot(container).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);

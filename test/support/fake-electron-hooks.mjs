// Module resolution hooks (node:module register) that load
// fake-electron-module.mjs wherever the code imports `electron`.
const FAKE_ELECTRON_URL = new URL('./fake-electron-module.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'electron') return { url: FAKE_ELECTRON_URL, shortCircuit: true };
  return nextResolve(specifier, context);
}

// `node --import ./test/support/fake-electron-register.mjs main.js` runs
// a compiled main process with the fake `electron` module.
import { register } from 'node:module';

register(new URL('./fake-electron-hooks.mjs', import.meta.url));

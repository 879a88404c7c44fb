// Lint rules that keep the architecture in the tree: the relay core is
// plain Node and must run without Electron, so it may not import it.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';

// The React UI runs in a browser and in Electron's sandboxed renderer, so
// neither it nor the API definition it bundles may import Node built-ins.
// The UI reaches the core only through core/api.
const BROWSER_IMPORT_RULE = [
  'error',
  {
    paths: [{ name: 'electron', message: 'The renderer gets the API from window.relayApi, not from Electron.' }],
    patterns: [
      {
        group: ['node:*', ...builtinModules],
        message: 'The renderer and core/api run in a browser and cannot import Node built-ins.',
      },
      {
        group: ['**/core/*', '!**/core/api'],
        message: 'The renderer talks to the relay only through core/api.',
      },
    ],
  },
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'release/', 'docs/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              message: 'core/ runs in plain Node and must not import Electron.',
            },
          ],
          patterns: [
            {
              group: ['electron/*', '**/electron/**'],
              message: 'core/ runs in plain Node and must not import Electron.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.{ts,tsx}', 'core/api/**/*.ts'],
    ignores: ['renderer/vite.config.ts'],
    rules: { 'no-restricted-imports': BROWSER_IMPORT_RULE },
  },
  {
    ...reactHooks.configs.flat.recommended,
    files: ['renderer/**/*.{ts,tsx}', 'test/ui-*.test.ts'],
  },
  {
    // Only the entry files load Electron; the rest of the main process gets
    // its modules injected, so tests run it without Electron's binary.
    files: ['electron/**/*.ts'],
    ignores: ['electron/main.ts', 'electron/preload.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              message: 'Take Electron modules through electron/modules.ts; only main.ts and preload.ts import electron.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // The sandboxed preload can require nothing but electron.
    files: ['electron/preload*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', ...builtinModules],
              message: 'A sandboxed preload cannot load Node built-ins.',
            },
          ],
        },
      ],
    },
  },
  {
    // Only the command-line entry point writes to the console; the rest of
    // the core reports through the activity log.
    files: ['core/**/*.ts'],
    ignores: ['core/cli/**'],
    rules: { 'no-console': 'error' },
  },
);

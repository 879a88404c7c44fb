// Lint rules that keep the architecture in the tree: the relay core is
// plain Node and must run without Electron, so it may not import it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'release/', 'docs/'] },
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
    // Only the command-line entry point writes to the console; the rest of
    // the core reports through the activity log.
    files: ['core/**/*.ts'],
    ignores: ['core/cli/**'],
    rules: { 'no-console': 'error' },
  },
);

// Builds the React UI into dist/renderer for both the web console
// (core/console serves it) and the desktop window (app://relay/).
// Run from the project root as `vite build renderer`.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  // Relative asset URLs work under http:// and app:// alike.
  base: './',
  plugins: [react()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      onwarn(warning, warn) {
        // zod 4.6.7 places /* @__PURE__ */ where Rollup cannot use it;
        // Rollup drops the comment and the bundle is unaffected.
        if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('/node_modules/zod/')) return;
        warn(warning);
      },
    },
  },
  server: {
    // The UI imports core/api from outside this folder.
    fs: { allow: ['..'] },
  },
});

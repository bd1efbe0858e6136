import { defineConfig } from 'vite'

// The build lands where the Go binary embeds it, with stable file names so
// that a rebuild from the same sources changes nothing in git.
export default defineConfig({
  build: {
    outDir: '../internal/dashboard/assets',
    emptyOutDir: true,
    assetsDir: '.',
    rollupOptions: {
      output: {
        entryFileNames: 'app.js',
        chunkFileNames: '[name].js',
        assetFileNames: '[name][extname]',
      },
    },
  },
})

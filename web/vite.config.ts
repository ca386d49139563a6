import { defineConfig } from "vite";

/** The dashboard: Preact through esbuild's automatic JSX runtime, built into web/dist. */
export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // hls.js is loaded only when an HLS output is shown, so the first page stays small.
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/v1": "http://127.0.0.1:8080",
      "/files": "http://127.0.0.1:8080",
      "/uploads": "http://127.0.0.1:8080",
      "/metrics": "http://127.0.0.1:8080",
    },
  },
});

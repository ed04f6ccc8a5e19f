// smarteye's web app: plain ES modules bundled by Vite into dist/, which the
// Go binary embeds (dashboard/web.go). Relative base: served under /.
import { writeFileSync } from "node:fs";
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  // MapLibre 6 starts its worker as an ES module.
  worker: { format: "es" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2000,
    // Six pages: the command centre, the field page (which must stay
    // small: it loads nothing of the map's), replay, trends, supervision
    // and accounts.
    rollupOptions: {
      input: { main: "index.html", field: "field.html", replay: "replay.html", trends: "trends.html", session: "session.html", admin: "admin.html" },
      // The API helper, the login flow and HTML escaping, which (nearly)
      // every page uses, in one small file with Vite's preload polyfill
      // rather than four (the field page loads two scripts over a phone's
      // link).
      output: { manualChunks: (id) => (/\/src\/(api|auth|escape)\.js$|modulepreload-polyfill/.test(id) ? "common" : undefined) },
    },
  },
  plugins: [
    {
      // dist/.keep is committed: the Go embed needs the folder before the
      // first build; the build empties the folder, so it is put back.
      name: "keep-dist",
      closeBundle() {
        writeFileSync("dist/.keep", "");
      },
    },
  ],
});

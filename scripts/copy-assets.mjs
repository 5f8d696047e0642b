// Copies the browser builds of the npm dependencies into static/vendor (served by whitenoise).
// A bundle that names a source map (a `sourceMappingURL` comment) ships with that map: the
// production static storage (CompressedManifestStaticFilesStorage) rewrites the comment to the
// map's hashed name and stops with MissingFileError when the map is not there.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const files = {
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
  "chart.js/dist/chart.umd.js": "chart.umd.js",
  "signature_pad/dist/signature_pad.umd.min.js": "signature_pad.umd.min.js",
  "sortablejs/Sortable.min.js": "Sortable.min.js",
};
const out = join("static", "vendor");
mkdirSync(out, { recursive: true });
for (const [src, dest] of Object.entries(files)) {
  const from = join("node_modules", src);
  copyFileSync(from, join(out, dest));
  console.log(`static/vendor/${dest} <- ${from}`);
  const map = readFileSync(from, "utf8").match(/[#@] sourceMappingURL=([^\s'"*]+)\s*$/m);
  if (map && !map[1].startsWith("data:")) {
    const mapFrom = join(dirname(from), map[1]);
    if (!existsSync(mapFrom)) {
      throw new Error(`${from} names the source map ${map[1]}, which its package does not ship`);
    }
    copyFileSync(mapFrom, join(out, map[1]));
    console.log(`static/vendor/${map[1]} <- ${mapFrom}`);
  }
}

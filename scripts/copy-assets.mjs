// Copies the browser builds of the npm dependencies into static/vendor (served by whitenoise).
import { copyFileSync, mkdirSync } from "node:fs";
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
}

// Build Candour's front-end assets into static/ (committed, so `go build`
// needs no npm). Run with `npm run build`.
//
//   static/govuk.css              GOV.UK Frontend + src/app.scss, compressed
//   static/govuk-frontend.min.js  GOV.UK Frontend's ES module bundle
//   static/app.js                 ours, hand-written (not generated)
//
// No fonts and no GOV.UK crown/crest images are copied.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sass from "sass";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "static");
mkdirSync(out, { recursive: true });

const css = sass.compile(join(here, "src", "main.scss"), {
  style: "compressed",
  importers: [new sass.NodePackageImporter(here)],
  // govuk-frontend warns about deprecations it is itself responsible for.
  quietDeps: true,
}).css;
if (css.includes("GDS Transport") || css.includes("@font-face")) {
  throw new Error("built CSS still mentions GDS Transport or @font-face");
}
writeFileSync(join(out, "govuk.css"), css + "\n");

const govukDist = join(here, "node_modules", "govuk-frontend", "dist", "govuk");
const js = readFileSync(join(govukDist, "govuk-frontend.min.js"), "utf8")
  // We do not ship the source map.
  .replace(/\/\/# sourceMappingURL=\S+\s*$/, "");
writeFileSync(join(out, "govuk-frontend.min.js"), js.trimEnd() + "\n");

console.log(`built ${Math.round(css.length / 1024)} KiB CSS, ${Math.round(js.length / 1024)} KiB JS into static/`);

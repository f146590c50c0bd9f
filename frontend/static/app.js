// Candour progressive enhancement. Loaded as an ES module with the page's CSP
// nonce; every page works without it. No inline script anywhere.
import { initAll, isSupported } from "./govuk-frontend.min.js";

if (isSupported()) {
  document.body.classList.add("govuk-frontend-supported");
  initAll();
}

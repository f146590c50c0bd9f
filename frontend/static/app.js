// Candour progressive enhancement. Loaded as an ES module with the page's CSP
// nonce; every page works without it. No inline script anywhere.
//
// GOV.UK Frontend's isSupported() only reads the body class that its usual
// inline snippet sets; we may not run inline script, so a browser that runs
// this module (and so supports ES modules) sets the class here first.
import { initAll } from "./govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();

// Every page is Cache-Control: no-store, yet Chromium restores pages from its
// back/forward cache. Reload a restored page so that, after signing out or
// closing the mailbox, Back shows the sign-in page and never a case.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) {
    window.location.reload();
  }
});

// /docs: start Swagger UI on this service's OpenAPI. A file, not inline: the page's CSP allows
// scripts from this service only.
//
// The Swagger UI shipped by swagger-ui-bundle (4.15, its newest release) refuses OpenAPI 3.1,
// which FastAPI writes ("Unable to render this definition"). What this API's schema uses of 3.1
// (anyOf with type null, examples) renders with 3.0 rules, so the page hands Swagger UI the
// schema labelled 3.0.3; /openapi.json itself stays 3.1.
"use strict";
window.addEventListener("DOMContentLoaded", async () => {
  const start = (options) =>
    (window.ui = window.SwaggerUIBundle({
      dom_id: "#swagger-ui",
      layout: "BaseLayout",
      // Deep links put a link inside each operation's toggle button: a control inside a control,
      // which screen readers and keyboards cannot use (axe nested-interactive, WCAG 4.1.2).
      deepLinking: false,
      showExtensions: true,
      showCommonExtensions: true,
      presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
      ...options,
    }));
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    const spec = await response.json();
    if (/^3\.1\./.test(spec.openapi || "")) spec.openapi = "3.0.3";
    start({ spec });
  } catch (_) {
    start({ url: "/openapi.json" });
  }
});

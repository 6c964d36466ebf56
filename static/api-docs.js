// The interactive API reference (/api/v1/docs): Swagger UI on the OpenAPI document, started from here because the
// Content-Security-Policy forbids inline scripts. Calls made from the page carry the session's CSRF token, so a
// signed-in reader can try the calls that change state; "Authorize" takes an API token instead.
"use strict";

(() => {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  const csrfToken = root.dataset.csrfToken;
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    requestInterceptor: (request) => {
      if (csrfToken) {
        request.headers["X-CSRFToken"] = csrfToken;
      }
      return request;
    },
  });
})();

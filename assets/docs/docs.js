// Starts Swagger UI on /docs with the service's OpenAPI document. A file of
// its own: the page's Content-Security-Policy allows no inline script.
'use strict';

window.SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  // No badge from the public validator: the page loads nothing from elsewhere.
  validatorUrl: null,
});

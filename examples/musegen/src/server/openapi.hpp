// The OpenAPI 3 document of the JSON API, served at /api/openapi.json: every route, every
// parameter with its range, every response with its schema (closed objects: a field the
// server adds without adding it here fails the schema checks of the tests).
#pragma once

namespace musegen::server {

// The document's JSON text (valid JSON; the server parses it once at start).
const char* openapi_document();

}  // namespace musegen::server

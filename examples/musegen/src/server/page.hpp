// The web page of `musegen serve`, served at /: plain HTML, CSS and JavaScript in one
// document compiled into the binary (no build step, no CDN: it works offline). It only
// calls the JSON API (openapi.cpp), as any other client would.
#pragma once

namespace musegen::server {

const char* page_html();

}  // namespace musegen::server

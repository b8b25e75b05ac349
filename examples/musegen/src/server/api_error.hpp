// The one way a route says "no": an ApiError carries the HTTP status and the JSON body's
// fields, {"error": what was expected and what was found, "field": the request's field,
// "allowed": the values it takes}. Routes throw it; the route boundary (http_server.cpp)
// turns it into the response, so a handler never writes an error response by hand and no
// input reaches the client as a 5xx.
#pragma once

#include <stdexcept>
#include <string>

namespace musegen::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& error, std::string field = {}, std::string allowed = {})
      : std::runtime_error(error),
        status_(status),
        field_(std::move(field)),
        allowed_(std::move(allowed)) {}
  int status() const { return status_; }
  const std::string& field() const { return field_; }      // empty: not about one field
  const std::string& allowed() const { return allowed_; }  // empty: nothing to say

 private:
  int status_;
  std::string field_, allowed_;
};

// 400 naming the field: "FIELD: expected ALLOWED, found FOUND".
inline ApiError bad_field(const std::string& field, const std::string& allowed,
                          const std::string& found) {
  return ApiError(400, field + ": expected " + allowed + ", found " + found, field, allowed);
}

}  // namespace musegen::server

// Names of malformations and the text of diagnostics and parse errors.
#include "libmidi/diagnostics.hpp"

#include <string>

namespace midi {
namespace {

constexpr std::string_view kNames[] = {
    "data-byte-over-127",
    "running-status-after-meta-or-sysex",
    "no-running-status",
    "stray-status-byte",
    "missing-end-of-track",
    "chunk-length-mismatch",
    "bad-key-signature",
    "bad-meta-length",
    "truncated-file",
    "wrong-track-count",
    "overlong-vlq",
    "trailing-bytes",
};
static_assert(std::size(kNames) == kMalformationCount, "one name per Malformation");

}  // namespace

std::string_view malformation_name(Malformation m) {
  const auto i = static_cast<std::size_t>(m);
  return i < kMalformationCount ? kNames[i] : "unknown";
}

std::optional<Malformation> malformation_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kMalformationCount; ++i)
    if (kNames[i] == name) return static_cast<Malformation>(i);
  return std::nullopt;
}

std::string Diagnostic::to_string() const {
  std::string s = "byte " + std::to_string(offset);
  if (track >= 0) s += ", track " + std::to_string(track);
  s += ": ";
  s += message;
  if (kind) {
    s += " [";
    s += malformation_name(*kind);
    s += "]";
  }
  return s;
}

ParseError::ParseError(Diagnostic diagnostic, std::string source)
    : std::runtime_error(source + ": " + diagnostic.to_string()),
      diagnostic_(std::move(diagnostic)),
      source_(std::move(source)) {}

}  // namespace midi

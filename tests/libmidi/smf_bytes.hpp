// Helpers that hand-assemble Standard MIDI File bytes for tests, independently of the writer
// under test, so a reader test never depends on the code it checks.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace smf_bytes {

using Bytes = std::vector<std::uint8_t>;

inline void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

inline Bytes be32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8),
          static_cast<std::uint8_t>(v)};
}

inline Bytes le32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 24)};
}

inline Bytes chunk(std::string_view id, const Bytes& body, std::uint32_t declared_length) {
  Bytes out(id.begin(), id.end());
  append(out, be32(declared_length));
  append(out, body);
  return out;
}
inline Bytes chunk(std::string_view id, const Bytes& body) {
  return chunk(id, body, static_cast<std::uint32_t>(body.size()));
}

inline Bytes header(std::uint16_t format, std::uint16_t tracks, std::uint16_t division = 96) {
  return chunk("MThd", {static_cast<std::uint8_t>(format >> 8), static_cast<std::uint8_t>(format),
                        static_cast<std::uint8_t>(tracks >> 8), static_cast<std::uint8_t>(tracks),
                        static_cast<std::uint8_t>(division >> 8), static_cast<std::uint8_t>(division)});
}

inline Bytes track(const Bytes& events) { return chunk("MTrk", events); }

// A whole file: header + one chunk per track body.
inline Bytes file(std::uint16_t format, std::initializer_list<Bytes> track_bodies, std::uint16_t division = 96) {
  Bytes out = header(format, static_cast<std::uint16_t>(track_bodies.size()), division);
  for (const auto& body : track_bodies) append(out, track(body));
  return out;
}

inline const Bytes kEndOfTrack = {0x00, 0xFF, 0x2F, 0x00};

inline Bytes with_eot(Bytes events) {
  append(events, kEndOfTrack);
  return events;
}

}  // namespace smf_bytes

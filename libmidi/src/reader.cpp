// The Standard MIDI File reader.
//
// One pass over the bytes with a bounds-checked pointer pair (p, end): nothing is sized from a
// count the file declares (chunk lengths are clamped to the bytes present before they size
// anything), so no input can make the reader allocate more than a small multiple of its size,
// read out of bounds, or loop without consuming bytes.
//
// Every malformation goes through problem(): under Policy::Error it throws, under
// Policy::Repair it records a Diagnostic and the caller carries out the repair written next
// to the call. docs/midi.md lists the repairs.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <system_error>

#include "libmidi/io.hpp"

namespace midi {
namespace {

std::string hex_byte(std::uint8_t b) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return std::string{"0x"} + kDigits[b >> 4] + kDigits[b & 15];
}

// "'MTrk'" when printable, else "4D 54 00 01".
std::string quote_bytes(const std::uint8_t* p, std::size_t n) {
  bool printable = n > 0;
  for (std::size_t i = 0; i < n; ++i) printable = printable && p[i] >= 0x20 && p[i] < 0x7F;
  if (printable) return "'" + std::string(reinterpret_cast<const char*>(p), n) + "'";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += (i ? " " : "") + hex_byte(p[i]).substr(2);
  return n ? s : "nothing";
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t le32(const std::uint8_t* p) {
  return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) | p[0];
}

constexpr std::size_t kMaxTracks = 0xFFFF;

bool looks_like_chunk_id(const std::uint8_t* p) {
  for (int i = 0; i < 4; ++i)
    if (p[i] < 0x20 || p[i] > 0x7E) return false;
  return true;
}

const char* system_status_name(std::uint8_t s) {
  switch (s) {
    case 0xF1: return "MIDI time code quarter frame";
    case 0xF2: return "song position";
    case 0xF3: return "song select";
    case 0xF6: return "tune request";
    case 0xF8: return "timing clock";
    case 0xFA: return "start";
    case 0xFB: return "continue";
    case 0xFC: return "stop";
    case 0xFE: return "active sensing";
    default: return "undefined";
  }
}

class Reader {
 public:
  Reader(std::span<const std::uint8_t> bytes, const ReadOptions& options)
      : data_(bytes.data()), size_(bytes.size()), options_(options) {}

  MidiFile run();

 private:
  // How one pass over a track's events ended.
  enum class Stop { EndOfTrack, EndOfData, CutEvent };

  std::size_t unwrap_riff();
  void read_chunks(std::size_t pos, std::uint16_t declared_tracks);
  std::size_t read_track(std::size_t chunk_pos, std::uint32_t declared_length);
  Stop read_events(Track& track, const std::uint8_t*& p, const std::uint8_t* end,
                   const std::uint8_t*& event_start);
  // A variable-length quantity: where it ends (nullptr if the data ends inside it) and its value.
  // Positions go in and out by value so that the caller's cursor never has its address taken.
  struct Vlq {
    const std::uint8_t* next;
    std::uint32_t value;
  };
  Vlq read_vlq(const std::uint8_t* p, const std::uint8_t* end);
  std::uint8_t data_byte(std::uint8_t b, const std::uint8_t* at, std::uint8_t status);
  void check_meta(const Track& track, const Event& e, const std::uint8_t* at);

  std::uint64_t offset(const std::uint8_t* p) const { return static_cast<std::uint64_t>(p - data_); }

  // Records a repair, or throws if the policy for this malformation is Error.
  [[gnu::cold]] void problem(Malformation kind, std::uint64_t at, std::string message) {
    Diagnostic d{kind, track_index_, at, std::move(message)};
    if (options_.policy(kind) == Policy::Error) throw ParseError(std::move(d), options_.source_name());
    file_.warnings.push_back(std::move(d));
  }
  [[noreturn, gnu::cold]] void fatal(std::uint64_t at, std::string message) {
    throw ParseError(Diagnostic{std::nullopt, track_index_, at, std::move(message)}, options_.source_name());
  }

  const std::uint8_t* data_;
  std::size_t size_;  // end of the SMF bytes (the RIFF data chunk's end for RMID files)
  const ReadOptions& options_;
  MidiFile file_;
  int track_index_ = -1;
  // Running status of the track being read, and whether a meta/SysEx event cancelled it.
  std::uint8_t running_ = 0;
  bool running_cancelled_ = false;
};

MidiFile Reader::run() {
  if (size_ == 0) fatal(0, "empty file: expected a Standard MIDI File header 'MThd', found 0 bytes");
  const std::size_t start = unwrap_riff();
  const std::uint8_t* h = data_ + start;
  const std::size_t available = size_ - start;
  if (available < 4 || std::memcmp(h, "MThd", 4) != 0)
    fatal(start, "not a Standard MIDI File: expected 'MThd', found " +
                     quote_bytes(h, std::min<std::size_t>(available, 4)));
  if (available < 14)
    fatal(start, "header chunk cut short: expected 14 bytes, found " + std::to_string(available));
  const std::uint32_t header_length = be32(h + 4);
  if (header_length < 6)
    fatal(start + 4, "header chunk length is " + std::to_string(header_length) + ", expected at least 6");
  if (header_length > available - 8)
    fatal(start + 4, "header chunk declares " + std::to_string(header_length) + " bytes, only " +
                         std::to_string(available - 8) + " remain in the file");
  file_.format = be16(h + 8);
  if (file_.format > 2)
    fatal(start + 8, "unsupported format " + std::to_string(file_.format) + " (expected 0, 1 or 2)");
  const std::uint16_t declared_tracks = be16(h + 10);
  const std::uint16_t raw_division = be16(h + 12);
  const auto division = TimeDivision::from_raw(raw_division);
  if (!division)
    fatal(start + 12, "invalid time division " + hex_byte(raw_division >> 8) + hex_byte(raw_division & 0xFF).substr(2) +
                          " (expected ticks per quarter > 0, or SMPTE 24/25/29/30 fps with ticks per frame > 0)");
  file_.division = *division;
  read_chunks(start + 8 + header_length, declared_tracks);
  return std::move(file_);
}

// RIFF RMID: "RIFF" <le32 size> "RMID" then RIFF chunks, the SMF inside the "data" chunk.
// Returns where the SMF starts and narrows size_ to where it ends.
std::size_t Reader::unwrap_riff() {
  if (size_ < 12 || std::memcmp(data_, "RIFF", 4) != 0 || std::memcmp(data_ + 8, "RMID", 4) != 0) return 0;
  file_.rmid = true;
  std::size_t pos = 12;
  while (size_ - pos >= 8) {
    const std::uint32_t length = le32(data_ + pos + 4);
    if (std::memcmp(data_ + pos, "data", 4) == 0) {
      const std::size_t begin = pos + 8;
      if (length > size_ - begin)
        problem(Malformation::ChunkLengthMismatch, pos + 4,
                "RIFF 'data' chunk declares " + std::to_string(length) + " bytes, only " +
                    std::to_string(size_ - begin) + " remain; reading what is there");
      else
        size_ = begin + length;
      return begin;
    }
    if (length > size_ - pos - 8) break;
    pos += 8 + length + (length & 1);  // RIFF chunks are padded to even length
  }
  fatal(12, "RIFF RMID file has no 'data' chunk holding the MIDI data");
}

void Reader::read_chunks(std::size_t pos, std::uint16_t declared_tracks) {
  while (pos < size_) {
    const std::size_t remaining = size_ - pos;
    const std::uint8_t* c = data_ + pos;
    if (remaining < 8 || !looks_like_chunk_id(c)) {
      // Not a chunk header. If a track chunk follows further on, an earlier chunk's length was
      // wrong: skip to it. Otherwise the rest of the file is trailing garbage.
      const std::uint8_t* next = nullptr;
      for (const std::uint8_t* q = c + 1; q + 8 <= data_ + size_; ++q)
        if (std::memcmp(q, "MTrk", 4) == 0) { next = q; break; }
      if (next) {
        problem(Malformation::ChunkLengthMismatch, pos,
                "expected a chunk header, found " + quote_bytes(c, 4) + "; skipped " +
                    std::to_string(next - c) + " bytes to the next 'MTrk' at byte " +
                    std::to_string(offset(next)));
        pos = offset(next);
        continue;
      }
      problem(Malformation::TrailingBytes, pos,
              std::to_string(remaining) + " byte(s) after the last chunk are not a chunk (" +
                  quote_bytes(c, std::min<std::size_t>(remaining, 4)) + "); ignored");
      break;
    }
    const std::uint32_t length = be32(c + 4);
    if (std::memcmp(c, "MTrk", 4) == 0) {
      // The header counts tracks in 16 bits; a file holding more track chunks is not one a
      // writer produced. Repair: keep the first 65535.
      if (file_.tracks.size() == kMaxTracks) {
        problem(Malformation::WrongTrackCount, pos,
                "more than " + std::to_string(kMaxTracks) + " track chunks; the rest of the file is ignored");
        break;
      }
      track_index_ = static_cast<int>(file_.tracks.size());
      pos = read_track(pos, length);
      track_index_ = -1;
      continue;
    }
    // Unknown chunk: kept for rewriting, never interpreted.
    UnknownChunk chunk;
    std::memcpy(chunk.id.data(), c, 4);
    chunk.before_track = file_.tracks.size();
    std::size_t body = remaining - 8;
    if (length > body) {
      problem(Malformation::TruncatedFile, pos + 4,
              "chunk " + quote_bytes(c, 4) + " declares " + std::to_string(length) + " bytes, only " +
                  std::to_string(body) + " remain in the file; kept what is there");
    } else {
      body = length;
    }
    chunk.data.assign(c + 8, c + 8 + body);
    file_.unknown_chunks.push_back(std::move(chunk));
    pos += 8 + body;
  }

  const std::size_t found = file_.tracks.size();
  if (found != declared_tracks)
    problem(Malformation::WrongTrackCount, 10,
            "header declares " + std::to_string(declared_tracks) + " track(s), found " +
                std::to_string(found) + "; using the " + std::to_string(found) + " found");
  // Repair: players play the tracks of such a file together, which is what format 1 means.
  if (file_.format == 0 && found > 1) {
    problem(Malformation::WrongTrackCount, 10,
            "format 0 file holds " + std::to_string(found) + " tracks, expected 1; read as format 1");
    file_.format = 1;
  }
}

// Reads the track chunk at chunk_pos and returns where the next chunk starts.
std::size_t Reader::read_track(std::size_t chunk_pos, std::uint32_t declared_length) {
  const std::size_t body = chunk_pos + 8;
  const std::size_t available = size_ - body;
  const bool past_eof = declared_length > available;
  const std::uint8_t* end = data_ + (past_eof ? size_ : body + declared_length);

  Track& track = file_.tracks.emplace_back();
  // A track event takes at least two bytes (delta time + one data byte under running status),
  // three for most events: reserve from the bytes actually present, never from a count.
  track.events.reserve(static_cast<std::size_t>(end - (data_ + body)) / 3 + 1);
  running_ = 0;
  running_cancelled_ = false;

  const std::uint8_t* p = data_ + body;
  const std::uint8_t* event_start = p;
  Stop stop = read_events(track, p, end, event_start);

  // The declared length may be too short: the events run on past it. When what follows the
  // declared end is not a chunk header, keep reading up to End of Track.
  const bool next_is_chunk = size_ - offset(end) >= 8 && looks_like_chunk_id(end);
  bool extended = false;
  if (stop != Stop::EndOfTrack && !past_eof && offset(end) < size_ && !next_is_chunk) {
    extended = true;
    problem(Malformation::ChunkLengthMismatch, chunk_pos + 4,
            "track chunk declares " + std::to_string(declared_length) +
                " bytes but its events go on past that (no chunk header at byte " +
                std::to_string(offset(end)) + "); reading on to End of Track");
    end = data_ + size_;  // p is where reading stopped: past the last complete event
    stop = read_events(track, p, end, event_start);
  }

  const std::uint64_t last_tick = track.end_tick();
  switch (stop) {
    case Stop::EndOfTrack: {
      if (extended) return offset(p);
      if (past_eof) {
        problem(Malformation::ChunkLengthMismatch, chunk_pos + 4,
                "track chunk declares " + std::to_string(declared_length) + " bytes, only " +
                    std::to_string(available) + " remain in the file; End of Track found at byte " +
                    std::to_string(offset(p) - 1));
        return offset(p);
      }
      if (p == end) return offset(end);
      // Bytes left inside the chunk after End of Track. If a track chunk starts right here,
      // the declared length was too long; otherwise the bytes are padding or junk.
      const std::size_t left = static_cast<std::size_t>(end - p);
      if (left >= 8 && std::memcmp(p, "MTrk", 4) == 0) {
        problem(Malformation::ChunkLengthMismatch, chunk_pos + 4,
                "track chunk declares " + std::to_string(declared_length) + " bytes but a new 'MTrk' starts at byte " +
                    std::to_string(offset(p)) + " right after End of Track; reading it as the next track");
        return offset(p);
      }
      problem(Malformation::ChunkLengthMismatch, offset(p),
              std::to_string(left) + " byte(s) after End of Track inside the track chunk; ignored");
      return offset(end);
    }
    case Stop::EndOfData:
      if (past_eof || extended)
        problem(Malformation::TruncatedFile, offset(end),
                "file ends inside a track chunk (declared " + std::to_string(declared_length) + " bytes, " +
                    std::to_string(available) + " present) without End of Track; End of Track added at tick " +
                    std::to_string(last_tick));
      else
        problem(Malformation::MissingEndOfTrack, offset(end),
                "track chunk ends without End of Track; added at tick " + std::to_string(last_tick));
      break;
    case Stop::CutEvent:
      if (past_eof || extended)
        problem(Malformation::TruncatedFile, offset(event_start),
                "file ends in the middle of an event starting at byte " + std::to_string(offset(event_start)) +
                    "; event dropped, End of Track added at tick " + std::to_string(last_tick));
      else
        problem(Malformation::ChunkLengthMismatch, offset(event_start),
                "event starting at byte " + std::to_string(offset(event_start)) +
                    " runs past the end of its track chunk (declared " + std::to_string(declared_length) +
                    " bytes); event dropped, End of Track added at tick " + std::to_string(last_tick));
      break;
  }
  track.add_end_of_track(last_tick);
  return offset(end);
}

Reader::Vlq Reader::read_vlq(const std::uint8_t* p, const std::uint8_t* end) {
  const std::uint8_t* start = p;
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    if (p == end) return {nullptr, 0};
    const std::uint8_t b = *p++;
    v = (v << 7) | (b & 0x7F);
    if (!(b & 0x80)) return {p, v};
  }
  // A fifth byte: more than the 28 bits the format allows. Repair: consume the rest of the
  // quantity and saturate at the largest legal value.
  problem(Malformation::OverlongVlq, offset(start),
          "variable-length quantity longer than 4 bytes; read as 0x0FFFFFFF");
  while (p != end && (*p & 0x80)) ++p;
  if (p == end) return {nullptr, 0};
  return {p + 1, 0x0FFFFFFF};
}

// A data byte with its top bit set. Repair: clamp to 127 (what mido's clip mode does).
std::uint8_t Reader::data_byte(std::uint8_t b, const std::uint8_t* at, std::uint8_t status) {
  problem(Malformation::DataByteOver127, offset(at),
          "data byte of status " + hex_byte(status) + " expected (0..127), found " + hex_byte(b) +
              "; clamped to 127");
  return 0x7F;
}

// Structural checks of the metas whose layout the format fixes. Repair: keep the event's bytes
// unchanged (the decoders in midi_file.hpp return nullopt for them).
void Reader::check_meta(const Track& track, const Event& e, const std::uint8_t* at) {
  const auto expect_length = [&](std::uint32_t n, const char* what) {
    if (e.data_size == n) return true;
    problem(Malformation::BadMetaLength, offset(at),
            std::string{what} + " meta event has " + std::to_string(e.data_size) + " data bytes, expected " +
                std::to_string(n) + "; kept unchanged");
    return false;
  };
  switch (e.data1) {
    case meta::kTempo: expect_length(3, "tempo"); break;
    case meta::kSmpteOffset: expect_length(5, "SMPTE offset"); break;
    case meta::kTimeSignature: expect_length(4, "time signature"); break;
    case meta::kEndOfTrack: expect_length(0, "end of track"); break;
    case meta::kKeySignature:
      if (expect_length(2, "key signature")) {
        const auto d = track.data(e);
        const int sharps = static_cast<std::int8_t>(d[0]);
        if (sharps < -7 || sharps > 7 || d[1] > 1)
          problem(Malformation::BadKeySignature, offset(at),
                  "key signature expected sharps in -7..7 and mode 0 or 1, found sharps " + std::to_string(sharps) +
                      ", mode " + std::to_string(d[1]) + "; kept unchanged");
      }
      break;
    default: break;
  }
}

// The hot loop: decodes events from p up to end into track. On return p is past the last
// complete event and event_start marks where the event being read began.
Reader::Stop Reader::read_events(Track& track, const std::uint8_t*& p_out, const std::uint8_t* end,
                                 const std::uint8_t*& event_start_out) {
  // The loop works on locals, written back on return: the byte-sized stores into each Event
  // may alias anything, so state reached through a reference or a member would be reloaded
  // from memory after every event.
  const std::uint8_t* p = p_out;
  const std::uint8_t* event_start = event_start_out;
  std::uint8_t running = running_;
  bool running_cancelled = running_cancelled_;
  Stop stop = Stop::EndOfData;  // every exit breaks out of the loop to the one write-back
  std::vector<Event>& events = track.events;
  std::uint64_t tick = events.empty() ? 0 : events.back().tick;
  while (p < end) {
    event_start = p;
    std::uint32_t delta = *p;
    if (delta < 0x80) {
      ++p;
    } else {
      const Vlq vlq = read_vlq(p, end);
      if (!vlq.next) {  // p is still event_start
        stop = Stop::CutEvent;
        break;
      }
      p = vlq.next;
      delta = vlq.value;
    }
    if (p == end) {
      p = event_start;
      stop = Stop::CutEvent;
      break;
    }

    std::uint8_t status = *p;
    if (status >= 0x80) {
      ++p;
    } else if (running != 0) {
      if (running_cancelled) {
        problem(Malformation::RunningStatusAfterMetaOrSysEx, offset(p),
                "running status used after a meta or SysEx event (which cancels it); continuing with " +
                    hex_byte(running));
        running_cancelled = false;
      }
      status = running;
    } else {
      // Repair: skip the byte with its delta time (keeping the delta would let the gap between
      // two kept events exceed what one delta time can express when written back).
      problem(Malformation::NoRunningStatus, offset(p),
              "status byte expected, found data byte " + hex_byte(status) +
                  " and no running status is in effect; byte skipped");
      ++p;
      continue;
    }
    tick += delta;

    if (status < 0xF0) {  // channel message
      const bool two = (status & 0xE0) != 0xC0;
      if (end - p < 1 + two) {
        p = event_start;
        stop = Stop::CutEvent;
        break;
      }
      std::uint8_t d1 = p[0];
      std::uint8_t d2 = two ? p[1] : 0;
      if ((d1 | d2) & 0x80) [[unlikely]] {
        if (d1 & 0x80) d1 = data_byte(d1, p, status);
        if (d2 & 0x80) d2 = data_byte(d2, p + 1, status);
      }
      p += 1 + two;
      events.push_back(Event{tick, 0, 0, status, d1, d2, 0});
      running = status;
      running_cancelled = false;
      continue;
    }

    if (status == kMeta || status == kSysEx || status == kSysExEscape) {
      std::uint8_t type = 0;
      if (status == kMeta) {
        if (p == end) {
          p = event_start;
          stop = Stop::CutEvent;
          break;
        }
        type = *p++;
      }
      const Vlq vlq = read_vlq(p, end);
      const std::uint32_t length = vlq.value;
      if (vlq.next) p = vlq.next;
      if (!vlq.next || length > static_cast<std::size_t>(end - p)) {
        p = event_start;
        stop = Stop::CutEvent;
        break;
      }
      if (track.payload.size() + length > std::numeric_limits<std::uint32_t>::max())
        fatal(offset(event_start), "track holds more than 4 GiB of meta and SysEx data");
      const auto data_offset = static_cast<std::uint32_t>(track.payload.size());
      track.payload.insert(track.payload.end(), p, p + length);
      p += length;
      events.push_back(Event{tick, data_offset, length, status, type, 0, 0});
      if (running != 0) running_cancelled = true;
      if (status == kMeta) {
        check_meta(track, events.back(), event_start);
        if (type == meta::kEndOfTrack) {
          stop = Stop::EndOfTrack;
          break;
        }
      }
      continue;
    }

    // F1..FE other than F7 and FF: system common and real-time messages belong on a wire,
    // not in a file. Repair: keep them as events with their data bytes.
    problem(Malformation::StrayStatusByte, offset(p - 1),
            "status " + hex_byte(status) + " (" + system_status_name(status) +
                ") is not allowed in a MIDI file; kept as a system event");
    const int n = data_length(status);
    if (end - p < n) {
      p = event_start;
      stop = Stop::CutEvent;
      break;
    }
    std::uint8_t d[2] = {0, 0};
    for (int i = 0; i < n; ++i) d[i] = (p[i] & 0x80) ? data_byte(p[i], p + i, status) : p[i];
    p += n;
    events.push_back(Event{tick, 0, 0, status, d[0], d[1], 0});
  }
  p_out = p;
  event_start_out = event_start;
  running_ = running;
  running_cancelled_ = running_cancelled;
  return stop;
}

}  // namespace

MidiFile read(std::span<const std::uint8_t> bytes, const ReadOptions& options) {
  return Reader(bytes, options).run();
}

namespace {

std::string size_text(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// The bytes of `path`, read in chunks: a pipe cannot say its size (tellg fails with "Illegal
// seek"), so the size of a regular file only picks the first chunk's length.
std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::is_directory(status))
    throw FileError(std::make_error_code(std::errc::is_a_directory),
                    path.string() + ": is a directory, not a MIDI file");
  const auto too_large = [&] {
    return FileError(std::make_error_code(std::errc::file_too_large),
                     path.string() + ": larger than " + size_text(kMaxLoadBytes) +
                         " (midi::kMaxLoadBytes), the most a MIDI file is read to; not a MIDI file?");
  };
  std::uint64_t chunk = 1 << 20;
  if (!ec && std::filesystem::is_regular_file(status)) {
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (!ec && size > kMaxLoadBytes) throw too_large();
    if (!ec) chunk = size + 1;  // one byte more, to find the end in one read
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const std::error_code open_error(errno ? errno : ENOENT, std::generic_category());
    throw FileError(open_error, "cannot open " + path.string() + ": " + open_error.message());
  }
  std::vector<std::uint8_t> bytes;
  while (in) {
    const std::size_t have = bytes.size();
    if (have > kMaxLoadBytes) throw too_large();
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, kMaxLoadBytes + 1 - have));
    bytes.resize(have + want);
    in.read(reinterpret_cast<char*>(bytes.data() + have), static_cast<std::streamsize>(want));
    bytes.resize(have + static_cast<std::size_t>(in.gcount()));
  }
  if (!in.eof()) {
    const std::error_code read_error(EIO, std::generic_category());
    throw FileError(read_error, "cannot read " + path.string() + ": " + read_error.message());
  }
  if (bytes.size() > kMaxLoadBytes) throw too_large();
  return bytes;
}

}  // namespace

MidiFile load(const std::filesystem::path& path, ReadOptions options) {
  const std::vector<std::uint8_t> bytes = read_bytes(path);
  options.source_name(path.string());
  return read(bytes, options);
}

}  // namespace midi

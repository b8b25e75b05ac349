// midi-inspect: look inside Standard MIDI Files with libmidi.
//
// A summary per file by default; --events and --notes dump tab-separated tables for scripts;
// --check gives an exit code a shell can act on (0 clean, 1 read with repairs, 2 unreadable);
// --rewrite writes the file back through libmidi's writer.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "libmidi/libmidi.hpp"

namespace {

enum class Mode { Summary, Events, Notes, Check };

struct Args {
  Mode mode = Mode::Summary;
  midi::ReadOptions read_options;
  bool sustain = false;
  bool zero_length_off_first = false;
  bool quiet = false;
  std::optional<std::string> rewrite;
  std::vector<std::string> files;
};

constexpr const char* kUsage = R"(usage: midi-inspect [options] FILE...

Reads Standard MIDI Files (format 0, 1, 2; RIFF RMID) and reports what is in them.

Modes (default: a summary of each file):
  --events            one tab-separated line per event:
                      track index tick seconds event
  --notes             one tab-separated line per note:
                      track channel program pitch velocity start_tick end_tick start_sec end_sec
  --check             exit 0 if every file is clean, 1 if some file needed repairs
                      (warnings on stderr), 2 if some file is unreadable (reason on stderr)

Options:
  --strict            refuse every malformation instead of repairing it
  --error-on NAME     refuse one kind of malformation (repeatable); NAME is one of:
                      %s
  --sustain           --notes: extend notes held by the sustain pedal (CC64 >= 64)
  --zero-length-off-first
                      --notes: a note-off with nothing to end, then a note-on of its key in
                      the same tick, is a note of no length (music21's grace notes)
  --rewrite OUT.mid   write the (single) input file back to OUT.mid through libmidi
  -q, --quiet         summary/check: print warnings as a count only
  -h, --help          show this help

Exit status: 0 success, 1 a file was read with repairs (--check) , 2 a file could not be
read or written, 64 bad usage.
)";

std::string malformation_list() {
  std::string s;
  for (std::size_t i = 0; i < midi::kMalformationCount; ++i) {
    if (i) s += (i % 3 == 0) ? ",\n                      " : ", ";
    s += midi::malformation_name(static_cast<midi::Malformation>(i));
  }
  return s;
}

void print_usage(std::FILE* to) { std::fprintf(to, kUsage, malformation_list().c_str()); }

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "midi-inspect: %s\nTry 'midi-inspect --help'.\n", message.c_str());
  std::exit(64);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) usage_error(std::string(flag) + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      print_usage(stdout);
      std::exit(0);
    } else if (arg == "--events") {
      a.mode = Mode::Events;
    } else if (arg == "--notes") {
      a.mode = Mode::Notes;
    } else if (arg == "--check") {
      a.mode = Mode::Check;
    } else if (arg == "--strict") {
      a.read_options = midi::ReadOptions::strict();
    } else if (arg == "--error-on") {
      const std::string name = value("--error-on");
      const auto kind = midi::malformation_from_name(name);
      if (!kind) usage_error("unknown malformation '" + name + "'; one of: " + malformation_list());
      a.read_options.on(*kind, midi::Policy::Error);
    } else if (arg == "--sustain") {
      a.sustain = true;
    } else if (arg == "--zero-length-off-first") {
      a.zero_length_off_first = true;
    } else if (arg == "--rewrite") {
      a.rewrite = value("--rewrite");
    } else if (arg == "-q" || arg == "--quiet") {
      a.quiet = true;
    } else if (arg == "--") {
      for (++i; i < argc; ++i) a.files.emplace_back(argv[i]);
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage_error("unknown option '" + arg + "'");
    } else {
      a.files.push_back(arg);
    }
  }
  if (a.files.empty()) usage_error("no input file");
  if (a.rewrite && a.files.size() != 1) usage_error("--rewrite takes exactly one input file");
  return a;
}

std::string division_text(const midi::TimeDivision& d) {
  if (!d.smpte) return std::to_string(d.ticks_per_quarter) + " ticks per quarter";
  return "SMPTE " + std::string(d.frames_per_second == 29 ? "29.97" : std::to_string(d.frames_per_second)) +
         " fps, " + std::to_string(d.ticks_per_frame) + " ticks per frame";
}

void print_warnings(const std::string& path, const std::vector<midi::Diagnostic>& warnings, bool quiet) {
  if (warnings.empty()) return;
  if (quiet) {
    std::cerr << path << ": " << warnings.size() << " repair(s)\n";
    return;
  }
  for (const auto& w : warnings) std::cerr << path << ": warning: " << w.to_string() << "\n";
}

void print_summary(const std::string& path, std::uintmax_t size, const midi::MidiFile& f) {
  const midi::TempoMap tempo(f);
  const midi::Performance perf = midi::extract_notes(f);
  std::uint64_t last_tick = 0;
  for (const auto& t : f.tracks) last_tick = std::max(last_tick, t.end_tick());
  double duration = 0;
  if (f.format == 2) {
    for (std::size_t i = 0; i < f.tracks.size(); ++i)
      duration += midi::TempoMap(f, i).seconds(f.tracks[i].end_tick());
  } else {
    duration = tempo.seconds(last_tick);
  }
  std::ostringstream o;
  o << path << "\n";
  o << "  size        " << size << " bytes" << (f.rmid ? " (RIFF RMID)" : "") << "\n";
  o << "  format      " << f.format << ", " << f.tracks.size() << " track(s), " << division_text(f.division) << "\n";
  o << "  events      " << f.event_count() << "\n";
  o << "  notes       " << perf.notes.size();
  if (!perf.notes.empty()) {
    int lo = 127, hi = 0;
    for (const auto& n : perf.notes) lo = std::min<int>(lo, n.pitch), hi = std::max<int>(hi, n.pitch);
    o << " (pitch " << lo << ".." << hi << ")";
  }
  o << "\n";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f s", duration);
  o << "  duration    " << buf << " (" << last_tick << " ticks)\n";
  if (!tempo.changes().empty()) {
    std::snprintf(buf, sizeof buf, "%.2f bpm", 60e6 / tempo.changes().front().microseconds_per_quarter);
    o << "  tempo       " << buf << (tempo.changes().size() > 1 ? " at first, " + std::to_string(tempo.changes().size()) + " changes" : "")
      << "\n";
  }
  for (std::size_t ti = 0; ti < f.tracks.size(); ++ti) {
    const auto& t = f.tracks[ti];
    std::string name;
    std::map<int, int> channel_notes;
    for (const auto& e : t.events) {
      if (e.is_meta(midi::meta::kTrackName) && name.empty()) name = std::string(t.text(e));
      if (e.is_note_on()) ++channel_notes[e.channel()];
      if (e.is_meta(midi::meta::kTimeSignature))
        if (auto ts = midi::time_signature_of(t, e))
          o << "  time sig    " << ts->numerator << "/" << ts->denominator << " at tick " << e.tick << " (track " << ti << ")\n";
      if (e.is_meta(midi::meta::kKeySignature))
        if (auto ks = midi::key_signature_of(t, e))
          o << "  key sig     " << ks->sharps << (ks->sharps < 0 ? " flats" : " sharps") << (ks->minor ? " minor" : " major")
            << " at tick " << e.tick << " (track " << ti << ")\n";
    }
    o << "  track " << ti << "     " << t.events.size() << (t.events.size() == 1 ? " event" : " events");
    if (!name.empty()) o << ", name '" << name << "'";
    for (auto [ch, n] : channel_notes) o << ", ch " << ch << ": " << n << " notes";
    o << "\n";
  }
  if (!f.unknown_chunks.empty()) o << "  chunks      " << f.unknown_chunks.size() << " unknown chunk(s) kept\n";
  o << "  repairs     " << f.warnings.size() << "\n";
  std::cout << o.str();
}

void print_events(const midi::MidiFile& f) {
  std::cout << "track\tindex\ttick\tseconds\tevent\n";
  std::string line;
  for (std::size_t ti = 0; ti < f.tracks.size(); ++ti) {
    const midi::TempoMap tempo = f.format == 2 ? midi::TempoMap(f, ti) : midi::TempoMap(f);
    const auto& t = f.tracks[ti];
    for (std::size_t i = 0; i < t.events.size(); ++i) {
      const auto& e = t.events[i];
      char buf[96];
      std::snprintf(buf, sizeof buf, "%zu\t%zu\t%llu\t%.6f\t", ti, i, static_cast<unsigned long long>(e.tick),
                    tempo.seconds(e.tick));
      line = buf;
      line += midi::describe(t, e);
      line += '\n';
      std::cout << line;
    }
  }
}

void print_notes(const midi::MidiFile& f, const midi::NoteOptions& options) {
  const auto perf = midi::extract_notes(f, options);
  std::cout << "track\tchannel\tprogram\tpitch\tvelocity\tstart_tick\tend_tick\tstart_sec\tend_sec\n";
  for (const auto& n : perf.notes) {
    char buf[192];
    std::snprintf(buf, sizeof buf, "%u\t%u\t%u\t%u\t%u\t%llu\t%llu\t%.9f\t%.9f\n", unsigned{n.track}, unsigned{n.channel},
                  unsigned{n.program}, unsigned{n.pitch}, unsigned{n.velocity},
                  static_cast<unsigned long long>(n.start_tick), static_cast<unsigned long long>(n.end_tick),
                  n.start_seconds, n.end_seconds);
    std::cout << buf;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const Args args = parse_args(argc, argv);
  int status = 0;
  for (const auto& path : args.files) {
    midi::MidiFile file;
    try {
      file = midi::load(path, args.read_options);
    } catch (const std::exception& e) {
      std::cerr << "midi-inspect: " << e.what() << "\n";
      status = 2;
      continue;
    }
    if (args.files.size() > 1 && (args.mode == Mode::Events || args.mode == Mode::Notes))
      std::cout << "# file: " << path << "\n";
    switch (args.mode) {
      case Mode::Summary: {
        std::error_code ec;
        const auto size = std::filesystem::file_size(path, ec);
        print_summary(path, ec ? 0 : size, file);
        print_warnings(path, file.warnings, args.quiet);
        break;
      }
      case Mode::Events:
        print_events(file);
        print_warnings(path, file.warnings, args.quiet);
        break;
      case Mode::Notes:
        print_notes(file, midi::NoteOptions()
                              .sustain_pedal(args.sustain)
                              .zero_length_off_first(args.zero_length_off_first));
        print_warnings(path, file.warnings, args.quiet);
        break;
      case Mode::Check:
        print_warnings(path, file.warnings, args.quiet);
        if (!file.warnings.empty()) status = std::max(status, 1);
        break;
    }
    if (args.rewrite) {
      try {
        midi::save(file, *args.rewrite);
      } catch (const std::exception& e) {
        std::cerr << "midi-inspect: cannot write " << *args.rewrite << ": " << e.what() << "\n";
        status = 2;
      }
    }
  }
  return status;
}

// musegen instruments: the instruments multitrack models write for (core/instruments.hpp).
#include <cstdio>
#include <iostream>

#include "cli.hpp"
#include "codec.hpp"
#include "commands.hpp"
#include "instruments.hpp"

namespace musegen {

int cmd_instruments(Args args) {
  cli::Parser p("instruments", "[options]",
                "Lists the instruments a multitrack model writes for: the names --instruments takes\n"
                "(a GM program number works too), the General MIDI program each part is written with,\n"
                "and the range the sampler keeps the part in. A part of a MIDI file is given its\n"
                "instrument by its track name (\"Violin I\", \"Violoncello\", \"Canto\", \"Basso\"), else by\n"
                "its program.");
  p.epilog("example:\n  musegen generate runs/quartets --instruments violin,violin,viola,cello --midi q.mid\n");
  if (!p.parse(args)) return 0;
  std::printf("%-12s %-8s %-16s %s\n", "name", "program", "range", "family");
  for (const Instrument& i : instruments()) {
    const std::string range = pitch_name(i.lowest) + " .. " + pitch_name(i.highest);
    std::printf("%-12s %-8d %-16s %s\n", std::string(i.name).c_str(), i.program, range.c_str(),
                std::string(i.family).c_str());
  }
  return 0;
}

}  // namespace musegen

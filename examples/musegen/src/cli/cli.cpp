#include "cli.hpp"

#include <libnn/threads.hpp>

#include <charconv>
#include <cmath>
#include <iostream>
#include <limits>
#include <sstream>
#include <system_error>

namespace musegen::cli {

namespace {

std::string quote(const std::string& text) { return "\"" + text + "\""; }

// Formats a double the way a user would type it: 0.001, 2, 0.3.
std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// A range's bound as a user would type it: integers whole (9223372036854775807, not
// 9.22337e+18), others as format_number does.
std::string format_bound(long double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  constexpr auto kMaxWhole = static_cast<long double>(std::numeric_limits<std::int64_t>::max());
  if (value == std::trunc(value) && std::fabs(value) <= kMaxWhole) {
    return std::to_string(static_cast<std::int64_t>(value));
  }
  return format_number(static_cast<double>(value));
}

// Wraps `text` at `width` columns, every line indented by `indent` spaces.
void wrap(std::ostream& out, const std::string& text, std::size_t indent, std::size_t width,
          std::size_t first_column) {
  std::size_t column = first_column;
  std::istringstream words(text);
  std::string word;
  bool first = true;
  while (words >> word) {
    if (!first && column + 1 + word.size() > width) {
      out << '\n' << std::string(indent, ' ');
      column = indent;
    } else if (!first) {
      out << ' ';
      ++column;
    }
    out << word;
    column += word.size();
    first = false;
  }
}

}  // namespace

std::int64_t parse_int(const std::string& text, const std::string& what) {
  std::int64_t value = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    throw UsageError(what + ": expected an integer, found " + quote(text));
  }
  return value;
}

double parse_double(const std::string& text, const std::string& what) {
  // std::from_chars for double is in GCC 11+; strtod would accept leading spaces and hex.
  double value = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    throw UsageError(what + ": expected a number, found " + quote(text));
  }
  return value;
}

Range& Range::open_low() {
  lo_open = true;
  return *this;
}

Range& Range::open_high() {
  hi_open = true;
  return *this;
}

Range& Range::or_value(long double value, std::string meaning) {
  special = value;
  special_meaning = std::move(meaning);
  return *this;
}

bool Range::contains(long double value) const {
  if (special && value == *special) return true;
  // Written so that NaN, which compares false with everything, is outside every range.
  const bool above_lo = lo_open ? value > lo : value >= lo;
  const bool below_hi = hi_open ? value < hi : value <= hi;
  return above_lo && below_hi;
}

std::string Range::text(const std::string& metavar) const {
  std::string interval;
  if (lo_open || hi_open) {
    interval = format_bound(lo) + (lo_open ? " < " : " <= ") + metavar + (hi_open ? " < " : " <= ") +
               format_bound(hi);
  } else {
    interval = format_bound(lo) + ".." + format_bound(hi);
  }
  if (!special) return interval;
  return format_bound(*special) + " (" + special_meaning + ") or " + interval;
}

void check_range(long double value, const std::string& text, const Range& allowed,
                 const std::string& what, const std::string& metavar) {
  if (!allowed.contains(value)) {
    throw UsageError(what + ": expected " + allowed.text(metavar) + ", found " + text);
  }
}

Parser::Parser(std::string command, std::string synopsis, std::string description)
    : command_(std::move(command)),
      synopsis_(std::move(synopsis)),
      description_(std::move(description)) {}

Parser& Parser::add(Option option) {
  if (find(option.name) != nullptr) {
    throw std::logic_error("cli::Parser: option --" + option.name + " declared twice");
  }
  options_.push_back(std::move(option));
  return *this;
}

Parser& Parser::flag(const std::string& name, bool& out, const std::string& help) {
  Option o;
  o.name = name;
  o.help = help;
  o.is_flag = true;
  o.default_text = out ? "on" : "off";
  o.set = [&out](const std::string& value) { out = value == "1"; };
  return add(std::move(o));
}

Parser& Parser::option(const std::string& name, std::string& out, const std::string& metavar,
                       const std::string& help) {
  Option o;
  o.name = name;
  o.metavar = metavar;
  o.help = help;
  o.default_text = out;
  o.set = [&out](const std::string& value) { out = value; };
  return add(std::move(o));
}

Parser& Parser::option(const std::string& name, std::int64_t& out, const std::string& metavar,
                       const std::string& help, const Range& allowed) {
  if (!allowed.contains(static_cast<long double>(out))) {
    throw std::logic_error("cli::Parser: the default of --" + name + ", " + std::to_string(out) +
                           ", is outside its range " + allowed.text(metavar));
  }
  Option o;
  o.name = name;
  o.metavar = metavar;
  o.help = help;
  o.default_text = std::to_string(out);
  o.range_text = allowed.text(metavar);
  o.set = [&out, name, metavar, allowed](const std::string& value) {
    const std::int64_t parsed = parse_int(value, "--" + name);
    check_range(static_cast<long double>(parsed), value, allowed, "--" + name, metavar);
    out = parsed;
  };
  return add(std::move(o));
}

Parser& Parser::option(const std::string& name, double& out, const std::string& metavar,
                       const std::string& help, const Range& allowed) {
  if (!allowed.contains(out)) {
    throw std::logic_error("cli::Parser: the default of --" + name + ", " + format_number(out) +
                           ", is outside its range " + allowed.text(metavar));
  }
  Option o;
  o.name = name;
  o.metavar = metavar;
  o.help = help;
  o.default_text = format_number(out);
  o.range_text = allowed.text(metavar);
  o.set = [&out, name, metavar, allowed](const std::string& value) {
    const double parsed = parse_double(value, "--" + name);
    check_range(parsed, value, allowed, "--" + name, metavar);
    out = parsed;
  };
  return add(std::move(o));
}

Parser& Parser::positional(const std::string& name, std::string& out, const std::string& help) {
  if (!positionals_.empty() && positionals_.back().rest) {
    throw std::logic_error("cli::Parser: positional " + name + " after a list of positionals");
  }
  Positional p;
  p.name = name;
  p.help = help;
  p.set = [&out](const std::string& value) { out = value; };
  positionals_.push_back(std::move(p));
  return *this;
}

Parser& Parser::positionals(const std::string& name, std::vector<std::string>& out,
                            const std::string& help, std::size_t min_count) {
  if (!positionals_.empty() && positionals_.back().rest) {
    throw std::logic_error("cli::Parser: two lists of positionals");
  }
  Positional p;
  p.name = name;
  p.help = help;
  p.rest = true;
  p.min_count = min_count;
  p.rest_out = &out;
  positionals_.push_back(std::move(p));
  return *this;
}

Parser& Parser::epilog(const std::string& text) {
  epilog_ = text;
  return *this;
}

Parser::Option* Parser::find(const std::string& name) {
  for (auto& o : options_) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

const Parser::Option* Parser::find(const std::string& name) const {
  for (const auto& o : options_) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

bool Parser::given(const std::string& name) const {
  const Option* o = find(name);
  return o != nullptr && o->given;
}

bool Parser::parse(std::span<const std::string> args) { return parse(args, std::cout); }

bool Parser::parse(std::span<const std::string> args, std::ostream& help_out) {
  std::vector<std::string> values;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-' ||
        (arg[1] != '-' && arg != "-h")) {
      values.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      help_out << help();
      return false;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    Option* o = find(name);
    bool negated = false;
    if (o == nullptr && name.rfind("no-", 0) == 0) {
      o = find(name.substr(3));
      negated = o != nullptr && o->is_flag;
      if (!negated) o = nullptr;
    }
    if (o == nullptr) {
      throw UsageError("unknown option " + quote(arg));
    }
    if (o->is_flag) {
      if (inline_value) {
        throw UsageError("--" + o->name + " is a flag and takes no value, found " +
                         quote(*inline_value));
      }
      o->set(negated ? "0" : "1");
    } else {
      if (!inline_value) {
        if (i + 1 >= args.size()) {
          throw UsageError("--" + o->name + ": expected a value (" + o->metavar +
                           "), found the end of the command line");
        }
        inline_value = args[++i];
      }
      o->set(*inline_value);
    }
    o->given = true;
  }

  std::size_t next = 0;
  for (const auto& p : positionals_) {
    if (p.rest) {
      std::size_t count = values.size() - std::min(next, values.size());
      if (count < p.min_count) {
        throw UsageError("expected at least " + std::to_string(p.min_count) + " " + p.name +
                         ", found " + std::to_string(count));
      }
      p.rest_out->assign(values.begin() + static_cast<std::ptrdiff_t>(next), values.end());
      next = values.size();
    } else {
      if (next >= values.size()) {
        throw UsageError("missing " + p.name);
      }
      p.set(values[next++]);
    }
  }
  if (next < values.size()) {
    throw UsageError("unexpected argument " + quote(values[next]));
  }
  return true;
}

std::string Parser::help() const {
  constexpr std::size_t kWidth = 92;
  std::ostringstream out;
  out << "usage: musegen " << command_ << ' ' << synopsis_ << "\n\n";
  // Paragraphs of the description are separated by blank lines; line breaks inside are kept
  // when a line starts with spaces (examples), otherwise text is re-wrapped.
  out << description_ << "\n";
  if (!positionals_.empty()) {
    out << "\narguments:\n";
    for (const auto& p : positionals_) {
      std::string head = "  " + p.name + (p.rest ? "..." : "");
      out << head;
      std::size_t column = head.size();
      if (column < 26) {
        out << std::string(26 - column, ' ');
        column = 26;
      } else {
        out << "\n" << std::string(26, ' ');
        column = 26;
      }
      wrap(out, p.help, 26, kWidth, column);
      out << '\n';
    }
  }
  out << "\noptions:\n";
  auto print = [&](const std::string& head, const std::string& text) {
    out << head;
    std::size_t column = head.size();
    if (column < 26) {
      out << std::string(26 - column, ' ');
    } else {
      out << "\n" << std::string(26, ' ');
    }
    wrap(out, text, 26, kWidth, 26);
    out << '\n';
  };
  for (const auto& o : options_) {
    std::string head = "  --" + o.name + (o.is_flag ? "" : " " + o.metavar);
    std::string text = o.help;
    if (o.is_flag) {
      text += o.default_text == "on" ? " (default: on; --no-" + o.name + " turns it off)" : "";
    } else if (!o.range_text.empty()) {
      text += " (allowed: " + o.range_text + "; default: " + o.default_text + ")";
    } else if (!o.default_text.empty()) {
      text += " (default: " + o.default_text + ")";
    }
    print(head, text);
  }
  print("  -h, --help", "show this help and exit");
  if (!epilog_.empty()) out << '\n' << epilog_ << (epilog_.back() == '\n' ? "" : "\n");
  return out.str();
}

Parser& add_threads_option(Parser& p, std::int64_t& threads) {
  return p.option("threads", threads, "N",
                  "CPU threads for the model's kernels (0: OMP_NUM_THREADS, else one per core); "
                  "the results are the same for any count",
                  range(0, kMaxThreads));
}

void apply_threads(std::int64_t threads) {
  if (threads > 0) nn::set_num_threads(static_cast<int>(threads));
}

}  // namespace musegen::cli

// What the two metric reports share (metrics.cpp and multitrack_metrics.cpp): number
// formatting, the text table, and the JSON document. Internal to the core layer: only its .cpp
// files include it (nlohmann-json is a private dependency of musegen_core).
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "metrics.hpp"

namespace musegen::detail {

// "0.125" with `decimals` decimals; "n/a" for NaN.
std::string fixed(double value, int decimals = 3);
// "0.125 ± 0.010"; "n/a" when no piece has the value.
std::string mean_std_text(const MeanStd& m);

// A table: the first row is the header, underlined; a rule closes it. The first column is
// left-aligned, the others right-aligned, columns separated by " | "; only the first `shown`
// columns are printed.
std::string text_table(const std::vector<std::vector<std::string>>& rows, std::size_t shown);

// The report as JSON, written by nlohmann-json (docs/architecture.md, "The app's libraries"):
// ordered_json keeps the keys in the order they are set. A double is written in the shortest
// form that reads back as the same double (nlohmann's to_chars: "0.1", "24.0"), and NaN (an
// undefined metric) as null.
using Json = nlohmann::ordered_json;

Json number_or_null(double value);
// {"mean", "std", "count"}; mean and std null when count is 0.
Json mean_std_json(const MeanStd& m);
// The document to_json (metrics.hpp) writes, before it is written.
Json report_json(const SetMetrics& generated, const SetMetrics* reference,
                 std::span<const PieceMetrics> generated_pieces,
                 std::span<const PieceMetrics> reference_pieces, double tolerance);
// "yes", "no" or "n/a" for within_tolerance's 1, 0, -1; and its JSON (true, false, null).
std::string within_text(int within);
Json within_json(int within);
// The text of a report document: indented by 2, a newline at the end, a name that is not
// UTF-8 with U+FFFD where its bad bytes were.
std::string dump_report(const Json& report);

}  // namespace musegen::detail

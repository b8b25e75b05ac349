// What counts as a MIDI file when a folder is searched: one rule for every command
// (`preprocess`, `eval`, and whatever lists a user's collection next).
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace musegen {

// .mid, .midi, .kar (karaoke: a Standard MIDI File with lyrics) and .rmi (RIFF-wrapped MIDI,
// which libmidi unwraps), in any case.
bool is_midi_name(const std::filesystem::path& path);

// The MIDI files under `folder`, recursively (unreadable subfolders skipped), sorted by path
// so that every run sees them in the same order.
std::vector<std::filesystem::path> midi_files_in(const std::filesystem::path& folder);

// Files of a metric run: each argument is a file (taken whatever its extension) or a folder
// (midi_files_in). Throws std::invalid_argument naming a path that does not exist.
std::vector<std::filesystem::path> collect_midi_files(std::span<const std::string> inputs);

}  // namespace musegen

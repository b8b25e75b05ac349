// Every command that writes checks its outputs before it writes anything: an output that is
// one of its inputs, or a file of the run folder it reads, would be replaced by what the
// command makes of it (`generate runs/ev --out runs/ev/best.safetensors` used to destroy the
// weights it was sampling from). Files are compared by identity, not by name: links, "..",
// and two spellings of one path are the same file; an output that does not exist yet is no
// input.
//
//   OutputCheck check;
//   check.input("the input", input).run_folder(run);
//   check.output("--out", out);   // throws, naming --out and the input or run file it is
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace musegen::cli {

// Whether a and b are one existing file (the same device and inode once links are followed).
// False when either does not exist.
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

class OutputCheck {
 public:
  // A file the command reads; `role` is how the message names it ("the input", "--primer").
  OutputCheck& input(const std::string& role, const std::filesystem::path& path);
  // The files of the run folder that `run_dir_or_weights` names (the folder itself, or the
  // folder of a weights file, which is then an input too): its weights, training state,
  // metrics and TensorBoard event files.
  OutputCheck& run_folder(const std::filesystem::path& run_dir_or_weights);

  // Throws std::runtime_error when `path` is one of the inputs, a run file, or an output
  // already checked ("--out runs/ev/best.safetensors: is best.safetensors of the run folder
  // runs/ev; choose another file, nothing was written"). Remembers it as an output.
  OutputCheck& output(const std::string& role, const std::filesystem::path& path);

 private:
  struct Known {
    std::filesystem::path path;
    std::string is;  // what the message says the file is: "the input ow/8.mid"
  };
  std::vector<Known> inputs_;
  std::vector<Known> outputs_;
};

}  // namespace musegen::cli

// Writes a bidirectional nn::LSTM's checkpoint and what it computes, for bilstm_torch_check.py
// (ctest bilstm_torch_check): PyTorch loads the weights into torch.nn.LSTM(bidirectional=True)
// and must give the same output and final state.
//
//   bilstm_checkpoint_tool <dir>  ->  <dir>/model.safetensors (nn::save_weights; metadata
//   "params": the parameter names in named_parameters() order, comma-separated) and
//   <dir>/io.safetensors (input, h0, c0, output, h_n, c_n; metadata: the module's options)
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "libnn/checkpoint.hpp"
#include "libnn/modules/lstm.hpp"
#include "libnn/random.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    // input_size 5, hidden_size 6, 2 layers, batch_first; T = 7, B = 3.
    nn::Generator gen(2026), data(1206);
    nn::LSTM lstm(
        nn::LSTMOptions(5, 6).num_layers(2).bidirectional(true).batch_first(true).generator(&gen));
    const nn::Tensor input = nn::randn({3, 7, 5}, &data);
    const nn::Tensor h0 = nn::randn({4, 3, 6}, &data), c0 = nn::randn({4, 3, 6}, &data);
    auto [output, state] = lstm.forward(input, nn::LSTMState{h0, c0});
    std::string names;
    for (const auto& [name, p] : lstm.named_parameters())
      names += (names.empty() ? "" : ",") + name;
    nn::save_weights(lstm, dir / "model.safetensors", {{"params", names}});
    nn::NamedTensors io;
    io.insert("input", input);
    io.insert("h0", h0);
    io.insert("c0", c0);
    io.insert("output", output.detach());
    io.insert("h_n", std::get<0>(state).detach());
    io.insert("c_n", std::get<1>(state).detach());
    nn::save_safetensors(dir / "io.safetensors", io,
                         {{"input_size", "5"},
                          {"hidden_size", "6"},
                          {"num_layers", "2"},
                          {"batch_first", "true"},
                          {"bidirectional", "true"}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bilstm_checkpoint_tool: %s\n", e.what());
    return 1;
  }
  return 0;
}

// musegen train: the command-line face of train() (train.hpp).
#include <iostream>

#include "cli.hpp"
#include "commands.hpp"
#include "device_option.hpp"
#include "outputs.hpp"
#include "run_dir.hpp"
#include "train.hpp"

namespace musegen {

namespace {

// Generous ceilings: far past any model or run this program trains, low enough that a typo
// (an extra digit or three) is an error rather than an allocation that fails minutes later.
constexpr std::int64_t kMaxWidth = 65536;          // --embed, --hidden
constexpr std::int64_t kMaxSteps = 1'000'000'000;  // any count of steps or predictions

}  // namespace

int cmd_train(Args args) {
  TrainOptions o;
  std::vector<std::string> dataset;
  std::string run_dir = o.run_dir.string();
  bool no_tensorboard = false;
  cli::Parser p("train", "DATASET [options]   |   musegen train --resume --run-dir DIR",
                "Trains the LSTM music model on a dataset file made by `musegen preprocess`:\n"
                "embedding (tokens) or a linear projection (roll frames) -> stacked LSTM ->\n"
                "linear -> softmax over tokens, or one sigmoid per key for roll. AdamW with\n"
                "gradient clipping and a warm-up + cosine learning-rate schedule.\n\n"
                "Shows a progress bar (loss, tokens/s, ETA), validates after every epoch (loss,\n"
                "perplexity), writes RUN_DIR/metrics.csv and TensorBoard event files (the same\n"
                "figures, plus the piano roll of a short sample after every epoch), and\n"
                "checkpoints every --checkpoint-every steps, after every epoch, at the end and on\n"
                "Ctrl-C. --resume continues an interrupted run exactly: the same losses as a run\n"
                "never stopped.");
  p.positionals("DATASET", dataset, "the dataset file (.mgds) from musegen preprocess", 0)
      .option("run-dir", run_dir, "DIR", "folder for checkpoints, metrics.csv and the weights")
      .option("embed", o.embed, "N", "embedding / input projection size", cli::range(1, kMaxWidth))
      .option("hidden", o.hidden, "N", "LSTM hidden size", cli::range(1, kMaxWidth))
      .option("layers", o.layers, "N", "stacked LSTM layers", cli::range(1, 64))
      .option("dropout", o.dropout, "P", "dropout after the input layer, between LSTM layers and before the head",
              cli::range(0, 1).open_high())
      .option("seq-len", o.seq_len, "T", "predictions per training window", cli::range(1, 1'000'000))
      .option("batch", o.batch, "B", "windows per batch", cli::range(1, 65536))
      .option("epochs", o.epochs, "N", "passes over the training split", cli::range(1, 1'000'000))
      .option("max-steps", o.max_steps, "N", "stop after N optimizer steps in all (0: no limit)",
              cli::range(0, kMaxSteps))
      .option("lr", o.lr, "LR", "peak learning rate (AdamW)", cli::range(0, 10).open_low())
      .option("weight-decay", o.weight_decay, "W", "AdamW's decoupled weight decay", cli::range(0, 10))
      .option("clip", o.clip, "NORM", "clip the global gradient norm to NORM (0: off)", cli::range(0, 1e6))
      .option("schedule", o.schedule, "NAME", "learning-rate schedule: cosine (after a linear warm-up) or constant")
      .option("warmup", o.warmup, "STEPS", "linear warm-up steps of the cosine schedule", cli::range(0, kMaxSteps))
      .option("seed", o.seed, "N", "seed of the initial weights, the data order and dropout",
              cli::range(0, cli::kMaxSeed))
      .option("checkpoint-every", o.checkpoint_every, "STEPS", "also checkpoint every STEPS steps (0: only after epochs)",
              cli::range(0, kMaxSteps))
      .option("eval-length", o.eval_length, "T", "validation window (0: whole sequences for roll, 4 x --seq-len for tokens)",
              cli::range(0, kMaxSteps))
      .option("log-seconds", o.log_seconds, "S", "progress line interval when stderr is not a terminal (0: every step)",
              cli::range(0, 86400))
      .flag("resume", o.resume, "continue the run in --run-dir from its last checkpoint, with its saved options")
      .flag("quiet", o.quiet, "print nothing but errors")
      .flag("no-tensorboard", no_tensorboard, "write no TensorBoard event files")
      .option("sample-steps", o.sample_steps, "N", "steps of the sample drawn for TensorBoard after each epoch (0: none)",
              cli::range(0, 1'000'000).or_value(-1, "128 frames for roll, 256 tokens"))
      .epilog(
          "examples:\n"
          "  musegen train jsb.mgds --run-dir runs/jsb --epochs 60\n"
          "  musegen train piano.mgds --run-dir runs/piano --hidden 512 --layers 3 --seq-len 100\n"
          "  musegen train --resume --run-dir runs/piano      # after Ctrl-C or a crash\n"
          "  tensorboard --logdir runs                        # watch every run in runs/\n\n"
          "Defaults for roll datasets (JSB chorales) when not given: --embed 128 --hidden 256\n"
          "--layers 1 --dropout 0.2 --seq-len 200 --batch 16 --epochs 150 --lr 3e-3 (what\n"
          "they reach on the JSB chorales, and how fast: docs/perf.md).\n"
          "With --resume, the model and optimisation options come from the checkpoint; only\n"
          "--checkpoint-every, --log-seconds, --quiet, --no-tensorboard and --sample-steps may\n"
          "change.\n\n"
          "TensorBoard is not needed to train; to watch a run: pip install tensorboard.");
  cli::ComputeOptions compute;
  compute.add_training_to(p, o.precision);
  if (!p.parse(args)) return 0;
  const nn::Device device = compute.resolve(o.quiet ? nullptr : &std::cerr);
  if (dataset.size() > 1) throw cli::UsageError("expected one DATASET, found " + std::to_string(dataset.size()));
  if (dataset.empty() && !o.resume) throw cli::UsageError("missing DATASET");
  if (!dataset.empty()) o.dataset = dataset[0];
  o.run_dir = run_dir;
  o.tensorboard = !no_tensorboard;
  o.device = device;

  if (!o.resume) {
    // Roll data (JSB-sized) trains best with a smaller model: defaults not given by the user,
    // applied by train() once it has read the dataset (after taking the run folder's lock).
    o.adapt_to_data = [&p](TrainOptions& t, Encoding encoding) {
      if (encoding != Encoding::roll) return;
      if (!p.given("embed")) t.embed = 128;
      if (!p.given("hidden")) t.hidden = 256;
      if (!p.given("layers")) t.layers = 1;
      if (!p.given("seq-len")) t.seq_len = 200;
      if (!p.given("batch")) t.batch = 16;
      if (!p.given("epochs")) t.epochs = 150;
      if (!p.given("dropout")) t.dropout = 0.2;
      if (!p.given("lr")) t.lr = 3e-3;
    };
  } else {
    for (const std::string& fixed : train_flags_fixed_on_resume()) {
      if (p.given(fixed)) {
        throw cli::UsageError("--" + fixed +
                              " cannot change when resuming: the run continues with the options "
                              "saved in its checkpoint");
      }
    }
  }
  // A run file that is the dataset (a link, a hard link) would be written while it is read.
  // On --resume the dataset comes from the checkpoint, which checked it when the run began.
  if (!o.dataset.empty()) {
    cli::OutputCheck check;
    check.input("the dataset", o.dataset);
    const RunDir files{o.run_dir};
    for (const auto& file : {files.state(), files.weights(), files.best(), files.metrics()})
      check.output("the run file", file);
  }
  TrainResult result = train(o, std::cerr);
  return result.interrupted ? 130 : 0;
}

}  // namespace musegen

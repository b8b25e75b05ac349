// musegen gan-train: train a GAN (gan/gan.hpp) on MIDI files or the JSB chorales.
#include <iostream>

#include "cli.hpp"
#include "commands.hpp"
#include "device_option.hpp"
#include "gan.hpp"
#include "outputs.hpp"
#include "rollgan.hpp"

namespace musegen {

namespace {

constexpr std::int64_t kMaxWidth = 65536;          // --hidden, --noise
constexpr std::int64_t kMaxSteps = 1'000'000'000;  // any count of steps

}  // namespace

int cmd_gan_train(Args args) {
  GanOptions o;
  std::string run_dir = o.run_dir.string();
  bool no_tensorboard = false, zero_length_off_first = false;
  std::string models;
  for (const GanModel& m : gan_models()) {
    models += "\n  " + std::string(m.name) + std::string(10 - m.name.size(), ' ') +
              std::string(m.summary) + (m.built ? "" : " [not built yet]");
  }
  cli::Parser p(
      "gan-train", "INPUT... [options]   |   musegen gan-train --resume --run-dir DIR",
      "Trains a GAN on MIDI files and folders, or on the JSB chorales (.json, train\n"
      "split). --model crnngan is C-RNN-GAN (Mogren 2016): an LSTM generator of notes\n"
      "(time since the previous note, duration, pitch, velocity) from noise, and a\n"
      "bidirectional LSTM discriminator scoring every note, with the paper's\n"
      "stabilisers: the generator pre-trained as a next-note predictor, feature\n"
      "matching, the discriminator frozen on batches it already wins, gradient\n"
      "clipping. --model rollgan is a multi-track piano-roll GAN (MuseGAN's hybrid\n"
      "model): phrases of --bars 4/4 bars of sixteenths, one channel per instrument of\n"
      "--ensemble, each track's generator fed a noise shared by all tracks and one of its\n"
      "own, a convolutional critic, WGAN-GP (--gp-weight, --n-critic).\n\n"
      "As `musegen train`: a progress bar, RUN_DIR/metrics.csv and TensorBoard (both\n"
      "losses, the discriminator's accuracy, a generated piano roll after every\n"
      "epoch), checkpoints every --checkpoint-every steps, after every epoch, at the\n"
      "end and on Ctrl-C; --resume continues exactly. The generator goes to\n"
      "RUN_DIR/model.safetensors (best.safetensors: the epoch whose notes' statistics\n"
      "came closest to the data's); musegen gan-generate writes MIDI files from it.");
  p.positionals("INPUT", o.inputs, "MIDI files or folders, or one JSB chorales .json", 0)
      .option("model", o.model, "NAME", "the GAN: crnngan or rollgan")
      .option("run-dir", run_dir, "DIR", "folder for checkpoints, metrics.csv and the generator")
      .option("seq-len", o.seq_len, "N", "notes per training sequence", cli::range(1, 100'000))
      .option("batch", o.batch, "B", "sequences per batch", cli::range(1, 65536))
      .option("epochs", o.epochs, "N", "passes over the training sequences",
              cli::range(1, 1'000'000))
      .option("max-steps", o.max_steps, "N", "stop after N steps in all (0: no limit)",
              cli::range(0, kMaxSteps))
      .option("lr-g", o.lr_g, "LR", "the generator's learning rate (Adam)",
              cli::range(0, 10).open_low())
      .option("lr-d", o.lr_d, "LR", "the discriminator's learning rate (Adam)",
              cli::range(0, 10).open_low())
      .option("clip", o.clip, "NORM", "clip each network's gradient norm to NORM (0: off)",
              cli::range(0, 1e6))
      .option("seed", o.seed, "N", "seed of the initial weights, the data order and the noise",
              cli::range(0, cli::kMaxSeed))
      .option("hidden", o.hidden, "N", "LSTM units per layer (generator and discriminator)",
              cli::range(1, kMaxWidth))
      .option("layers", o.layers, "N", "LSTM layers of each network", cli::range(1, 16))
      .option("noise", o.noise, "N", "noise values per generated note", cli::range(1, kMaxWidth))
      .option("pretrain-steps", o.pretrain_steps, "N",
              "first train the generator as a next-note predictor for N steps",
              cli::range(0, kMaxSteps))
      .option("g-loss", o.g_loss, "NAME",
              "the generator's loss: feature-matching (of the discriminator's features) or "
              "non-saturating")
      .option("freeze-accuracy", o.freeze_accuracy, "A",
              "skip the discriminator's update on a batch it classifies with accuracy above A (1: "
              "never skip)",
              cli::range(0, 1))
      .option("ensemble", o.ensemble, "LIST",
              "rollgan: the tracks: chorale (soprano,alto,tenor,bass), quartet "
              "(violin,violin,viola,cello) or instrument names; each piece's first unused part "
              "of each instrument plays it")
      .option("bars", o.bars, "N", "rollgan: 4/4 bars per phrase", cli::range(1, kRollBarsMaxBars))
      .option("lowest-pitch", o.lowest_pitch, "PITCH", "rollgan: the roll's lowest MIDI pitch",
              cli::range(0, 127))
      .option("pitches", o.pitches, "N", "rollgan: pitches in the roll (a multiple of 8)",
              cli::range(8, 128))
      .option("shared-noise", o.shared_noise, "N", "rollgan: noise values all tracks share",
              cli::range(1, kRollGanMaxNoise))
      .option("private-noise", o.private_noise, "N", "rollgan: noise values of each track",
              cli::range(0, kRollGanMaxNoise))
      .option("g-channels", o.g_channels, "N",
              "rollgan: channels of each track generator's widest layer (a multiple of 4)",
              cli::range(4, kRollGanMaxChannels))
      .option("d-channels", o.d_channels, "N",
              "rollgan: channels of the critic's widest layer (a multiple of 4)",
              cli::range(4, kRollGanMaxChannels))
      .option("n-critic", o.n_critic, "N", "rollgan: critic updates per generator update",
              cli::range(1, kRollGanMaxCritic))
      .option("gp-weight", o.gp_weight, "L", "rollgan: the gradient penalty's weight lambda",
              cli::range(0, 10000))
      .flag("zero-length-off-first", zero_length_off_first,
            "read a note-off then note-on of a key in one tick as a note of no length (music21's "
            "grace notes; docs/midi.md)")
      .option("checkpoint-every", o.checkpoint_every, "STEPS",
              "also checkpoint every STEPS steps (0: only after epochs)", cli::range(0, kMaxSteps))
      .option("log-seconds", o.log_seconds, "S",
              "progress line interval when stderr is not a terminal (0: every step)",
              cli::range(0, 86400))
      .flag("resume", o.resume,
            "continue the run in --run-dir from its last checkpoint, with its saved options")
      .flag("quiet", o.quiet, "print nothing but errors")
      .flag("no-tensorboard", no_tensorboard, "write no TensorBoard event files")
      .epilog("models:" + models +
              "\n\nexamples:\n"
              "  musegen gan-train $MUSEGEN_DATA_DIR/classical-piano-composer/midi_songs --run-dir "
              "runs/crnngan\n"
              "  musegen gan-train --resume --run-dir runs/crnngan      # after Ctrl-C or a crash\n"
              "  musegen gan-generate runs/crnngan --count 100 --out-dir gan-pieces\n"
              "  musegen gan-train $MUSEGEN_DATA_DIR/music21-multitrack/chorales --model rollgan "
              "--zero-length-off-first --run-dir runs/rollgan\n"
              "  tensorboard --logdir runs\n\n"
              "With --resume, the model and optimisation options come from the checkpoint; only\n"
              "--checkpoint-every, --log-seconds, --quiet and --no-tensorboard may change.");
  cli::ComputeOptions compute;
  compute.add_training_to(p, o.precision);
  if (!p.parse(args)) return 0;
  const nn::Device device = compute.resolve(o.quiet ? nullptr : &std::cerr);
  if (o.inputs.empty() && !o.resume)
    throw cli::UsageError("missing INPUT (MIDI files or folders, or a JSB .json)");
  if (o.resume) {
    for (const std::string& fixed : gan_flags_fixed_on_resume()) {
      if (p.given(fixed)) {
        throw cli::UsageError("--" + fixed +
                              " cannot change when resuming: the run continues with the options "
                              "saved in its checkpoint");
      }
    }
  } else if (o.g_loss != "feature-matching" && o.g_loss != "non-saturating") {
    throw cli::UsageError("--g-loss: expected feature-matching or non-saturating, found \"" +
                          o.g_loss + "\"");
  }
  o.run_dir = run_dir;
  o.tensorboard = !no_tensorboard;
  o.zero_length_off_first = zero_length_off_first ? 1 : 0;
  o.device = device;
  {
    cli::OutputCheck check;
    for (const std::string& input : o.inputs) check.input("the input", input);
    const RunDir files{o.run_dir};
    for (const auto& file : {files.state(), files.weights(), files.best(), files.metrics()})
      check.output("the run file", file);
  }
  const TrainerResult result = gan_train(o, std::cerr);
  return result.interrupted ? 130 : 0;
}

}  // namespace musegen

// `musegen serve`'s server (src/server/) over real HTTP: the server in-process on an
// ephemeral loopback port, spoken to with cpp-httplib's client. Every endpoint; every error
// the API promises (400 naming the field, 404 for unknown and path-like ids, 405 with Allow,
// 413, 429 when the queue is full, 409); cancel; concurrent jobs; the files of a piece
// (a MIDI file libmidi reads, the same bytes the app's core makes, a WAV with a right
// header, an SVG roll); regeneration from the stored parameters, byte for byte; the OpenAPI
// document against the responses; stop() with a job running.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <libmidi/io.hpp>
#include <libmidi/notes.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audio_test_support.hpp"
#include "fluid_render.hpp"
#include "generate.hpp"
#include "instruments.hpp"
#include "metrics.hpp"
#include "models.hpp"
#include "multitrack_rules.hpp"
#include "primer.hpp"
#include "render.hpp"
#include "request.hpp"
#include "server.hpp"
#include "session.hpp"
#include "synth.hpp"
#include "test_support.hpp"
#include "tiny_run.hpp"
#include "wav.hpp"

namespace {

using namespace musegen;
using Json = nlohmann::json;
namespace fs = std::filesystem;

// Two runs under runs/: "tiny" (width 8, generates in milliseconds, with a metrics.csv) and
// "slow" (width 256, two layers: 20000 steps take seconds, so a job is seen running and is
// cancelled long before it ends).
struct Runs {
  fs::path root, tiny, slow;
};

const char* kMetricsCsv =
    "step,epoch,lr,train_loss,valid_loss,valid_perplexity,predictions_per_s,grad_norm,seconds,"
    "kind\n"
    "10,0,0.001,6.0,,,1000,1.5,1,interval\n"
    "20,0,0.001,5.5,5.25,190.6,1000,1.4,2,epoch\n"
    "30,1,0.001,5.0,,,1000,1.3,3,interval\n"
    "40,1,0.001,4.5,4.75,115.6,1000,1.2,4,epoch\n";

Runs make_runs(const fs::path& dir) {
  Runs r{dir / "runs", dir / "runs" / "tiny", dir / "runs" / "slow"};
  const Dataset data = test::tiny_dataset(Encoding::events);
  ModelConfig tiny;
  tiny.embed = 8;
  tiny.hidden = 8;
  tiny.layers = 1;
  test::save_tiny_run(r.tiny, data, tiny);
  std::ofstream(r.tiny / "metrics.csv") << kMetricsCsv;
  ModelConfig slow;
  slow.embed = 64;
  slow.hidden = 256;
  slow.layers = 2;
  test::save_tiny_run(r.slow, data, slow);
  return r;
}

// A server on 127.0.0.1, any port, serving on a thread of its own until destroyed.
class Running {
 public:
  explicit Running(server::ServerOptions options)
      : server_(std::make_unique<server::Server>(options)) {
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
  }
  ~Running() { stop(); }
  void stop() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_url_encode(false);  // the paths are sent as written (the tests' %2F included)
    c->set_read_timeout(30, 0);
    return c;
  }

 private:
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

server::ServerOptions options_for(const fs::path& dir, const Runs& runs) {
  server::ServerOptions o;
  o.runs = runs.root;
  o.out = dir / "pieces";
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 1;
  return o;
}

struct Reply {
  int status = 0;
  std::string body;
  Json json;  // null when the body is not JSON
  httplib::Headers headers;
};

Reply reply_of(const httplib::Result& r, const std::string& what) {
  Reply out;
  if (!r) {
    ADD_FAILURE() << what << ": no response (" << httplib::to_string(r.error()) << ")";
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  out.headers = r->headers;
  out.json = Json::parse(r->body, nullptr, false);
  if (out.json.is_discarded()) out.json = nullptr;
  return out;
}

Reply get(httplib::Client& c, const std::string& path) {
  return reply_of(c.Get(path), "GET " + path);
}
Reply post(httplib::Client& c, const std::string& path, const std::string& body) {
  return reply_of(c.Post(path, body, "application/json"), "POST " + path);
}

// The id of the model named `name` in GET /api/models.
std::string model_id(httplib::Client& c, const std::string& name) {
  const Reply r = get(c, "/api/models");
  for (const Json& m : r.json.at("models"))
    if (m.at("name") == name) return m.at("id");
  ADD_FAILURE() << "no model named " << name << " in " << r.body;
  return "";
}

// Polls a job until it leaves queued/running (or `seconds` pass).
Json wait_for(httplib::Client& c, const std::string& job, double seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  Json status;
  while (std::chrono::steady_clock::now() < deadline) {
    const Reply r = get(c, "/api/jobs/" + job);
    EXPECT_EQ(r.status, 200) << r.body;
    status = r.json;
    if (status.is_null() || (status["state"] != "queued" && status["state"] != "running"))
      return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "job " << job << " still not finished after " << seconds
                << " s: " << status.dump();
  return status;
}

// Starts a job and waits for it; returns the finished job.
Json generate_and_wait(httplib::Client& c, const Json& body) {
  const Reply r = post(c, "/api/generate", body.dump());
  EXPECT_EQ(r.status, 202) << r.body;
  if (r.status != 202) return nullptr;
  return wait_for(c, r.json.at("id"));
}

std::string file_of(httplib::Client& c, const std::string& piece, const std::string& kind) {
  const Reply r = get(c, "/api/pieces/" + piece + "/files/" + kind);
  EXPECT_EQ(r.status, 200) << kind << ": " << r.body.substr(0, 200);
  return r.body;
}

// The MIDI bytes the app's core makes for a request, without the server: the oracle the
// server's piece is compared with.
std::string core_midi(const fs::path& run_dir, std::int64_t steps, std::int64_t seed,
                      double temperature, std::int64_t sequence = -1) {
  OpenedRun run = open_run(run_dir);
  PrimerOptions p;
  p.seed = static_cast<std::uint64_t>(seed);
  p.sequence = sequence;
  const Primer primer = choose_primer(run.dataset, "tiny", p);
  GenerateOptions g;
  g.steps = steps;
  g.sample.temperature = temperature;
  g.sample.top_p = 0.95;  // the request's default, as generate --top-p's
  g.sample.seed = static_cast<std::uint64_t>(seed);
  g.rule = generation_rule(run.dataset.codec);
  const GenerateResult result = generate(*run.loaded.model, primer.sequence, g);
  const std::vector<std::uint8_t> bytes =
      midi::write(run.dataset.codec.decode(result.sequence, {}));
  return std::string(bytes.begin(), bytes.end());
}

std::uint32_t le32(const std::string& b, std::size_t at) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 3])) << 24;
}
std::uint16_t le16(const std::string& b, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(b[at]) |
                                    static_cast<unsigned char>(b[at + 1]) << 8);
}

// The keys of a response object against a closed schema of the OpenAPI document: every
// required property present, no property the schema lacks.
void expect_matches_schema(const Json& doc, const std::string& schema, const Json& object) {
  const Json& s = doc.at("components").at("schemas").at(schema);
  ASSERT_TRUE(object.is_object()) << schema << ": " << object.dump();
  for (const auto& [key, value] : object.items())
    EXPECT_TRUE(s.at("properties").contains(key))
        << schema << " has no property " << key << "; the server sends it";
  for (const Json& key : s.value("required", Json::array()))
    EXPECT_TRUE(object.contains(key.get<std::string>()))
        << schema << " requires " << key << ": " << object.dump();
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("server");
    runs_ = make_runs(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  Runs runs_;
};

TEST_F(ServerTest, ListsTheRunsByOpaqueIdWithSizeDataAndLossCurve) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const Reply r = get(*c, "/api/models");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.find("Content-Type")->second, "application/json");
  const Json& models = r.json.at("models");
  ASSERT_EQ(models.size(), 2u) << r.body;
  EXPECT_EQ(models[0]["name"], "slow");  // sorted by name
  const Json& tiny = models[1];
  EXPECT_EQ(tiny["name"], "tiny");
  EXPECT_TRUE(server::ModelRegistry::well_formed(tiny["id"])) << tiny["id"];
  EXPECT_EQ(tiny["id"].get<std::string>().find("tiny"), std::string::npos);
  EXPECT_EQ(tiny["available"], true);
  EXPECT_EQ(tiny["encoding"], "events");
  EXPECT_EQ(tiny["dataset"], "tiny.mgds");
  EXPECT_EQ(tiny["train_sequences"], 4);
  EXPECT_EQ(tiny["valid_sequences"], 3);
  const OpenedRun opened = open_run(runs_.tiny);
  EXPECT_EQ(tiny["parameters"], opened.loaded.model->parameter_count());
  EXPECT_EQ(tiny["hidden"], 8);
  EXPECT_EQ(models[0]["hidden"], 256);
  EXPECT_DOUBLE_EQ(tiny["best_valid_loss"].get<double>(), 4.75);  // the lower of 5.25 and 4.75
  EXPECT_TRUE(models[0]["best_valid_loss"].is_null());            // no metrics.csv
  // Interval rows give training losses, epoch rows validation losses (their train_loss is
  // the epoch's mean, read as epoch_train_loss, not a point of the curve).
  const Json& curve = tiny["loss_curve"];
  ASSERT_EQ(curve.size(), 4u) << curve.dump();
  EXPECT_EQ(curve[0]["step"], 10);
  EXPECT_DOUBLE_EQ(curve[0]["train_loss"].get<double>(), 6.0);
  EXPECT_TRUE(curve[0]["valid_loss"].is_null());
  EXPECT_DOUBLE_EQ(curve[3]["valid_loss"].get<double>(), 4.75);

  const Reply one = get(*c, "/api/models/" + tiny["id"].get<std::string>());
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.json, tiny);
}

TEST_F(ServerTest, GeneratesAPieceWhoseFilesAreTheCoresMidiAValidWavAndAnSvgRoll) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const std::string tiny = model_id(*c, "tiny");
  const Reply accepted =
      post(*c, "/api/generate", Json{{"model", tiny}, {"steps", 48}, {"seed", 5}}.dump());
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const std::string job = accepted.json.at("id");
  EXPECT_EQ(accepted.headers.find("Location")->second, "/api/jobs/" + job);
  const Json done = wait_for(*c, job);
  ASSERT_EQ(done["state"], "done") << done.dump();
  const std::string piece = done["piece"];

  const Reply record = get(*c, "/api/pieces/" + piece);
  ASSERT_EQ(record.status, 200) << record.body;
  const Json& params = record.json.at("parameters");
  EXPECT_EQ(params["model"], tiny);
  EXPECT_EQ(params["steps"], 48);
  EXPECT_EQ(params["seed"], 5);
  EXPECT_EQ(params["temperature"], 1.0);
  EXPECT_EQ(params["primer"], (Json{{"steps", 16}, {"sequence", -1}}));
  EXPECT_EQ(record.json["metrics"]["generated_steps"], 48);

  const std::string midi_bytes = file_of(*c, piece, "midi");
  EXPECT_EQ(midi_bytes, core_midi(runs_.tiny, 48, 5, 1.0))
      << "the server's MIDI is not what the core makes";
  const midi::MidiFile file =
      midi::read({reinterpret_cast<const std::uint8_t*>(midi_bytes.data()), midi_bytes.size()});
  EXPECT_TRUE(file.warnings.empty());
  const midi::Performance notes = midi::extract_notes(file);
  EXPECT_EQ(record.json["metrics"]["note_count"].get<double>(),
            static_cast<double>(notes.notes.size()));

  const std::string wav = file_of(*c, piece, "wav");
  ASSERT_GE(wav.size(), 44u);
  EXPECT_EQ(wav.substr(0, 4), "RIFF");
  EXPECT_EQ(le32(wav, 4), wav.size() - 8);
  EXPECT_EQ(wav.substr(8, 8), "WAVEfmt ");
  EXPECT_EQ(le16(wav, 20), 1);       // PCM
  EXPECT_EQ(le16(wav, 22), 2);       // stereo
  EXPECT_EQ(le32(wav, 24), 44100u);  // frames per second
  EXPECT_EQ(le16(wav, 34), 16);      // bits
  EXPECT_EQ(wav.substr(36, 4), "data");
  EXPECT_EQ(le32(wav, 40), wav.size() - 44);
  // The length: the piece's seconds and the synthesizer's tail.
  const double seconds = record.json["metrics"]["seconds"].get<double>();
  EXPECT_EQ((wav.size() - 44) / 4,
            static_cast<std::size_t>(std::llround((seconds + kTailSeconds) * 44100)));

  const Reply svg = get(*c, "/api/pieces/" + piece + "/files/svg");
  EXPECT_EQ(svg.headers.find("Content-Type")->second, "image/svg+xml");
  EXPECT_EQ(svg.body.rfind("<?xml", 0), 0u) << svg.body.substr(0, 100);
  EXPECT_NE(svg.body.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos)
      << svg.body.substr(0, 200);
  std::size_t rects = 0;
  for (std::size_t at = svg.body.find("class=\"note\""); at != std::string::npos;
       at = svg.body.find("class=\"note\"", at + 1))
    ++rects;
  EXPECT_EQ(rects, notes.notes.size());

  const Reply list = get(*c, "/api/pieces");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json["pieces"].size(), 1u);
  EXPECT_EQ(list.json["pieces"][0], record.json);
}

TEST_F(ServerTest, TheStoredParametersMakeTheSamePieceByteForByte) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const std::string tiny = model_id(*c, "tiny");
  // No seed given: the server picks one and stores it.
  const Json first =
      generate_and_wait(*c, {{"model", tiny}, {"steps", 40}, {"temperature", 1.3}, {"top_k", 20}});
  ASSERT_EQ(first["state"], "done") << first.dump();
  const Json record = get(*c, "/api/pieces/" + first["piece"].get<std::string>()).json;
  const std::string original = file_of(*c, first["piece"], "midi");

  const Json again = generate_and_wait(*c, record["parameters"]);
  ASSERT_EQ(again["state"], "done") << again.dump();
  EXPECT_NE(again["piece"], first["piece"]);
  EXPECT_EQ(file_of(*c, again["piece"], "midi"), original);
  EXPECT_EQ(file_of(*c, again["piece"], "wav"), file_of(*c, first["piece"], "wav"));

  const Reply regenerate =
      post(*c, "/api/pieces/" + first["piece"].get<std::string>() + "/regenerate", "");
  ASSERT_EQ(regenerate.status, 202) << regenerate.body;
  const Json third = wait_for(*c, regenerate.json["id"]);
  ASSERT_EQ(third["state"], "done") << third.dump();
  EXPECT_EQ(file_of(*c, third["piece"], "midi"), original);

  // Another seed, another piece: the comparisons above can fail.
  Json other = record["parameters"];
  other["seed"] = record["parameters"]["seed"].get<std::int64_t>() ^ 1;
  const Json fourth = generate_and_wait(*c, other);
  ASSERT_EQ(fourth["state"], "done") << fourth.dump();
  EXPECT_NE(file_of(*c, fourth["piece"], "midi"), original);
}

TEST_F(ServerTest, APrimerIsUploadedAsBase64AndABrokenOneIs400WithLibmidisDiagnostic) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const std::string tiny = model_id(*c, "tiny");
  using test::Hit;
  const midi::MidiFile primer =
      test::make_file({{0, {Hit{60, 0, 0.5}, Hit{64, 0.5, 1}, Hit{67, 1, 2}}}}, 2);
  const std::vector<std::uint8_t> bytes = midi::write(primer);
  const Json done = generate_and_wait(
      *c, {{"model", tiny},
           {"steps", 8},
           {"primer", {{"steps", 6}, {"midi_base64", server::base64_encode(bytes)}}}});
  ASSERT_EQ(done["state"], "done") << done.dump();
  const Json record = get(*c, "/api/pieces/" + done["piece"].get<std::string>()).json;
  EXPECT_EQ(record["metrics"]["primer_steps"], 6);
  EXPECT_EQ(record["parameters"]["primer"]["midi_base64"], server::base64_encode(bytes));

  // Not a MIDI file: the error is libmidi's own diagnostic.
  const std::vector<std::uint8_t> broken = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1};
  std::string diagnostic;
  try {
    midi::read(broken, midi::ReadOptions().source_name("primer.mid"));
  } catch (const midi::ParseError& e) {
    diagnostic = e.what();
  }
  ASSERT_FALSE(diagnostic.empty());
  const Reply r = post(
      *c, "/api/generate",
      Json{{"model", tiny}, {"primer", {{"midi_base64", server::base64_encode(broken)}}}}.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json["field"], "primer.midi_base64");
  EXPECT_NE(r.json["error"].get<std::string>().find(diagnostic), std::string::npos)
      << r.body << "\n"
      << diagnostic;

  const Reply not_base64 = post(
      *c, "/api/generate", Json{{"model", tiny}, {"primer", {{"midi_base64", "TVRoZA=?"}}}}.dump());
  EXPECT_EQ(not_base64.status, 400) << not_base64.body;
  EXPECT_EQ(not_base64.json["field"], "primer.midi_base64");

  // The model is looked up before the file is read: a request the OpenAPI document calls
  // valid (base64 is all it can say) is 404 for an unknown model, whatever its bytes hold.
  const Reply unknown_model =
      post(*c, "/api/generate",
           Json{{"model", "0123456789abcdef"},
                {"primer", {{"midi_base64", server::base64_encode(broken)}}}}
               .dump());
  EXPECT_EQ(unknown_model.status, 404) << unknown_model.body;
  EXPECT_EQ(unknown_model.json["field"], "model");
}

TEST_F(ServerTest, EveryFieldIsCheckedAndA400NamesItAndItsRange) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const std::string tiny = model_id(*c, "tiny");
  struct Case {
    std::string body, field, allowed_part;
  };
  const auto with = [&](const std::string& fields) {
    return "{\"model\": \"" + tiny + "\", " + fields + "}";
  };
  const std::vector<Case> cases = {
      {"not json", "body", "JSON"},
      {"[1, 2]", "body", "object"},
      {"{}", "model", "model id"},
      {"{\"model\": 5}", "model", "model id"},
      {with("\"colour\": 1"), "colour", "temperature"},
      {with("\"steps\": 0"), "steps", "1..20000"},
      {with("\"steps\": 20001"), "steps", "1..20000"},
      {with("\"steps\": 2.5"), "steps", "integer"},
      {with("\"steps\": 99999999999999999999"), "steps", "1..20000"},
      {with("\"seconds\": 0"), "seconds", "0 < S <= 600"},
      {with("\"seconds\": 601"), "seconds", "0 < S <= 600"},
      {with("\"steps\": 10, \"seconds\": 10"), "seconds", "absent"},
      {with("\"temperature\": 0"), "temperature", "0 < T <= 100"},
      {with("\"temperature\": \"hot\""), "temperature", "0 < T <= 100"},
      {with("\"top_k\": -1"), "top_k", "0..100000"},
      {with("\"top_p\": 1.5"), "top_p", "0 < P <= 1"},
      {with("\"seed\": -1"), "seed", "0..9007199254740991"},
      {with("\"seed\": true"), "seed", "integer"},
      {with("\"tempo\": 2"), "tempo", "4..1000"},
      {with("\"tempo\": null"), "tempo", "4..1000"},
      {with("\"primer\": 3"), "primer", "object"},
      {with("\"primer\": {\"steps\": -1}"), "primer.steps", "0..20000"},
      {with("\"primer\": {\"from\": 1}"), "primer.from", "midi_base64"},
      {with("\"primer\": {\"sequence\": -2}"), "primer.sequence", "0..100000000"},
      // The data has 3 validation sequences: the range is the model's own.
      {with("\"primer\": {\"sequence\": 3}"), "primer.sequence", "0..2"},
      {with("\"primer\": {\"sequence\": 1, \"midi_base64\": \"\"}"), "primer.sequence", "absent"},
  };
  for (const Case& k : cases) {
    const Reply r = post(*c, "/api/generate", k.body);
    EXPECT_EQ(r.status, 400) << k.body << "\n" << r.body;
    ASSERT_TRUE(r.json.is_object()) << k.body << "\n" << r.body;
    EXPECT_EQ(r.json.value("field", ""), k.field) << k.body << "\n" << r.body;
    EXPECT_NE(r.json.value("allowed", "").find(k.allowed_part), std::string::npos) << k.body << "\n"
                                                                                   << r.body;
    EXPECT_NE(r.json.value("error", "").find(k.field), std::string::npos) << k.body << "\n"
                                                                          << r.body;
  }
  // None of them made a job, and the ends of the ranges are accepted.
  const Json ends = generate_and_wait(*c, {{"model", tiny},
                                           {"steps", 1},
                                           {"temperature", 100},
                                           {"top_k", 100000},
                                           {"top_p", 1},
                                           {"seed", server::kMaxRequestSeed},
                                           {"tempo", 1000},
                                           {"primer", {{"steps", 0}, {"sequence", 2}}}});
  EXPECT_EQ(ends["state"], "done") << ends.dump();
  EXPECT_EQ(get(*c, "/api/pieces").json["pieces"].size(), 1u);
}

TEST_F(ServerTest, UnknownAndPathLikeIdsAre404AndUnknownRoutesToo) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const Json done = generate_and_wait(*c, {{"model", model_id(*c, "tiny")}, {"steps", 4}});
  ASSERT_EQ(done["state"], "done");
  const std::string piece = done["piece"];
  // A file outside --out that a traversal would reach.
  std::ofstream(dir_ / "secret.txt") << "not for clients";
  for (const std::string& path : std::vector<std::string>{
           "/api/models/..%2F..%2Fetc", "/api/models/tiny", "/api/models/..%2Fruns%2Ftiny",
           "/api/models/0123456789abcdef", "/api/pieces/..%2F..%2Fetc",
           "/api/pieces/..%2Fsecret.txt", "/api/pieces/../../etc/passwd",
           "/api/pieces/%2e%2e%2fsecret.txt", "/api/pieces/0123456789abcdef",
           "/api/pieces/" + piece + "/files/..%2F..%2Fsecret.txt",
           "/api/pieces/" + piece + "/files/exe", "/api/pieces/" + piece + "/files/piece.json",
           "/api/pieces/..%2F" + piece + "/files/midi", "/api/jobs/..%2F..%2Fetc",
           "/api/jobs/0123456789abcdef", "/api/nothing", "/etc/passwd", "/api"}) {
    const Reply r = get(*c, path);
    EXPECT_EQ(r.status, 404) << path << "\n" << r.body;
    EXPECT_TRUE(r.json.is_object() && r.json.contains("error")) << path << "\n" << r.body;
    EXPECT_EQ(r.body.find("not for clients"), std::string::npos) << path;
  }
  for (const std::string model : {"../runs/tiny", "tiny", "runs/tiny", "0123456789abcdef"}) {
    const Reply r = post(*c, "/api/generate", Json{{"model", model}}.dump());
    EXPECT_EQ(r.status, 404) << model << "\n" << r.body;
    EXPECT_EQ(r.json.value("field", ""), "model") << r.body;
  }
}

TEST_F(ServerTest, AWrongMethodIs405WithAllow) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  struct Case {
    std::string method, path, allow;
  };
  for (const Case& k :
       std::vector<Case>{{"PUT", "/api/models", "GET, HEAD"},
                         {"DELETE", "/api/pieces", "GET, HEAD"},
                         {"GET", "/api/generate", "POST"},
                         {"PATCH", "/api/jobs/0123456789abcdef", "GET, HEAD"},
                         {"DELETE", "/api/jobs/0123456789abcdef", "GET, HEAD"},
                         {"GET", "/api/jobs/0123456789abcdef/cancel", "POST"},
                         {"POST", "/api/openapi.json", "GET, HEAD"},
                         // Methods httplib routes nowhere (schemathesis found TRACE a 400).
                         {"TRACE", "/api/models", "GET, HEAD"},
                         {"TRACE", "/api/pieces/0123456789abcdef/regenerate", "POST"},
                         {"CONNECT", "/api/pieces", "GET, HEAD"},
                         // A method httplib does not know (QUERY: schemathesis).
                         {"QUERY", "/api/jobs/0123456789abcdef/cancel", "POST"}}) {
    httplib::Request req;
    req.method = k.method;
    req.path = k.path;
    if (k.method == "POST" || k.method == "PUT" || k.method == "PATCH") req.body = "{}";
    const Reply r = reply_of(c->send(req), k.method + " " + k.path);
    EXPECT_EQ(r.status, 405) << k.method << " " << k.path << "\n" << r.body;
    const auto allow = r.headers.find("Allow");
    ASSERT_NE(allow, r.headers.end()) << k.method << " " << k.path;
    EXPECT_EQ(allow->second, k.allow) << k.method << " " << k.path;
    // httplib's client reads no body in an answer to CONNECT (curl shows the server's JSON).
    if (k.method != "CONNECT") {
      EXPECT_TRUE(r.json.contains("error")) << k.method << " " << r.body;
    }
  }
  httplib::Request trace;
  trace.method = "TRACE";
  trace.path = "/nowhere";
  EXPECT_EQ(reply_of(c->send(trace), "TRACE /nowhere").status, 404);
}

// A GET with a body (httplib reads none for GET) cannot leave its body in the connection to
// be read as the next request: the server closes every connection after one answer
// (schemathesis found the next request answered 404 for a path made of the body).
TEST_F(ServerTest, ARequestsUnreadBodyIsNeverReadAsTheNextRequest) {
  Running s(options_for(dir_, runs_));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(s.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string head = "GET /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n";
  const std::string body = "{\"model\": \"\"}";
  ASSERT_EQ(::send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the body in a segment of its own
  ASSERT_EQ(::send(fd, body.data(), body.size(), 0), static_cast<ssize_t>(body.size()));
  std::string answer;
  char chunk[4096];
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) answer.append(chunk, n);
  ::close(fd);
  // One answer, 405 for the GET, and the connection closed after it (recv gave 0, not a
  // timeout with a second answer to come).
  EXPECT_EQ(answer.rfind("HTTP/1.1 405", 0), 0u) << answer;
  EXPECT_EQ(answer.find("HTTP/1.1", 1), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
}

TEST_F(ServerTest, ABodyOverTheLimitIs413) {
  server::ServerOptions o = options_for(dir_, runs_);
  o.max_body_bytes = 64 * 1024;
  Running s(o);
  auto c = s.client();
  const std::string tiny = model_id(*c, "tiny");
  const std::vector<std::uint8_t> large(60 * 1024, 0);  // 80 KiB of base64
  const Reply r = post(
      *c, "/api/generate",
      Json{{"model", tiny}, {"primer", {{"midi_base64", server::base64_encode(large)}}}}.dump());
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_TRUE(r.json.contains("error")) << r.body;
  // Just under the limit the body is read (and this one refused for what it holds).
  const std::vector<std::uint8_t> small(30 * 1024, 0);
  const Reply under = post(
      *c, "/api/generate",
      Json{{"model", tiny}, {"primer", {{"midi_base64", server::base64_encode(small)}}}}.dump());
  EXPECT_EQ(under.status, 400) << under.body;
}

TEST_F(ServerTest, AFullQueueIs429AndCancelStopsWaitingAndRunningJobs) {
  server::ServerOptions o = options_for(dir_, runs_);
  o.queue = 1;
  o.workers = 1;
  Running s(o);
  auto c = s.client();
  const std::string slow = model_id(*c, "slow");
  const std::string long_job = Json{{"model", slow}, {"steps", server::kMaxRequestSteps}}.dump();
  const Reply a = post(*c, "/api/generate", long_job);
  ASSERT_EQ(a.status, 202) << a.body;
  const std::string job_a = a.json["id"];
  // Wait until the worker has taken A: the queue is then empty.
  Json state;
  for (int i = 0; i < 500; ++i) {
    state = get(*c, "/api/jobs/" + job_a).json;
    if (state["state"] != "queued") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(state["state"], "running") << state.dump();
  const Reply b = post(*c, "/api/generate", long_job);
  ASSERT_EQ(b.status, 202) << b.body;
  EXPECT_EQ(b.json["state"], "queued");
  const Reply full = post(*c, "/api/generate", long_job);
  EXPECT_EQ(full.status, 429) << full.body;
  EXPECT_NE(full.json.value("error", "").find("queue is full"), std::string::npos) << full.body;

  // B waits: cancelled at once. A runs: stopped at its next step.
  const Reply cancel_b = post(*c, "/api/jobs/" + b.json["id"].get<std::string>() + "/cancel", "");
  EXPECT_EQ(cancel_b.status, 202) << cancel_b.body;
  EXPECT_EQ(cancel_b.json["state"], "cancelled");
  // A reports its steps as it makes them.
  Reply progress;
  for (int i = 0; i < 400; ++i) {
    progress = get(*c, "/api/jobs/" + job_a);
    if (progress.json["stage"] == "generate") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(progress.json["stage"], "generate") << progress.body;
  EXPECT_EQ(progress.json["progress"]["total"], server::kMaxRequestSteps) << progress.body;
  const Reply cancel_a = post(*c, "/api/jobs/" + job_a + "/cancel", "{}");
  EXPECT_EQ(cancel_a.status, 202) << cancel_a.body;
  const Json ended = wait_for(*c, job_a, 5);
  EXPECT_EQ(ended["state"], "cancelled") << ended.dump();
  EXPECT_LT(ended["progress"]["done"].get<std::int64_t>(), server::kMaxRequestSteps);
  EXPECT_EQ(post(*c, "/api/jobs/" + job_a + "/cancel", "").status, 409);
  // Nothing was kept of either, and the queue takes jobs again.
  EXPECT_TRUE(get(*c, "/api/pieces").json["pieces"].empty());
  const Json next = generate_and_wait(*c, {{"model", model_id(*c, "tiny")}, {"steps", 4}});
  EXPECT_EQ(next["state"], "done") << next.dump();
}

TEST_F(ServerTest, ConcurrentJobsGiveWhatEachGivesAlone) {
  server::ServerOptions o = options_for(dir_, runs_);
  o.workers = 2;
  o.queue = 8;
  Running s(o);
  const std::string tiny = model_id(*s.client(), "tiny");
  constexpr int kJobs = 4;
  // Four clients at once, each on its own connection.
  std::vector<std::future<std::string>> pieces;
  for (int i = 0; i < kJobs; ++i) {
    pieces.push_back(std::async(std::launch::async, [&, i] {
      auto c = s.client();
      const Json done = generate_and_wait(*c, {{"model", tiny}, {"steps", 64}, {"seed", 100 + i}});
      return done.value("piece", "");
    }));
  }
  auto c = s.client();
  std::set<std::string> distinct;
  for (int i = 0; i < kJobs; ++i) {
    const std::string piece = pieces[static_cast<std::size_t>(i)].get();
    ASSERT_FALSE(piece.empty()) << "job " << i << " failed";
    const std::string midi_bytes = file_of(*c, piece, "midi");
    EXPECT_EQ(midi_bytes, core_midi(runs_.tiny, 64, 100 + i, 1.0)) << "job " << i;
    distinct.insert(midi_bytes);
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kJobs));
}

TEST_F(ServerTest, SecondsSetTheLengthOfThePiece) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const Json done =
      generate_and_wait(*c, {{"model", model_id(*c, "tiny")}, {"seconds", 3}, {"seed", 9}});
  ASSERT_EQ(done["state"], "done") << done.dump();
  const Json record = get(*c, "/api/pieces/" + done["piece"].get<std::string>()).json;
  EXPECT_EQ(record["parameters"]["seconds"], 3.0);
  EXPECT_FALSE(record["parameters"].contains("steps"));
  EXPECT_GE(record["metrics"]["seconds"].get<double>(), 3.0) << record.dump();
  EXPECT_TRUE(record["metrics"]["ended_by_rule"].get<bool>()) << record.dump();
  EXPECT_LT(record["metrics"]["generated_steps"].get<std::int64_t>(), server::kMaxRequestSteps);
}

TEST_F(ServerTest, TheOpenApiDocumentNamesEveryRouteAndMatchesTheResponses) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const Reply r = get(*c, "/api/openapi.json");
  ASSERT_EQ(r.status, 200);
  const Json& doc = r.json;
  ASSERT_TRUE(doc.is_object()) << r.body.substr(0, 200);
  EXPECT_EQ(doc["openapi"].get<std::string>().rfind("3.", 0), 0u);
  const std::set<std::pair<std::string, std::string>> routes = {
      {"/api/openapi.json", "get"},
      {"/api/models", "get"},
      {"/api/models/{id}", "get"},
      {"/api/generate", "post"},
      {"/api/jobs/{id}", "get"},
      {"/api/jobs/{id}/cancel", "post"},
      {"/api/pieces", "get"},
      {"/api/pieces/{id}", "get"},
      {"/api/pieces/{id}/files/{kind}", "get"},
      {"/api/pieces/{id}/regenerate", "post"},
      {"/api/models/{id}/data-metrics", "get"},
      {"/api/models/{id}/primers", "get"},
      {"/api/runs", "get"},
      {"/api/runs/{id}/metrics", "get"}};
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : doc["paths"].items())
    for (const auto& [method, op] : item.items())
      if (method != "parameters") documented.insert({path, method});
  EXPECT_EQ(documented, routes);

  const std::string tiny = model_id(*c, "tiny");
  // Each reply held in a name: a range-for over a temporary's member outlives the temporary.
  const Reply models = get(*c, "/api/models");
  for (const Json& m : models.json["models"]) expect_matches_schema(doc, "Model", m);
  const Reply accepted = post(*c, "/api/generate", Json{{"model", tiny}, {"steps", 4}}.dump());
  expect_matches_schema(doc, "Job", accepted.json);
  const Json done = wait_for(*c, accepted.json["id"]);
  expect_matches_schema(doc, "Job", done);
  const Json piece = get(*c, "/api/pieces/" + done["piece"].get<std::string>()).json;
  expect_matches_schema(doc, "Piece", piece);
  expect_matches_schema(doc, "GenerationRequest", piece["parameters"]);
  expect_matches_schema(doc, "Primer", piece["parameters"]["primer"]);
  const Json& metrics_schema = doc["components"]["schemas"]["Piece"]["properties"]["metrics"];
  for (const auto& [key, value] : piece["metrics"].items())
    EXPECT_TRUE(metrics_schema["properties"].contains(key)) << key;
  EXPECT_EQ(piece["metrics"].size(), metrics_schema["required"].size());
  const Reply runs = get(*c, "/api/runs");
  for (const Json& r : runs.json["runs"]) expect_matches_schema(doc, "TrainingRun", r);
  expect_matches_schema(doc, "RunMetrics", get(*c, "/api/runs/" + tiny + "/metrics").json);
  const Json data = get(*c, "/api/models/" + tiny + "/data-metrics").json;
  expect_matches_schema(doc, "DataMetrics", data);
  for (const auto& [key, summary] : data["metrics"].items())
    expect_matches_schema(doc, "MetricSummary", summary);
  expect_matches_schema(doc, "Primers", get(*c, "/api/models/" + tiny + "/primers").json);
  expect_matches_schema(doc, "Error", post(*c, "/api/generate", "{}").json);
  expect_matches_schema(doc, "Error", get(*c, "/api/pieces/nope").json);
  // The ranges the document gives are the server's.
  const Json& request = doc["components"]["schemas"]["GenerationRequest"]["properties"];
  EXPECT_EQ(request["steps"]["maximum"], server::kMaxRequestSteps);
  EXPECT_EQ(request["seconds"]["maximum"], server::kMaxRequestSeconds);
  EXPECT_EQ(request["seed"]["maximum"], server::kMaxRequestSeed);
  EXPECT_EQ(request["top_k"]["maximum"], server::kMaxTopK);
}

TEST_F(ServerTest, StopCancelsTheRunningJobAndReturnsPromptly) {
  auto s = std::make_unique<Running>(options_for(dir_, runs_));
  auto c = s->client();
  const Reply a =
      post(*c, "/api/generate",
           Json{{"model", model_id(*c, "slow")}, {"steps", server::kMaxRequestSteps}}.dump());
  ASSERT_EQ(a.status, 202);
  for (int i = 0;
       i < 500 && get(*c, "/api/jobs/" + a.json["id"].get<std::string>()).json["state"] == "queued";
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto start = std::chrono::steady_clock::now();
  s->stop();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  // The port no longer answers.
  httplib::Client after("127.0.0.1", s->port());
  after.set_connection_timeout(1, 0);
  EXPECT_FALSE(after.Get("/api/models"));
  std::size_t pieces = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "pieces"))
    pieces += entry.is_directory() ? 1 : 0;
  EXPECT_EQ(pieces, 0u) << "a cancelled job left a piece (or a draft)";
}

// A stop while FluidSynth renders a long piece ends the render between two blocks: Ctrl-C
// does not wait for ten minutes of audio (schemathesis' run, ending with SIGINT, waited).
TEST_F(ServerTest, StopEndsAFluidSynthRenderPromptly) {
  const fs::path sf2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
  if (!soundfont_support_built_in()) GTEST_SKIP() << "this build has no FluidSynth";
  if (!fs::is_regular_file(sf2))
    GTEST_SKIP() << sf2 << " is missing (apt-get install fluid-soundfont-gm)";
  ModelConfig config;
  config.embed = 8;
  config.hidden = 8;
  config.layers = 1;
  test::save_tiny_run(runs_.root / "roll", test::tiny_dataset(Encoding::roll), config);
  server::ServerOptions o = options_for(dir_, runs_);
  o.soundfont = sf2;
  auto s = std::make_unique<Running>(o);
  auto c = s->client();
  // 600 s at 4 bpm: 40 quarter notes of frames, sampled at once, then ten minutes to render.
  const Reply a = post(*c, "/api/generate",
                       Json{{"model", model_id(*c, "roll")},
                            {"seconds", 600},
                            {"tempo", 4},
                            {"primer", {{"steps", 0}}}}
                           .dump());
  ASSERT_EQ(a.status, 202) << a.body;
  Json job;
  for (int i = 0; i < 1000; ++i) {
    job = get(*c, "/api/jobs/" + a.json["id"].get<std::string>()).json;
    if (job["stage"] == "render" || job["state"] == "done" || job["state"] == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(job["stage"], "render") << job.dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // FluidSynth under way
  const auto start = std::chrono::steady_clock::now();
  s->stop();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  std::size_t pieces = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "pieces"))
    pieces += entry.is_directory() ? 1 : 0;
  EXPECT_EQ(pieces, 0u) << "a cancelled job left a piece (or a draft)";
}

// The page is one self-contained document: nothing from another origin (no CDN), and it
// calls only routes the OpenAPI document describes.
TEST_F(ServerTest, ThePageIsServedAtTheRootAndLoadsNothingFromElsewhere) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const Reply page = get(*c, "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.headers.find("Content-Type")->second, "text/html; charset=utf-8");
  EXPECT_NE(page.headers.find("Content-Security-Policy"), page.headers.end());
  EXPECT_EQ(page.body.rfind("<!doctype html>", 0), 0u);
  for (const char* part : {"<form", "id=\"generate\"", "<audio", "/api/generate", "/api/models",
                           "/api/jobs/", "/api/pieces"})
    EXPECT_NE(page.body.find(part), std::string::npos) << part;
  // Every absolute URL in it is the SVG namespace, which is a name, not a download.
  for (std::size_t at = page.body.find("http"); at != std::string::npos;
       at = page.body.find("http", at + 1)) {
    if (page.body.compare(at, 7, "http://") != 0 && page.body.compare(at, 8, "https://") != 0)
      continue;
    EXPECT_EQ(page.body.compare(at, 26, "http://www.w3.org/2000/svg"), 0)
        << page.body.substr(at, 60);
  }
  for (const char* tag : {"<script src", "@import"})
    EXPECT_EQ(page.body.find(tag), std::string::npos) << tag;
  // One <link>: the empty icon, so that the browser asks for no /favicon.ico.
  for (std::size_t at = page.body.find("<link"); at != std::string::npos;
       at = page.body.find("<link", at + 1))
    EXPECT_EQ(page.body.compare(at, 31, "<link rel=\"icon\" href=\"data:,\">"), 0)
        << page.body.substr(at, 60);
}

// Training runs as they go: a folder with only a metrics.csv (no weights yet) is listed, a lock
// naming a live process on this host reads as training, and the rows after a step are only
// the new ones, a row appended by "train" included.
TEST_F(ServerTest, TrainingRunsAreListedAndTheirRowsFollowedAfterAStep) {
  const fs::path going = runs_.root / "going";
  fs::create_directories(going);
  std::ofstream(going / "metrics.csv") << kMetricsCsv;
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  std::ofstream(going / "lock") << "command musegen train\npid " << getpid() << "\nhost " << host
                                << "\nsince 2026-12-06T00:00:00Z\n";
  // A lock left by a process that has ended: not training.
  std::ofstream(runs_.tiny / "lock")
      << "command musegen train\npid 999999999\nhost " << host << "\n";
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const Reply list = get(*c, "/api/runs");
  ASSERT_EQ(list.status, 200) << list.body;
  std::map<std::string, Json> by_name;
  for (const Json& r : list.json.at("runs")) by_name[r.at("name")] = r;
  ASSERT_EQ(by_name.size(), 3u) << list.body;
  EXPECT_EQ(by_name["going"]["training"], true);
  EXPECT_EQ(by_name["going"]["has_weights"], false);
  EXPECT_EQ(by_name["going"]["last_step"], 40);
  EXPECT_EQ(by_name["tiny"]["training"], false);
  EXPECT_EQ(by_name["tiny"]["has_weights"], true);
  EXPECT_EQ(by_name["tiny"]["id"], model_id(*c, "tiny"));  // a run's id is its model's
  EXPECT_EQ(by_name["slow"]["last_step"], 0);              // no metrics.csv

  const std::string id = by_name["going"]["id"];
  const Reply all = get(*c, "/api/runs/" + id + "/metrics");
  ASSERT_EQ(all.status, 200) << all.body;
  ASSERT_EQ(all.json["points"].size(), 4u) << all.body;
  EXPECT_EQ(all.json["points"][1]["valid_loss"], 5.25);
  EXPECT_EQ(all.json["more"], false);
  const Reply later = get(*c, "/api/runs/" + id + "/metrics?after=20");
  ASSERT_EQ(later.json["points"].size(), 2u) << later.body;
  EXPECT_EQ(later.json["points"][0]["step"], 30);
  EXPECT_TRUE(later.json["points"][0]["valid_loss"].is_null());
  EXPECT_EQ(get(*c, "/api/runs/" + id + "/metrics?after=40").json["points"].size(), 0u);
  std::ofstream(going / "metrics.csv", std::ios::app) << "50,2,0.001,4.25,,,1000,1.1,5,interval\n";
  const Reply appended = get(*c, "/api/runs/" + id + "/metrics?after=40");
  ASSERT_EQ(appended.json["points"].size(), 1u) << appended.body;
  EXPECT_EQ(appended.json["points"][0]["train_loss"], 4.25);
  EXPECT_EQ(appended.json["last_step"], 50);

  for (const std::string bad : {"x", "-2", "1.5", "", "99999999999999999999", "4%20"}) {
    const Reply r = get(*c, "/api/runs/" + id + "/metrics?after=" + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_EQ(r.json["field"], "after") << r.body;
    EXPECT_NE(r.json["allowed"].get<std::string>().find("-1.."), std::string::npos) << r.body;
  }
  EXPECT_EQ(get(*c, "/api/runs/0123456789abcdef/metrics").status, 404);
  EXPECT_EQ(get(*c, "/api/runs/..%2Fgoing/metrics").status, 404);
}

// The data's metrics are the core's metrics of the model's validation sequences, decoded as
// a piece is, averaged; an unknown model is 404.
TEST_F(ServerTest, TheModelsDataMetricsAreTheCoresOverItsValidationSequences) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const std::string tiny = model_id(*c, "tiny");
  const Reply r = get(*c, "/api/models/" + tiny + "/data-metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  const OpenedRun run = open_run(runs_.tiny);
  ASSERT_EQ(r.json["sequences"], run.dataset.valid.size());
  EXPECT_EQ(r.json["split"], "valid");
  std::array<std::vector<double>, kScalarMetricCount> values;
  for (const Sequence& q : run.dataset.valid) {
    const PieceMetrics m = compute_metrics(run.dataset.codec.decode(q, {}));
    for (std::size_t k = 0; k < kScalarMetricCount; ++k) values[k].push_back(m.scalar[k]);
  }
  for (std::size_t k = 0; k < kScalarMetricCount; ++k) {
    const std::string key(kScalarMetricTable[k].key);
    const MeanStd expected = mean_std_of(values[k]);
    const Json& got = r.json["metrics"][key];
    EXPECT_EQ(got["count"], expected.count) << key;
    if (expected.count > 0) {
      EXPECT_NEAR(got["mean"].get<double>(), expected.mean, 1e-9) << key;
      EXPECT_NEAR(got["std"].get<double>(), expected.std, 1e-9) << key;
    }
  }
  // Cached: the same answer again.
  EXPECT_EQ(get(*c, "/api/models/" + tiny + "/data-metrics").body, r.body);
  EXPECT_EQ(get(*c, "/api/models/0123456789abcdef/data-metrics").status, 404);
}

// The pieces a generation may start from are the validation sequences, by file name only, in
// the order primer.sequence indexes them: starting from one gives the core's piece from it.
TEST_F(ServerTest, ThePrimersAreTheValidationSequencesByNameAndOneStartsAPiece) {
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const std::string tiny = model_id(*c, "tiny");
  const Reply r = get(*c, "/api/models/" + tiny + "/primers");
  ASSERT_EQ(r.status, 200) << r.body;
  const OpenedRun run = open_run(runs_.tiny);
  ASSERT_GE(run.dataset.valid.size(), 2u);
  EXPECT_EQ(r.json["split"], "valid");
  EXPECT_EQ(r.json["total"], run.dataset.valid.size());
  const Json& primers = r.json["primers"];
  ASSERT_EQ(primers.size(), run.dataset.valid.size());
  for (std::size_t i = 0; i < primers.size(); ++i) {
    EXPECT_EQ(primers[i]["index"], i);
    EXPECT_EQ(primers[i]["steps"], run.dataset.valid[i].steps());
    const std::string name = primers[i]["name"];
    EXPECT_EQ(name.find('/'), std::string::npos) << "a server path leaked: " << name;
    EXPECT_NE(run.dataset.valid[i].source.find(name), std::string::npos) << name;
  }
  const std::int64_t last = static_cast<std::int64_t>(primers.size()) - 1;
  const Reply accepted = post(
      *c, "/api/generate",
      Json{{"model", tiny}, {"steps", 24}, {"seed", 3}, {"primer", {{"sequence", last}}}}.dump());
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const Json done = wait_for(*c, accepted.json["id"]);
  ASSERT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(file_of(*c, done["piece"], "midi"), core_midi(runs_.tiny, 24, 3, 1.0, last));
  EXPECT_EQ(get(*c, "/api/models/0123456789abcdef/primers").status, 404);
}

// A multitrack model lists its instruments; a request names the ensemble, as generate
// --instruments does, and the piece has one track per part with the instrument's name; a model
// of another encoding, an unknown name and too many parts are 400 naming "instruments".
TEST_F(ServerTest, AMultitrackModelTakesTheInstrumentsOfItsParts) {
  Dataset data;
  CodecParams params;
  params.grid = 4;
  params.max_duration = 8;
  data.codec = Codec::make(Encoding::multitrack, params);
  const int violin = instrument_index("violin"), cello = instrument_index("cello");
  ASSERT_GE(violin, 0);
  ASSERT_GE(cello, 0);
  for (int i = 0; i < 3; ++i) {
    data.train.push_back(multitrack_header(data.codec, {violin, cello}));
    data.valid.push_back(multitrack_header(data.codec, {violin, cello}));
  }
  ModelConfig config;
  config.embed = 8;
  config.hidden = 8;
  config.layers = 1;
  test::save_tiny_run(runs_.root / "quartet", data, config);
  Running s(options_for(dir_, runs_));
  auto c = s.client();
  const std::string quartet = model_id(*c, "quartet"), tiny = model_id(*c, "tiny");
  const Json model = get(*c, "/api/models/" + quartet).json;
  EXPECT_EQ(model["max_parts"], data.codec.params().tracks);
  ASSERT_EQ(model["instruments"].size(), static_cast<std::size_t>(data.codec.params().instruments));
  EXPECT_EQ(model["instruments"][violin], "violin");
  EXPECT_EQ(get(*c, "/api/models/" + tiny).json["instruments"].size(), 0u);

  const Json done = generate_and_wait(*c, {{"model", quartet},
                                           {"steps", 60},
                                           {"seed", 3},
                                           {"instruments", {"violin", "Cello"}},
                                           {"primer", {{"steps", 0}}}});
  ASSERT_EQ(done["state"], "done") << done.dump();
  const Json record = get(*c, "/api/pieces/" + done["piece"].get<std::string>()).json;
  EXPECT_EQ(record["parameters"]["instruments"], Json({"violin", "Cello"}));
  const std::string bytes = file_of(*c, done["piece"], "midi");
  const midi::MidiFile file = midi::read(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
  std::vector<std::string> names;
  for (const midi::Track& t : file.tracks)
    for (const midi::Event& e : t.events)
      if (e.is_meta(midi::meta::kTrackName)) names.emplace_back(t.text(e));
  EXPECT_NE(std::find(names.begin(), names.end(), "Violin"), names.end())
      << ::testing::PrintToString(names);
  EXPECT_NE(std::find(names.begin(), names.end(), "Cello"), names.end())
      << ::testing::PrintToString(names);

  struct Case {
    Json body;
    std::string part_of_error;
  };
  for (const Case& k : std::vector<Case>{
           {{{"model", tiny}, {"instruments", {"violin"}}}, "only multitrack models"},
           {{{"model", quartet}, {"instruments", {"kazoo"}}}, "kazoo"},
           {{{"model", quartet}, {"instruments", {"violin,viola"}}}, "one instrument name"},
           {{{"model", quartet},
             {"instruments",
              std::vector<std::string>(static_cast<std::size_t>(data.codec.params().tracks) + 1,
                                       "violin")}},
            "at most"},
           {{{"model", quartet}, {"instruments", Json::array()}}, "an array of 1..16"},
           {{{"model", quartet}, {"instruments", "violin"}}, "an array of 1..16"},
           {{{"model", quartet}, {"instruments", {1}}}, "an array of 1..16"}}) {
    const Reply r = post(*c, "/api/generate", k.body.dump());
    EXPECT_EQ(r.status, 400) << k.body.dump() << "\n" << r.body;
    EXPECT_EQ(r.json["field"], "instruments") << r.body;
    EXPECT_NE(r.json["error"].get<std::string>().find(k.part_of_error), std::string::npos)
        << k.part_of_error << " in " << r.body;
  }
}

// serve --soundfont: the WAV is FluidSynth's rendering of the piece's MIDI with that
// SoundFont, byte for byte what the audio layer gives for it; without one, the built-in
// synthesizer's. A SoundFont that cannot be loaded stops the server at start, naming it.
TEST_F(ServerTest, WithASoundFontTheWavIsFluidSynthsRenderingOfTheMidi) {
  const fs::path sf2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
  if (!soundfont_support_built_in()) GTEST_SKIP() << "this build has no FluidSynth";
  if (!fs::is_regular_file(sf2))
    GTEST_SKIP() << sf2 << " is missing (apt-get install fluid-soundfont-gm)";
  server::ServerOptions o = options_for(dir_, runs_);
  o.soundfont = sf2;
  Running s(o);
  auto c = s.client();
  const Json done =
      generate_and_wait(*c, {{"model", model_id(*c, "tiny")}, {"steps", 40}, {"seed", 5}});
  ASSERT_EQ(done["state"], "done") << done.dump();
  const std::string piece = done["piece"];
  EXPECT_EQ(get(*c, "/api/pieces/" + piece).json["synthesizer"], "FluidSynth (FluidR3_GM.sf2)");
  const std::string midi_bytes = file_of(*c, piece, "midi"), wav = file_of(*c, piece, "wav");
  const midi::MidiFile file =
      midi::read(std::vector<std::uint8_t>(midi_bytes.begin(), midi_bytes.end()));
  const std::vector<std::byte> expected = encode_wav(SoundFontSynth(sf2).render(file));
  ASSERT_EQ(wav.size(), expected.size());
  EXPECT_EQ(std::memcmp(wav.data(), expected.data(), wav.size()), 0);
  EXPECT_NE(wav, std::string(
                     reinterpret_cast<const char*>(encode_wav(render_midi(file, {}).audio).data()),
                     wav.size()));

  server::ServerOptions broken = options_for(dir_, runs_);
  broken.soundfont = dir_ / "missing.sf2";
  try {
    server::Server never(broken);
    ADD_FAILURE() << "a missing SoundFont was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.sf2"), std::string::npos) << e.what();
  }
  Running plain(options_for(dir_, runs_));
  auto p = plain.client();
  const Json built_in =
      generate_and_wait(*p, {{"model", model_id(*p, "tiny")}, {"steps", 4}, {"seed", 5}});
  EXPECT_EQ(get(*p, "/api/pieces/" + built_in["piece"].get<std::string>()).json["synthesizer"],
            "the built-in synthesizer");
}

TEST(ServerAddresses, LoopbackAndListenAddresses) {
  EXPECT_TRUE(server::is_loopback("127.0.0.1"));
  EXPECT_TRUE(server::is_loopback("127.1.2.3"));
  EXPECT_TRUE(server::is_loopback("::1"));
  EXPECT_TRUE(server::is_loopback("localhost"));
  EXPECT_FALSE(server::is_loopback("0.0.0.0"));
  EXPECT_FALSE(server::is_loopback("::"));
  EXPECT_FALSE(server::is_loopback("192.168.1.2"));
  EXPECT_FALSE(server::is_loopback("128.0.0.1"));
  EXPECT_TRUE(server::is_listen_address("0.0.0.0"));
  EXPECT_TRUE(server::is_listen_address("::"));
  EXPECT_FALSE(server::is_listen_address("example.org"));
  EXPECT_FALSE(server::is_listen_address(""));
  EXPECT_FALSE(server::is_listen_address("127.0.0.256"));
}

TEST(ServerBase64, RoundTripsAndRefusesWhatIsNotBase64) {
  for (std::size_t n = 0; n < 8; ++n) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t i = 0; i < n; ++i) bytes.push_back(static_cast<std::uint8_t>(251 - 37 * i));
    EXPECT_EQ(server::base64_decode(server::base64_encode(bytes)), bytes) << n;
  }
  EXPECT_EQ(server::base64_encode({'M', 'T', 'h', 'd'}),
            "TVRoZA==");  // RFC 4648's alphabet and padding
  for (const char* bad : {"TVRoZA=", "TVRo ZA==", "TV=oZA==", "TVRoZ===", "TVRo\nZA==", "TVRoZA=A"})
    EXPECT_THROW(server::base64_decode(bad), std::invalid_argument) << bad;
}

}  // namespace

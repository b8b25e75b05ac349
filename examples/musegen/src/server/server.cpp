// The HTTP side of `musegen serve`: the routes of the JSON API on cpp-httplib, with one
// boundary where every exception becomes a JSON error (api_error.hpp), a router that tells a
// wrong method (405, with Allow) from an unknown path (404), and the records a client reads
// (models, jobs, pieces) written as JSON. The work itself is done by models.hpp, jobs.hpp,
// pieces.hpp and piece_maker.hpp.
#include "server.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <functional>
#include <libnn/threads.hpp>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <stdexcept>
#include <thread>

#include "api_error.hpp"
#include "fluid_render.hpp"
#include "jobs.hpp"
#include "models.hpp"
#include "openapi.hpp"
#include "page.hpp"
#include "piece_maker.hpp"
#include "pieces.hpp"
#include "request.hpp"
#include "training_runs.hpp"
#include "wav.hpp"

namespace musegen::server {

namespace {

using Json = nlohmann::ordered_json;

// Text from a client or a file may be any bytes: invalid UTF-8 is replaced, never thrown.
std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void reply(httplib::Response& res, int status, const Json& json) {
  res.status = status;
  res.set_content(dump(json), "application/json");
}

Json error_json(const std::string& error, const std::string& field = {},
                const std::string& allowed = {}) {
  Json json;
  json["error"] = error;
  if (!field.empty()) json["field"] = field;
  if (!allowed.empty()) json["allowed"] = allowed;
  return json;
}

Json optional_number(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? Json(*v) : Json(nullptr);
}
Json number_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

Json model_json(const ModelInfo& m) {
  Json json;
  json["id"] = m.id;
  json["name"] = m.name;
  json["available"] = m.error.empty();
  json["error"] = m.error.empty() ? Json(nullptr) : Json(m.error);
  json["encoding"] = m.encoding;
  json["dataset"] = m.dataset;
  json["train_sequences"] = m.train_sequences;
  json["valid_sequences"] = m.valid_sequences;
  json["parameters"] = m.parameters;
  json["embed"] = m.embed;
  json["hidden"] = m.hidden;
  json["layers"] = m.layers;
  json["best_valid_loss"] = optional_number(m.best_valid_loss);
  Json curve = Json::array();
  for (const LossPoint& p : m.loss_curve)
    curve.push_back({{"step", p.step},
                     {"train_loss", optional_number(p.train_loss)},
                     {"valid_loss", optional_number(p.valid_loss)}});
  json["loss_curve"] = curve;
  json["instruments"] = m.instruments;
  json["max_parts"] = m.max_parts;
  return json;
}

Json job_json(const JobStatus& s) {
  Json json;
  json["id"] = s.id;
  json["model"] = s.model;
  json["state"] = job_state_name(s.state);
  json["stage"] = s.stage;
  json["progress"] = {{"done", s.done}, {"total", s.total}};
  json["piece"] = s.piece.empty() ? Json(nullptr) : Json(s.piece);
  json["error"] = s.error.empty() ? Json(nullptr) : Json(s.error);
  return json;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

Json piece_record(const std::string& id, const ModelInfo& model, const GenerationRequest& request,
                  const MadePiece& made, const std::string& synthesizer) {
  Json json;
  json["id"] = id;
  json["created"] = utc_now();
  json["synthesizer"] = synthesizer;
  json["model"] = {
      {"id", model.id}, {"name", model.name}, {"weights_sha256", model.weights_sha256}};
  json["parameters"] = Json::parse(canonical_json(request));
  Json metrics;
  metrics["seconds"] = made.seconds;
  metrics["primer_steps"] = made.primer_steps;
  metrics["generated_steps"] = made.generated;
  metrics["ended_by_rule"] = made.ended_by_rule;
  metrics["generate_seconds"] = made.generate_seconds;
  metrics["render_seconds"] = made.render_seconds;
  for (std::size_t i = 0; i < kScalarMetricCount; ++i)
    metrics[std::string(kScalarMetricTable[i].key)] = number_or_null(made.metrics.scalar[i]);
  json["metrics"] = metrics;
  Json files;
  for (PieceFile f : {PieceFile::midi, PieceFile::wav, PieceFile::svg})
    files[piece_file_name(f)] = "/api/pieces/" + id + "/files/" + piece_file_name(f);
  json["files"] = files;
  return json;
}

Json loss_points_json(const std::vector<LossPoint>& points) {
  Json curve = Json::array();
  for (const LossPoint& p : points)
    curve.push_back({{"step", p.step},
                     {"train_loss", optional_number(p.train_loss)},
                     {"valid_loss", optional_number(p.valid_loss)}});
  return curve;
}

Json training_run_json(const TrainingRun& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"training", r.training},
          {"has_weights", r.has_weights},
          {"last_step", r.last_step}};
}

// The metrics of the model's own data (its validation split, else its training split; at
// most kDataMetricSequences sequences, decoded as the pieces are): what a piece's metrics are
// read against. Mean, population standard deviation and count of each scalar metric.
constexpr std::size_t kDataMetricSequences = 200;

Json data_metrics_json(const OpenedRun& run, const std::string& model_id) {
  const auto& pool = run.dataset.valid.empty() ? run.dataset.train : run.dataset.valid;
  const std::size_t n = std::min(pool.size(), kDataMetricSequences);
  std::array<std::vector<double>, kScalarMetricCount> values;
  for (std::size_t i = 0; i < n; ++i) {
    // Evenly spread over the split, so that a long split is sampled, not its first pieces.
    const Sequence& sequence = pool[i * pool.size() / std::max<std::size_t>(n, 1)];
    const PieceMetrics m = compute_metrics(run.dataset.codec.decode(sequence, {}));
    for (std::size_t k = 0; k < kScalarMetricCount; ++k) values[k].push_back(m.scalar[k]);
  }
  Json metrics;
  for (std::size_t k = 0; k < kScalarMetricCount; ++k) {
    const MeanStd ms = mean_std_of(values[k]);
    metrics[std::string(kScalarMetricTable[k].key)] = {
        {"mean", ms.count ? number_or_null(ms.mean) : Json(nullptr)},
        {"std", ms.count ? number_or_null(ms.std) : Json(nullptr)},
        {"count", ms.count}};
  }
  return {{"model", model_id},
          {"split", run.dataset.valid.empty() ? "train" : "valid"},
          {"sequences", n},
          {"metrics", metrics}};
}

// The pieces of the model's data a generation may start from (primer.sequence indexes them,
// as generate --primer-sequence does): the validation split, else the training split. Each by
// its file name and what preprocess did to it ("x.mid transposed +2"), never the server's path.
constexpr std::size_t kMaxListedPrimers = 1000;

Json primers_json(const OpenedRun& run, const std::string& model_id) {
  const bool valid = !run.dataset.valid.empty();
  const auto& pool = valid ? run.dataset.valid : run.dataset.train;
  Json list = Json::array();
  for (std::size_t i = 0; i < std::min(pool.size(), kMaxListedPrimers); ++i) {
    const std::string& source = pool[i].source;
    const std::size_t slash = source.find_last_of("/\\");
    list.push_back({{"index", i},
                    {"name", slash == std::string::npos ? source : source.substr(slash + 1)},
                    {"steps", pool[i].steps()}});
  }
  return {{"model", model_id},
          {"split", valid ? "valid" : "train"},
          {"total", pool.size()},
          {"primers", list}};
}

// A query parameter that must be an integer lo..hi, written in decimal digits (a sign for
// negative values); `fallback` when absent.
std::int64_t integer_query(const httplib::Request& req, const std::string& name, std::int64_t lo,
                           std::int64_t hi, std::int64_t fallback) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  const std::string allowed = "an integer " + std::to_string(lo) + ".." + std::to_string(hi);
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [at, error] = std::from_chars(text.data(), end, v);
  if (text.empty() || at != end || error != std::errc{} || v < lo || v > hi)
    throw bad_field(name, allowed, "\"" + text.substr(0, 40) + "\"");
  return v;
}

std::int64_t new_seed() {
  static std::mutex mutex;
  static std::random_device random;
  std::lock_guard lock(mutex);
  const std::uint64_t n = static_cast<std::uint64_t>(random()) << 32 | random();
  return static_cast<std::int64_t>(n & static_cast<std::uint64_t>(kMaxRequestSeed));
}

const char* reason(int status) {
  switch (status) {
    case 400:
      return "the request is malformed";
    case 404:
      return "no such resource";
    case 405:
      return "method not allowed";
    case 413:
      return "the request body is larger than the server accepts";
    case 414:
      return "the request URI is too long";
    default:
      return "the request could not be served";
  }
}

// cpp-httplib 0.11 (Debian's shared library) listens with a backlog of 5 connections
// (CPPHTTPLIB_LISTEN_BACKLOG, fixed when the library was built). With one request per
// connection (below), 50 clients at once overflow it: the kernel drops their SYNs and each
// retries a second later (benches/serve_load.sh saw 1.2 s at the 99th percentile). Linux
// takes a second listen() on a listening socket as a new backlog, so the server finds its
// own listening socket (the one bound to its port) and raises it. Returns whether it did.
bool raise_listen_backlog(int port) {
  for (int fd = 0; fd < 4096; ++fd) {
    int listening = 0;
    socklen_t length = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || !listening) continue;
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) continue;
    int bound = -1;
    if (address.ss_family == AF_INET)
      bound = ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
    else if (address.ss_family == AF_INET6)
      bound = ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
    if (bound == port) return ::listen(fd, SOMAXCONN) == 0;
  }
  return false;
}

}  // namespace

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool is_listen_address(const std::string& host) {
  if (host == "localhost") return true;
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), address) == 1;
}

struct Server::Impl {
  ServerOptions options;
  ModelRegistry models;
  TrainingRuns training_runs;
  PieceStore pieces;
  // GET /api/models/{id}/data-metrics, computed once per model (and weights: a retrained
  // run may name another dataset).
  std::mutex data_metrics_mutex;
  std::map<std::string, std::pair<std::string, std::string>> data_metrics;  // id -> (sha, JSON)
  JobQueue jobs;
  httplib::Server http;
  int port = 0;
  std::atomic<bool> stopping{false}, listening{false};
  std::string openapi;
  // serve --soundfont: loaded once (a General MIDI SoundFont is 150 MB); FluidSynth's
  // synthesizer renders one file at a time, so the workers take turns.
  std::unique_ptr<SoundFontSynth> soundfont;
  std::mutex soundfont_mutex;
  std::string synthesizer = "the built-in synthesizer";

  // The routes, for telling 405 from 404: a path matching another method's pattern.
  struct Route {
    std::string method;
    std::regex pattern;
  };
  std::vector<Route> routes;

  explicit Impl(ServerOptions o)
      : options(std::move(o)),
        models(options.runs),
        training_runs(options.runs),
        pieces(options.out),
        jobs(options.queue, options.workers,
             [threads = threads_per_worker(options)] { nn::set_num_threads(threads); }) {
    openapi =
        dump(Json::parse(openapi_document()));  // a broken document fails at start, not in a client
    if (!options.soundfont.empty()) {
      soundfont = std::make_unique<SoundFontSynth>(options.soundfont);  // throws naming the file
      synthesizer = "FluidSynth (" + options.soundfont.filename().string() + ")";
    }
    http.set_payload_max_length(options.max_body_bytes);
    // One request per connection. httplib (0.11) reads a body only for POST, PUT, PATCH and
    // DELETE, and keeps a connection open whatever the response says: the body of a GET,
    // OPTIONS or TRACE that carries one stays in the socket and is read as the next request's
    // first line (schemathesis found it: its next request was answered 404 for a path made
    // of that body). On loopback a new connection costs a fraction of a millisecond
    // (docs/perf.md has the load test's figures).
    http.set_keep_alive_max_count(1);
    http.set_default_headers(
        {{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}});
    add_routes();
    // A method httplib routes nowhere (TRACE, CONNECT) or does not know at all (QUERY, ...)
    // would be its 400 "malformed": it is a well-formed request for a method this server does
    // not have, so 405 with Allow on a path it knows, 404 elsewhere, as the fallback routes
    // answer the other methods (schemathesis sends such methods).
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (routed_method(req.method)) return httplib::Server::HandlerResponse::Unhandled;
      not_routed(req.method, req.path, res);
      return httplib::Server::HandlerResponse::Handled;
    });
    // Errors httplib answers itself (a body over the limit, a malformed request) get the
    // same JSON body as ours. A request line with a method httplib does not know fails its
    // parse before routing, with the method read and the path still in the raw target.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (res.status == 400 && !req.method.empty() && !routed_method(req.method) &&
          res.body.empty()) {
        const std::string path =
            req.path.empty() ? req.target.substr(0, req.target.find('?')) : req.path;
        not_routed(req.method, path, res);
        return;
      }
      if (res.body.empty()) reply(res, res.status, error_json(reason(res.status)));
    });
    http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          reply(res, 500, error_json("internal error"));
        });
  }

  static int threads_per_worker(const ServerOptions& o) {
    if (o.threads > 0) return o.threads;
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max(1, cores / std::max(1, o.workers));
  }

  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // The route boundary: whatever a handler throws becomes a JSON error. ApiError carries its
  // status; anything else is the server's own fault (a bug): 500, never for bad input.
  static httplib::Server::Handler guarded(Handler handler) {
    return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
      try {
        handler(req, res);
      } catch (const ApiError& e) {
        reply(res, e.status(), error_json(e.what(), e.field(), e.allowed()));
      } catch (const std::exception& e) {
        reply(res, 500, error_json(std::string("internal error: ") + e.what()));
      }
    };
  }

  void route(const std::string& method, const std::string& pattern, Handler handler) {
    routes.push_back({method, std::regex(pattern)});
    auto h = guarded(std::move(handler));
    if (method == "GET")
      http.Get(pattern, h);
    else if (method == "POST")
      http.Post(pattern, h);
    else if (method == "DELETE")
      http.Delete(pattern, h);
    else
      throw std::logic_error("route: no method " + method);
  }

  std::string allowed_methods(const std::string& path) const {
    std::set<std::string> methods;
    for (const Route& r : routes)
      if (std::regex_match(path, r.pattern)) methods.insert(r.method);
    if (methods.count("GET")) methods.insert("HEAD");
    std::string allow;
    for (const std::string& m : methods) allow += (allow.empty() ? "" : ", ") + m;
    return allow;
  }

  // A request no route took: a path that a route knows under another method is 405 (with
  // Allow); anything else 404.
  void not_routed(const std::string& method, const std::string& path,
                  httplib::Response& res) const {
    const std::string allow = allowed_methods(path);
    if (allow.empty()) {
      reply(res, 404, error_json("no such resource: " + method + " " + path));
    } else {
      res.set_header("Allow", allow);
      reply(res, 405, error_json(method + " is not allowed here; allowed: " + allow));
    }
  }
  // The methods httplib hands to routes (the fallback routes included).
  static bool routed_method(const std::string& method) {
    static const std::set<std::string> routed = {"GET",    "HEAD",    "POST", "PUT",
                                                 "DELETE", "OPTIONS", "PATCH"};
    return routed.count(method) != 0;
  }

  void add_routes();
  Json submit(const GenerationRequest& request, const std::shared_ptr<OpenedRun>& run,
              const ModelInfo& model);
};

Json Server::Impl::submit(const GenerationRequest& request, const std::shared_ptr<OpenedRun>& run,
                          const ModelInfo& model) {
  JobWork work = [this, request, run, model](
                     std::stop_token stop,
                     const ProgressFn& progress) -> std::optional<std::string> {
    const std::unique_ptr<PieceDraft> draft = pieces.begin();
    const WavRenderer wav = [this](const midi::MidiFile& file, const std::filesystem::path& path,
                                   std::stop_token stop) {
      if (!soundfont) return render_with_builtin_synth(file, path, stop);
      std::lock_guard lock(soundfont_mutex);
      // SoundFontSynth::render, a block at a time so that a stop ends it between two blocks:
      // the same samples, normalized by the same rule (the synth has the default options).
      struct Stopped {};
      Audio audio = silent_audio(file_seconds(file), SynthOptions{}.sample_rate);
      std::size_t at = 0;
      try {
        soundfont->render_blocks(file, [&](std::span<const float> block) {
          if (stop.stop_requested()) throw Stopped{};
          std::copy(block.begin(), block.end(),
                    audio.samples.begin() + static_cast<std::ptrdiff_t>(at));
          at += block.size();
        });
      } catch (const Stopped&) {
        return false;
      }
      normalize(audio, SynthOptions{});
      write_wav(path, audio);
      return true;
    };
    const std::optional<MadePiece> made = make_piece(*run, request, *draft, stop, progress, wav);
    if (!made) return std::nullopt;
    pieces.commit(*draft, dump(piece_record(draft->id(), model, request, *made, synthesizer)));
    return draft->id();
  };
  const std::optional<std::string> id = jobs.submit(model.id, std::move(work));
  if (!id)
    throw ApiError(429, "the queue is full: " + std::to_string(jobs.capacity()) +
                            " jobs are waiting; try again when one has finished");
  return job_json(*jobs.status(*id));
}

void Server::Impl::add_routes() {
  route("GET", "/", [](const httplib::Request&, httplib::Response& res) {
    // The page's script and style are inline and it loads nothing from elsewhere.
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "img-src 'self' data:; media-src 'self'; connect-src 'self'");
    res.set_content(page_html(), "text/html; charset=utf-8");
  });

  route("GET", "/api/openapi.json", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(openapi, "application/json");
  });

  route("GET", "/api/models", [this](const httplib::Request&, httplib::Response& res) {
    Json list = Json::array();
    for (const ModelInfo& m : models.list()) list.push_back(model_json(m));
    reply(res, 200, {{"models", list}});
  });

  route("GET", "/api/models/([^/]+)", [this](const httplib::Request& req, httplib::Response& res) {
    const std::optional<ModelInfo> m = models.info(req.matches[1]);
    if (!m) throw ApiError(404, "no model with this id (GET /api/models lists them)");
    reply(res, 200, model_json(*m));
  });

  route("GET", "/api/models/([^/]+)/data-metrics",
        [this](const httplib::Request& req, httplib::Response& res) {
          const std::string id = req.matches[1];
          const std::optional<ModelInfo> m = models.info(id);
          if (!m) throw ApiError(404, "no model with this id (GET /api/models lists them)");
          if (!m->error.empty()) throw ApiError(409, "the run cannot be opened: " + m->error);
          {
            std::lock_guard lock(data_metrics_mutex);
            const auto it = data_metrics.find(id);
            if (it != data_metrics.end() && it->second.first == m->weights_sha256) {
              res.set_content(it->second.second, "application/json");
              return;
            }
          }
          const std::shared_ptr<OpenedRun> run = models.open(id);
          if (!run) throw ApiError(404, "no model with this id (GET /api/models lists them)");
          const std::string json = dump(data_metrics_json(*run, id));
          {
            std::lock_guard lock(data_metrics_mutex);
            data_metrics[id] = {m->weights_sha256, json};
          }
          res.set_content(json, "application/json");
        });

  route("GET", "/api/models/([^/]+)/primers",
        [this](const httplib::Request& req, httplib::Response& res) {
          const std::string id = req.matches[1];
          const std::optional<ModelInfo> m = models.info(id);
          if (!m) throw ApiError(404, "no model with this id (GET /api/models lists them)");
          if (!m->error.empty()) throw ApiError(409, "the run cannot be opened: " + m->error);
          const std::shared_ptr<OpenedRun> run = models.open(id);
          if (!run) throw ApiError(404, "no model with this id (GET /api/models lists them)");
          reply(res, 200, primers_json(*run, id));
        });

  route("GET", "/api/runs", [this](const httplib::Request&, httplib::Response& res) {
    Json list = Json::array();
    for (const TrainingRun& r : training_runs.list()) list.push_back(training_run_json(r));
    reply(res, 200, {{"runs", list}});
  });

  route("GET", "/api/runs/([^/]+)/metrics",
        [this](const httplib::Request& req, httplib::Response& res) {
          const std::int64_t after =
              integer_query(req, "after", -1, std::numeric_limits<std::int64_t>::max(), -1);
          const std::optional<RunMetrics> m = training_runs.metrics(req.matches[1], after);
          if (!m) throw ApiError(404, "no run with this id (GET /api/runs lists them)");
          Json json = training_run_json(m->run);
          json["points"] = loss_points_json(m->points);
          json["more"] = m->more;
          reply(res, 200, json);
        });

  route("POST", "/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
    const GenerationRequest request = parse_generation_request(req.body, new_seed());
    std::shared_ptr<OpenedRun> run;
    try {
      run = models.open(request.model);
    } catch (const std::exception& e) {
      throw ApiError(409, std::string("model: the run cannot be opened: ") + e.what(), "model");
    }
    if (!run)
      throw ApiError(404, "model: no model with this id (GET /api/models lists them)", "model",
                     "a model id");
    check_primer_midi(request);
    (void)resolve_instruments(request, run->dataset.codec);  // its 400 now, not a failed job
    // Checked here rather than in the job, so that the client hears it at once.
    const auto& pool = run->dataset.valid.empty() ? run->dataset.train : run->dataset.valid;
    if (request.primer_midi_bytes.empty() &&
        request.primer_sequence >= static_cast<std::int64_t>(pool.size()))
      throw bad_field("primer.sequence",
                      "-1 (picked by the seed) or 0.." + std::to_string(pool.size() - 1),
                      std::to_string(request.primer_sequence));
    const std::optional<ModelInfo> model = models.info(request.model);
    if (!model) throw ApiError(404, "model: no model with this id", "model", "a model id");
    Json job = submit(request, run, *model);
    res.set_header("Location", "/api/jobs/" + job["id"].get<std::string>());
    reply(res, 202, job);
  });

  route("GET", "/api/jobs/([^/]+)", [this](const httplib::Request& req, httplib::Response& res) {
    const std::optional<JobStatus> s = jobs.status(req.matches[1]);
    if (!s)
      throw ApiError(404, "no job with this id (jobs are kept until " + std::to_string(kKeptJobs) +
                              " newer ones have finished)");
    reply(res, 200, job_json(*s));
  });

  const auto cancel = [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    switch (jobs.cancel(id)) {
      case JobQueue::Cancel::unknown:
        throw ApiError(404, "no job with this id");
      case JobQueue::Cancel::already_finished:
        throw ApiError(409, std::string("the job has already finished: ") +
                                job_state_name(jobs.status(id)->state));
      case JobQueue::Cancel::cancelled:
        break;
    }
    reply(res, 202, job_json(*jobs.status(id)));
  };
  // POST, not DELETE /api/jobs/{id}: the job is not deleted, its record stays (state
  // "cancelled") for the client that follows it.
  route("POST", "/api/jobs/([^/]+)/cancel", cancel);

  route("GET", "/api/pieces", [this](const httplib::Request&, httplib::Response& res) {
    Json list = Json::array();
    for (const std::string& record : pieces.list()) {
      try {
        list.push_back(Json::parse(record));
      } catch (const Json::parse_error&) {
        // A record damaged on disk is left out of the list, not a reason to fail it.
      }
    }
    reply(res, 200, {{"pieces", list}});
  });

  route("GET", "/api/pieces/([^/]+)", [this](const httplib::Request& req, httplib::Response& res) {
    const std::optional<std::string> record = pieces.record(req.matches[1]);
    if (!record) throw ApiError(404, "no piece with this id (GET /api/pieces lists them)");
    res.set_content(*record, "application/json");
  });

  route("GET", "/api/pieces/([^/]+)/files/([^/]+)",
        [this](const httplib::Request& req, httplib::Response& res) {
          const std::optional<PieceFile> kind = parse_piece_file(req.matches[2]);
          if (!kind) throw ApiError(404, "no such file: a piece has midi, wav and svg");
          const std::optional<std::filesystem::path> path = pieces.file(req.matches[1], *kind);
          if (!path) throw ApiError(404, "no piece with this id (GET /api/pieces lists them)");
          auto in = std::make_shared<std::ifstream>(*path, std::ios::binary);
          const auto size = std::filesystem::file_size(*path);
          if (!*in) throw std::runtime_error("cannot read a piece's file");
          res.set_header("Content-Disposition", std::string("inline; filename=\"") +
                                                    req.matches[1].str() + "-" +
                                                    piece_file_leaf(*kind) + "\"");
          // Streamed, in the ranges the client asks (an <audio> element seeks with them).
          res.set_content_provider(
              size, piece_file_content_type(*kind),
              [in](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                std::vector<char> chunk(std::min<std::size_t>(length, 64 * 1024));
                in->clear();
                in->seekg(static_cast<std::streamoff>(offset));
                in->read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
                const auto got = in->gcount();
                if (got <= 0) return false;
                return sink.write(chunk.data(), static_cast<std::size_t>(got));
              });
        });

  route("POST", "/api/pieces/([^/]+)/regenerate",
        [this](const httplib::Request& req, httplib::Response& res) {
          const std::optional<std::string> record = pieces.record(req.matches[1]);
          if (!record) throw ApiError(404, "no piece with this id (GET /api/pieces lists them)");
          const Json json = Json::parse(*record);
          const GenerationRequest request =
              parse_generation_request(dump(json.at("parameters")), 0);
          const std::optional<ModelInfo> model = models.info(request.model);
          if (!model) throw ApiError(404, "the piece's model is no longer under --runs");
          if (model->weights_sha256 != json.at("model").value("weights_sha256", ""))
            throw ApiError(
                409,
                "the piece's model has new weights since (training went on): the same parameters "
                "would not make the same piece");
          std::shared_ptr<OpenedRun> run = models.open(request.model);
          if (!run) throw ApiError(404, "the piece's model is no longer under --runs");
          Json job = submit(request, run, *model);
          res.set_header("Location", "/api/jobs/" + job["id"].get<std::string>());
          reply(res, 202, job);
        });

  // Last: whatever no route above took (not_routed).
  const auto fallback = [this](const httplib::Request& req, httplib::Response& res) {
    not_routed(req.method, req.path, res);
  };
  http.Get(".*", fallback);
  http.Post(".*", fallback);
  http.Put(".*", fallback);
  http.Patch(".*", fallback);
  http.Delete(".*", fallback);
  http.Options(".*", fallback);
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() { stop(); }

int Server::bind() {
  Impl& s = *impl_;
  if (!is_listen_address(s.options.host))
    throw std::runtime_error("cannot listen on \"" + s.options.host +
                             "\": expected an IP address or localhost");
  if (s.options.port == 0) {
    s.port = s.http.bind_to_any_port(s.options.host);
    if (s.port <= 0)
      throw std::runtime_error("cannot listen on " + s.options.host +
                               " (any port): is it an address of this machine?");
  } else {
    if (!s.http.bind_to_port(s.options.host, s.options.port))
      throw std::runtime_error(
          "cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
          ": the port is in use, or the host is not an address of this machine");
    s.port = s.options.port;
  }
  raise_listen_backlog(s.port);  // without it, the server works; 50 clients at once wait
  return s.port;
}

void Server::serve() {
  Impl& s = *impl_;
  // stop() loops until `listening` is false: either it sees it true and stops httplib, or
  // this sees `stopping` and never starts (httplib's own stop() is lost before listening).
  s.listening = true;
  if (!s.stopping) s.http.listen_after_bind();
  s.listening = false;
}

void Server::stop() {
  Impl& s = *impl_;
  s.stopping = true;
  while (s.listening) {
    s.http.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  s.jobs.shutdown();
}

int Server::port() const { return impl_->port; }

std::string Server::synthesizer() const { return impl_->synthesizer; }

std::string Server::url() const {
  const std::string& host = impl_->options.host;
  const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->port) + "/";
}

}  // namespace musegen::server

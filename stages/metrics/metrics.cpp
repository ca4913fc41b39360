// The `metrics` stage (serial, every split): per pass loss, top-1, top-5 and images/s; a live
// progress line on a terminal (plain periodic lines otherwise); metrics.csv rows per train step
// and per pass (time_s: seconds since this process started the run); summary.json at the end of the
// run (read by `flowtrain ablate`; on a GPU it lists the convolution algorithms that ran without a
// determinism guarantee). A data-parallel run's pass totals are summed over its processes.
#include "stages/metrics/metrics.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "kernels/dist/comm.hpp"
#include "kernels/nn/cuda/device.hpp"
#include "kernels/nn/loss.hpp"
#include "pipeline/error.hpp"
#include "stages/register_all.hpp"
#include "stages/stage_shared.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

namespace {

using Clock = std::chrono::steady_clock;

struct PassTotals {
  std::size_t samples = 0, labelled = 0, batches = 0;
  double loss_sum = 0;
  std::int64_t top1 = 0, top5 = 0;
  double loss() const { return labelled ? loss_sum / labelled : 0.0; }
  double acc1() const { return labelled ? static_cast<double>(top1) / labelled : 0.0; }
  double acc5() const { return labelled ? static_cast<double>(top5) / labelled : 0.0; }

  // For a run stopped mid-epoch (TrainState::add_pass_state): exact, the sum's bits included.
  void save(TrainState::PassState& out, const std::string& prefix) const {
    out[prefix + "samples"] = static_cast<std::int64_t>(samples);
    out[prefix + "labelled"] = static_cast<std::int64_t>(labelled);
    out[prefix + "batches"] = static_cast<std::int64_t>(batches);
    out[prefix + "loss_sum_bits"] = std::bit_cast<std::int64_t>(loss_sum);
    out[prefix + "top1"] = top1;
    out[prefix + "top5"] = top5;
  }
  void load(const TrainState::PassState& in, const std::string& prefix) {
    const auto get = [&](const char* key) {
      const auto it = in.find(prefix + key);
      return it == in.end() ? std::int64_t{0} : it->second;
    };
    samples = static_cast<std::size_t>(get("samples"));
    labelled = static_cast<std::size_t>(get("labelled"));
    batches = static_cast<std::size_t>(get("batches"));
    loss_sum = std::bit_cast<double>(get("loss_sum_bits"));
    top1 = get("top1");
    top5 = get("top5");
  }
};

// On resume: metrics.csv keeps the header and the rows up to the checkpoint's step (a run killed
// after its last checkpoint wrote rows the resumed run writes again; a torn last line goes too).
// Rewritten atomically.
void keep_rows_until(const std::filesystem::path& path, std::int64_t step) {
  std::ifstream in(path);
  std::string line, kept;
  for (bool header = true; std::getline(in, line); header = false) {
    if (header) {
      kept += line + "\n";
      continue;
    }
    std::istringstream fields(line);
    std::string f;
    std::vector<std::string> cols;
    while (std::getline(fields, f, ',')) cols.push_back(f);
    if (cols.size() != 10) continue;
    try {
      if (std::stoll(cols[3]) <= step) kept += line + "\n";
    } catch (const std::exception&) {
    }
  }
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kept;
    if (!out.flush()) throw Error(fmt::format("{}: cannot write metrics", tmp.string()));
  }
  std::filesystem::rename(tmp, path);
}

class Metrics final : public Stage {
 public:
  explicit Metrics(const Params& p)
      : every_steps_(static_cast<int>(p.get_int("log_every"))),
        interval_s_(p.get_number("print_every_s")) {}

  void setup(RunContext& ctx) override {
    ctx_ = &ctx;
    results_ = std::make_shared<RunResults>();
    stage_shared(ctx).results = results_;
    quiet_ = ctx.quiet;
    tty_ = isatty(STDERR_FILENO) == 1;
    const auto path = ctx.run_dir / "metrics.csv";
    const bool append = !ctx.resume_path.empty() && std::filesystem::exists(path);
    if (append) keep_rows_until(path, TrainState::get(ctx)->step);
    csv_.open(path, append ? std::ios::app : std::ios::trunc);
    if (!csv_) throw Error(fmt::format("{}: cannot write metrics", path.string()));
    if (!append) csv_ << "scope,split,epoch,step,lr,loss,top1,top5,images_per_s,time_s\n";
    run_start_ = Clock::now();
  }

  void begin_pass(const PassInfo& pass) override {
    pass_ = pass;
    totals_ = {};
    window_ = {};
    if (auto state = stage_shared(*ctx_).train; state && pass.split == Split::train) {
      // A run stopped mid-epoch continues its totals and its open step-row window exactly.
      const auto saved = state->take_resumed_pass_state("metrics.");
      if (!saved.empty()) {
        totals_.load(saved, "metrics.totals.");
        window_.load(saved, "metrics.window.");
      }
      if (!saver_added_)
        state->add_pass_state([this](TrainState::PassState& out) {
          if (pass_.split != Split::train) return;
          totals_.save(out, "metrics.totals.");
          window_.save(out, "metrics.window.");
        });
      saver_added_ = true;
    }
    pass_start_ = last_print_ = Clock::now();
  }

  void run(Batch& b) override {
    const std::size_t n = b.counted();  // a data-parallel run's padding does not count
    totals_.samples += n;
    ++totals_.batches;
    PassTotals now;
    now.samples = n;
    if (!b.loss.empty() && !b.label.empty() && b.label[0] >= 0) {
      now.labelled = n;
      for (std::size_t i = 0; i < n; ++i) now.loss_sum += b.loss[i];
      if (!b.logits.data.empty()) {
        const auto t = nn::topk_correct(b.logits.data.data(), b.label.data(), static_cast<int>(n),
                                        static_cast<int>(b.logits.shape[1]));
        now.top1 = t.top1;
        now.top5 = t.top5;
      }
    }
    totals_.labelled += now.labelled;
    totals_.loss_sum += now.loss_sum;
    totals_.top1 += now.top1;
    totals_.top5 += now.top5;
    window_.samples += n;
    window_.labelled += now.labelled;
    window_.loss_sum += now.loss_sum;
    window_.top1 += now.top1;
    window_.top5 += now.top5;
    ++window_.batches;

    const double elapsed = seconds_since(pass_start_);
    auto state = stage_shared(*ctx_).train;
    if (pass_.split == Split::train && state &&
        window_.batches >= static_cast<std::size_t>(every_steps_)) {
      csv_ << fmt::format("step,train,{},{},{:.8g},{:.6f},{:.6f},{:.6f},{:.1f},{:.3f}\n",
                          pass_.epoch, b.trained_step, b.trained_lr, window_.loss(), window_.acc1(),
                          window_.acc5(), totals_.samples / elapsed, seconds_since(run_start_));
      csv_.flush();  // readable while the pass runs (tail -f)
      window_ = {};
    }
    if (!quiet_) progress(false);
  }

  void end_pass(const PassInfo& pass) override {
    reduce_over_processes(totals_);
    const double elapsed = seconds_since(pass_start_);
    auto state = stage_shared(*ctx_).train;
    const double ips = elapsed > 0 ? totals_.samples / elapsed : 0.0;
    csv_ << fmt::format("epoch,{},{},{},{:.8g},{:.6f},{:.6f},{:.6f},{:.1f},{:.3f}\n",
                        split_name(pass.split), pass.epoch, state ? state->step : 0,
                        state ? state->lr() : 0.0, totals_.loss(), totals_.acc1(), totals_.acc5(),
                        ips, seconds_since(run_start_));
    csv_.flush();
    if (!quiet_) progress(true);
    results_->passes.push_back(PassResult{pass.split, pass.epoch, totals_.samples, totals_.labelled,
                                          totals_.loss(), totals_.acc1(), totals_.acc5(), ips,
                                          elapsed});
    auto& last = last_[static_cast<int>(pass.split)];
    last = totals_;
    last_ips_[static_cast<int>(pass.split)] = ips;
    last_epoch_ = pass.epoch;
  }

  void finish(RunContext& ctx) override {
    const double wall = seconds_since(run_start_);
    const auto& tr = last_[0];
    const auto& va = last_[1];
    const auto& te = last_[2];
    const CommStats& cs = stage_shared(ctx).comm_stats;
    const std::string hashes = parameter_hashes(ctx);
    // Last, so cli/ablate.cpp (a reader of flat numbers) reads the keys before it unchanged. The
    // entries hold no quotes, backslashes or colons (conv2d.cu writes them).
    std::string nondeterministic;
    if (ctx.device == "cuda")
      for (const std::string& a : nn::cuda::nondeterministic_algorithms())
        nondeterministic += fmt::format("{}\"{}\"", nondeterministic.empty() ? "" : ", ", a);
    const std::string tmp = (ctx.run_dir / "summary.json.tmp").string();
    {
      std::ofstream out(tmp);
      out << fmt::format(
          "{{\"epochs\": {}, \"device\": \"{}\", \"wall_s\": {:.3f}, \"train_images_per_s\": "
          "{:.1f}, "
          "\"train_loss\": {:.6f}, \"train_top1\": {:.6f}, \"val_loss\": {:.6f}, \"val_top1\": "
          "{:.6f}, "
          "\"val_top5\": {:.6f}, \"val_samples\": {}, \"test_samples\": {}, \"test_top1\": "
          "{:.6f}, \"processes\": {}, \"comm_s_per_step\": {:.6f}, "
          "\"comm_overlapped_share\": {:.4f}, \"parameter_hashes\": [{}], "
          "\"nondeterministic_algorithms\": [{}]}}\n",
          last_epoch_, ctx.device, wall, last_ips_[0], tr.loss(), tr.acc1(), va.loss(), va.acc1(),
          va.acc5(), va.samples, te.samples, te.acc1(), run_world(ctx), cs.per_step_s(),
          cs.overlapped_share(), hashes, nondeterministic);
    }
    std::rename(tmp.c_str(), (ctx.run_dir / "summary.json").c_str());
  }

 private:
  // A data-parallel run's pass totals are the sums over its processes (each saw its share).
  void reduce_over_processes(PassTotals& t) const {
    const std::shared_ptr<dist::Comm>& comm = stage_shared(*ctx_).comm;
    if (!comm || comm->size() == 1) return;
    double v[6] = {static_cast<double>(t.samples), static_cast<double>(t.labelled),
                   static_cast<double>(t.batches), t.loss_sum,
                   static_cast<double>(t.top1),    static_cast<double>(t.top5)};
    comm->allreduce_sum(v, 6);
    t.samples = static_cast<std::size_t>(v[0]);
    t.labelled = static_cast<std::size_t>(v[1]);
    t.batches = static_cast<std::size_t>(v[2]) / static_cast<std::size_t>(comm->size());
    t.loss_sum = v[3];
    t.top1 = static_cast<std::int64_t>(v[4]);
    t.top5 = static_cast<std::int64_t>(v[5]);
  }

  // Every process's hash of the trained parameters (FNV-1a over their bytes), in rank order, as
  // JSON strings: a data-parallel run's processes must hold identical weights. Empty for a single
  // process (nothing to compare) and without a model.
  static std::string parameter_hashes(RunContext& ctx) {
    const StageShared& shared = stage_shared(ctx);
    if (!shared.comm || shared.comm->size() == 1 || !shared.train || !shared.train->has_model())
      return {};
    nn::Model& model = shared.train->model();
    model.to_host();
    std::uint64_t h = 1469598103934665603ull;
    for (const nn::Parameter* p : model.parameters()) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(p->value.data());
      for (std::size_t i = 0; i < p->value.size() * sizeof(float); ++i)
        h = (h ^ bytes[i]) * 1099511628211ull;
    }
    std::string mine = fmt::format("{:016x}", h), out;
    const std::vector<std::string> all = shared.comm->allgather(mine);
    for (const std::string& one : all) out += fmt::format("{}\"{}\"", out.empty() ? "" : ", ", one);
    return out;
  }

  static double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }

  void progress(bool done) {
    const double elapsed = seconds_since(pass_start_);
    const double since = seconds_since(last_print_);
    if (!done && since < (tty_ ? 0.2 : interval_s_)) return;
    last_print_ = Clock::now();
    const double ips = elapsed > 0 ? totals_.samples / elapsed : 0.0;
    const std::size_t total = pass_.num_batches;
    const double eta =
        totals_.batches ? elapsed * (static_cast<double>(total) / totals_.batches - 1.0) : 0.0;
    std::string line = fmt::format("{} epoch {} [{}/{}] {:.0f} img/s", split_name(pass_.split),
                                   pass_.epoch, totals_.batches, total, ips);
    if (totals_.labelled)
      line += fmt::format(" loss {:.4f} top1 {:.2f}% top5 {:.2f}%", totals_.loss(),
                          100 * totals_.acc1(), 100 * totals_.acc5());
    line += done ? fmt::format(" in {:.1f} s", elapsed) : fmt::format(" ETA {:.0f} s", eta);
    if (tty_)
      fmt::print(stderr, "\r\033[K{}{}", line, done ? "\n" : "");
    else
      fmt::print(stderr, "{}\n", line);
    std::fflush(stderr);
  }

  int every_steps_;
  double interval_s_;
  RunContext* ctx_ = nullptr;
  std::shared_ptr<RunResults> results_;
  bool quiet_ = false, tty_ = false, saver_added_ = false;
  std::ofstream csv_;
  PassInfo pass_;
  PassTotals totals_, window_;
  PassTotals last_[3];
  double last_ips_[3] = {0, 0, 0};
  int last_epoch_ = 0;
  Clock::time_point run_start_, pass_start_, last_print_;
};

}  // namespace

StageKind metrics_kind() {
  StageKind k;
  k.name = "metrics";
  k.doc = "Loss, top-1, top-5 and images/s per pass; progress output; metrics.csv and summary.json";
  k.params = {{.name = "log_every",
               .type = ParamType::integer,
               .doc = "write a metrics.csv step row every N train batches",
               .default_value = "10",
               .min = 1.0,
               .max = 1e9},
              {.name = "print_every_s",
               .type = ParamType::number,
               .doc = "seconds between progress lines when not on a terminal",
               .default_value = "10.0",
               .min = 0.0}};
  k.access = [](const Params&) { return Access{}; };
  k.serial = true;
  k.make = [](const Params& p) { return std::make_unique<Metrics>(p); };
  return k;
}

}  // namespace ft

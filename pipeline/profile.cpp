// Profiler bookkeeping and the per-stage statistics (see profile.hpp for the definitions).
#include "pipeline/profile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "pipeline/error.hpp"

namespace ft {

Profiler::Profiler(std::vector<std::string> ids, std::vector<std::string> kinds,
                   std::vector<int> slots, int max_in_flight)
    : t0_(std::chrono::steady_clock::now()),
      ids_(std::move(ids)),
      kinds_(std::move(kinds)),
      slots_(std::move(slots)),
      max_in_flight_(max_in_flight) {}

std::int64_t Profiler::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              t0_)
      .count();
}

int Profiler::begin_pass(const std::string& label) {
  std::lock_guard lock(mu_);
  passes_.push_back(Pass{label, now_ns(), 0});
  return static_cast<int>(passes_.size()) - 1;
}

void Profiler::end_pass() {
  std::lock_guard lock(mu_);
  FT_ASSERT(!passes_.empty());
  passes_.back().end_ns = now_ns();
}

void Profiler::record(const StageEvent& e) {
  std::lock_guard lock(mu_);
  events_.push_back(e);
}

void Profiler::add_samples(std::size_t n) {
  std::lock_guard lock(mu_);
  samples_ += n;
}

namespace {

struct Tick {
  std::int64_t t;
  int dq, dr, dtok, dup;  // queued, running, tokens taken, batches upstream of the stage
};

// Token occupancy over time: a token is taken when a batch arrives at stage 0 and returned when
// it leaves the last stage it visits in its pass. One (taken, returned) span per batch, in
// (pass, seq) order.
std::vector<std::pair<std::int64_t, std::int64_t>> token_spans(
    const std::vector<StageEvent>& events) {
  std::map<std::pair<int, std::uint64_t>, std::pair<std::int64_t, std::int64_t>> life;
  for (const auto& e : events) {
    auto key = std::make_pair(e.pass, e.seq);
    auto [it, fresh] = life.emplace(key, std::make_pair(e.arrive_ns, e.end_ns));
    if (!fresh) {
      it->second.first = std::min(it->second.first, e.arrive_ns);
      it->second.second = std::max(it->second.second, e.end_ns);
    }
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> spans;
  spans.reserve(life.size());
  for (const auto& [key, span] : life) spans.push_back(span);
  return spans;
}

// Walks the time-sorted ticks and adds each interval's free slots, inside the stage's passes, to
// starved or blocked time.
template <class Inside>
void idle_time(const std::vector<Tick>& ticks, int slots, int max_in_flight, Inside inside,
               double& starved_ns, double& blocked_ns) {
  int q = 0, run = 0, tok = 0, up = 0;
  for (std::size_t k = 0; k + 1 < ticks.size(); ++k) {
    q += ticks[k].dq;
    run += ticks[k].dr;
    tok += ticks[k].dtok;
    up += ticks[k].dup;
    const double dt = static_cast<double>(ticks[k + 1].t - ticks[k].t);
    if (dt <= 0 || !inside(ticks[k].t)) continue;
    if (q == 0 && run < slots) {
      const double free_slots = static_cast<double>(slots - run);
      // Idle with batches still upstream: waiting for them (starved). Idle with none upstream
      // and every token taken: the source may not emit until downstream frees one (blocked).
      (up == 0 && tok >= max_in_flight ? blocked_ns : starved_ns) += dt * free_slots;
    }
  }
}

void set_latency(StageStats& st, std::vector<double> lat) {
  if (lat.empty()) return;
  double sum = 0;
  for (double x : lat) sum += x;
  st.mean_ms = sum / lat.size();
  std::sort(lat.begin(), lat.end());
  st.p95_ms = lat[std::min(lat.size() - 1, static_cast<std::size_t>(0.95 * lat.size()))];
}

}  // namespace

ProfileReport Profiler::report() const {
  std::lock_guard lock(mu_);
  ProfileReport r;
  double wall_ns = 0;
  for (std::size_t p = 0; p < passes_.size(); ++p) {
    wall_ns += static_cast<double>(passes_[p].end_ns - passes_[p].begin_ns);
    if (p > 0) r.pass_gaps_ms.push_back((passes_[p].begin_ns - passes_[p - 1].end_ns) / 1e6);
  }
  r.wall_s = wall_ns / 1e9;
  r.samples = samples_;
  const auto spans = token_spans(events_);
  r.batches = spans.size();
  for (std::size_t s = 0; s < ids_.size(); ++s) r.stages.push_back(stage_stats(s, spans));
  // Bottleneck: the stage that is busiest relative to its slots.
  for (std::size_t s = 1; s < r.stages.size(); ++s)
    if (r.stages[s].busy > r.stages[r.bottleneck].busy) r.bottleneck = s;
  return r;
}

StageStats Profiler::stage_stats(
    std::size_t s, const std::vector<std::pair<std::int64_t, std::int64_t>>& spans) const {
  StageStats st;
  st.id = ids_[s];
  st.kind = kinds_[s];
  st.slots = std::max(1, slots_[s]);
  std::vector<Tick> ticks;
  std::vector<double> lat;
  double busy_ns = 0;
  std::vector<bool> ran(passes_.size(), false);  // the passes in which this stage is active
  for (const auto& e : events_) {
    if (e.stage != s) continue;
    ran[static_cast<std::size_t>(e.pass)] = true;
    ticks.push_back({e.arrive_ns, +1, 0, 0, s > 0 ? -1 : 0});
    ticks.push_back({e.start_ns, -1, +1, 0, 0});
    ticks.push_back({e.end_ns, 0, -1, 0, 0});
    lat.push_back((e.end_ns - e.start_ns) / 1e6);
    busy_ns += static_cast<double>(e.end_ns - e.start_ns);
  }
  for (const auto& span : spans) {
    ticks.push_back({span.first, 0, 0, +1, s > 0 ? +1 : 0});
    ticks.push_back({span.second, 0, 0, -1, 0});
  }
  // Fractions are of the time of the passes the stage runs in; pass bounds split intervals.
  double window_ns = 0;
  for (std::size_t p = 0; p < passes_.size(); ++p) {
    if (!ran[p]) continue;
    window_ns += static_cast<double>(passes_[p].end_ns - passes_[p].begin_ns);
    ticks.push_back({passes_[p].begin_ns, 0, 0, 0, 0});
    ticks.push_back({passes_[p].end_ns, 0, 0, 0, 0});
  }
  std::sort(ticks.begin(), ticks.end(), [](const Tick& a, const Tick& b) { return a.t < b.t; });
  const auto inside = [&](std::int64_t t) {
    for (std::size_t p = 0; p < passes_.size(); ++p)
      if (ran[p] && t >= passes_[p].begin_ns && t < passes_[p].end_ns) return true;
    return false;
  };
  double starved_ns = 0, blocked_ns = 0;
  idle_time(ticks, st.slots, max_in_flight_, inside, starved_ns, blocked_ns);
  st.items = lat.size();
  const double cap = window_ns * st.slots;
  if (window_ns > 0) {
    st.items_per_s = st.items / (window_ns / 1e9);
    st.busy = busy_ns / cap;
    st.starved = starved_ns / cap;
    st.blocked = blocked_ns / cap;
  }
  set_latency(st, std::move(lat));
  return st;
}

std::string ProfileReport::text() const {
  std::string out = fmt::format("{} batches, {} samples in {:.2f} s: {:.0f} samples/s\n", batches,
                                samples, wall_s, wall_s > 0 ? samples / wall_s : 0.0);
  out += fmt::format("{:<12} {:<12} {:>6} {:>9} {:>6} {:>8} {:>8} {:>9} {:>9}\n", "stage", "kind",
                     "slots", "batches/s", "busy", "starved", "blocked", "mean ms", "p95 ms");
  for (const auto& s : stages) {
    if (s.items == 0) {
      out += fmt::format("{:<12} {:<12} {:>6}   (not active in the profiled passes)\n", s.id,
                         s.kind, s.slots);
      continue;
    }
    out += fmt::format(
        "{:<12} {:<12} {:>6} {:>9.1f} {:>5.0f}% {:>7.0f}% {:>7.0f}% {:>9.2f} {:>9.2f}\n", s.id,
        s.kind, s.slots, s.items_per_s, 100 * s.busy, 100 * s.starved, 100 * s.blocked, s.mean_ms,
        s.p95_ms);
  }
  if (!stages.empty()) {
    const auto& b = stages[bottleneck];
    double next = 0;
    std::string next_id;
    for (std::size_t s = 0; s < stages.size(); ++s)
      if (s != bottleneck && stages[s].busy >= next) {
        next = stages[s].busy;
        next_id = stages[s].id;
      }
    out += fmt::format("bottleneck: '{}' ({}) busy {:.0f}% of its {} slot(s)", b.id, b.kind,
                       100 * b.busy, b.slots);
    if (!next_id.empty() && next > 0)
      out += fmt::format(
          "; next busiest '{}' at {:.0f}%: '{}' could run {:.1f}x faster before '{}' limits",
          next_id, 100 * next, b.id, b.busy / next, next_id);
    out += "\n";
  }
  if (!pass_gaps_ms.empty()) {
    double worst = *std::max_element(pass_gaps_ms.begin(), pass_gaps_ms.end());
    double sum = 0;
    for (double g : pass_gaps_ms) sum += g;
    out +=
        fmt::format("idle gap between passes: mean {:.1f} ms, max {:.1f} ms over {} boundaries\n",
                    sum / pass_gaps_ms.size(), worst, pass_gaps_ms.size());
  }
  return out;
}

void Profiler::write_trace(const std::string& path) const {
  std::lock_guard lock(mu_);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw Error(fmt::format("{}: cannot write the trace file", path));
    out << "{\"traceEvents\":[\n";
    std::map<int, bool> threads;
    bool first = true;
    for (const auto& e : events_) {
      threads[e.thread] = true;
      out << (first ? "" : ",\n")
          << fmt::format(
                 R"({{"name":"{}","cat":"{}","ph":"X","ts":{:.3f},"dur":{:.3f},"pid":1,"tid":{},)"
                 R"("args":{{"batch":{},"pass":"{}","queued_us":{:.1f}}}}})",
                 ids_[e.stage], kinds_[e.stage], e.start_ns / 1e3, (e.end_ns - e.start_ns) / 1e3,
                 e.thread, e.seq, passes_.at(e.pass).label, (e.start_ns - e.arrive_ns) / 1e3);
      first = false;
    }
    for (const auto& [t, _] : threads)
      out << (first ? "" : ",\n")
          << fmt::format(
                 R"({{"name":"thread_name","ph":"M","pid":1,"tid":{},"args":{{"name":"worker {}"}}}})",
                 t, t);
    out << "\n],\"displayTimeUnit\":\"ms\"}\n";
    if (!out) throw Error(fmt::format("{}: writing the trace failed", path));
  }
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace ft

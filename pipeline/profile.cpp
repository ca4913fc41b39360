// Profiler bookkeeping and the per-stage statistics (see profile.hpp for the definitions).
#include "pipeline/profile.hpp"

#include <algorithm>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "pipeline/error.hpp"

namespace ft {

Profiler::Profiler(std::vector<std::string> ids, std::vector<std::string> kinds, std::vector<int> slots,
                   int max_in_flight)
    : t0_(std::chrono::steady_clock::now()), ids_(std::move(ids)), kinds_(std::move(kinds)),
      slots_(std::move(slots)), max_in_flight_(max_in_flight) {}

std::int64_t Profiler::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count();
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

ProfileReport Profiler::report() const {
  std::lock_guard lock(mu_);
  ProfileReport r;
  const std::size_t n = ids_.size();
  double wall_ns = 0;
  for (std::size_t p = 0; p < passes_.size(); ++p) {
    wall_ns += static_cast<double>(passes_[p].end_ns - passes_[p].begin_ns);
    if (p > 0) r.pass_gaps_ms.push_back((passes_[p].begin_ns - passes_[p - 1].end_ns) / 1e6);
  }
  r.wall_s = wall_ns / 1e9;
  r.samples = samples_;
  r.stages.resize(n);

  // Token occupancy over time: a token is taken when a batch arrives at stage 0 and returned when
  // it leaves the last stage it visits in its pass.
  std::map<std::pair<int, std::uint64_t>, std::pair<std::int64_t, std::int64_t>> life;
  for (const auto& e : events_) {
    auto key = std::make_pair(e.pass, e.seq);
    auto [it, fresh] = life.emplace(key, std::make_pair(e.arrive_ns, e.end_ns));
    if (!fresh) {
      it->second.first = std::min(it->second.first, e.arrive_ns);
      it->second.second = std::max(it->second.second, e.end_ns);
    }
  }
  r.batches = life.size();
  struct Tick {
    std::int64_t t;
    int dq, dr, dtok, dup;  // queued, running, tokens taken, batches upstream of the stage
  };
  for (std::size_t s = 0; s < n; ++s) {
    auto& st = r.stages[s];
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
    for (const auto& [key, span] : life) {
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
    double starved_ns = 0, blocked_ns = 0;
    int q = 0, run = 0, tok = 0, up = 0;
    auto inside = [&](std::int64_t t) {
      for (std::size_t p = 0; p < passes_.size(); ++p)
        if (ran[p] && t >= passes_[p].begin_ns && t < passes_[p].end_ns) return true;
      return false;
    };
    for (std::size_t k = 0; k + 1 < ticks.size(); ++k) {
      q += ticks[k].dq;
      run += ticks[k].dr;
      tok += ticks[k].dtok;
      up += ticks[k].dup;
      const double dt = static_cast<double>(ticks[k + 1].t - ticks[k].t);
      if (dt <= 0 || !inside(ticks[k].t)) continue;
      if (q == 0 && run < st.slots) {
        const double free_slots = static_cast<double>(st.slots - run);
        // Idle with batches still upstream: waiting for them (starved). Idle with none upstream
        // and every token taken: the source may not emit until downstream frees one (blocked).
        (up == 0 && tok >= max_in_flight_ ? blocked_ns : starved_ns) += dt * free_slots;
      }
    }
    st.items = lat.size();
    const double cap = window_ns * st.slots;
    if (window_ns > 0) {
      st.items_per_s = st.items / (window_ns / 1e9);
      st.busy = busy_ns / cap;
      st.starved = starved_ns / cap;
      st.blocked = blocked_ns / cap;
    }
    if (!lat.empty()) {
      double sum = 0;
      for (double x : lat) sum += x;
      st.mean_ms = sum / lat.size();
      std::sort(lat.begin(), lat.end());
      st.p95_ms = lat[std::min(lat.size() - 1, static_cast<std::size_t>(0.95 * lat.size()))];
    }
  }
  // Bottleneck: the stage that is busiest relative to its slots.
  for (std::size_t s = 1; s < n; ++s)
    if (r.stages[s].busy > r.stages[r.bottleneck].busy) r.bottleneck = s;
  return r;
}

std::string ProfileReport::text() const {
  std::string out = fmt::format("{} batches, {} samples in {:.2f} s: {:.0f} samples/s\n", batches, samples,
                                wall_s, wall_s > 0 ? samples / wall_s : 0.0);
  out += fmt::format("{:<12} {:<12} {:>6} {:>9} {:>6} {:>8} {:>8} {:>9} {:>9}\n", "stage", "kind", "slots",
                     "batches/s", "busy", "starved", "blocked", "mean ms", "p95 ms");
  for (const auto& s : stages) {
    if (s.items == 0) {
      out += fmt::format("{:<12} {:<12} {:>6}   (not active in the profiled passes)\n", s.id, s.kind, s.slots);
      continue;
    }
    out += fmt::format("{:<12} {:<12} {:>6} {:>9.1f} {:>5.0f}% {:>7.0f}% {:>7.0f}% {:>9.2f} {:>9.2f}\n", s.id,
                       s.kind, s.slots, s.items_per_s, 100 * s.busy, 100 * s.starved, 100 * s.blocked,
                       s.mean_ms, s.p95_ms);
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
    out += fmt::format("bottleneck: '{}' ({}) busy {:.0f}% of its {} slot(s)", b.id, b.kind, 100 * b.busy, b.slots);
    if (!next_id.empty() && next > 0)
      out += fmt::format("; next busiest '{}' at {:.0f}%: '{}' could run {:.1f}x faster before '{}' limits",
                         next_id, 100 * next, b.id, b.busy / next, next_id);
    out += "\n";
  }
  if (!pass_gaps_ms.empty()) {
    double worst = *std::max_element(pass_gaps_ms.begin(), pass_gaps_ms.end());
    double sum = 0;
    for (double g : pass_gaps_ms) sum += g;
    out += fmt::format("idle gap between passes: mean {:.1f} ms, max {:.1f} ms over {} boundaries\n",
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
          << fmt::format(R"({{"name":"{}","cat":"{}","ph":"X","ts":{:.3f},"dur":{:.3f},"pid":1,"tid":{},)"
                         R"("args":{{"batch":{},"pass":"{}","queued_us":{:.1f}}}}})",
                         ids_[e.stage], kinds_[e.stage], e.start_ns / 1e3, (e.end_ns - e.start_ns) / 1e3,
                         e.thread, e.seq, passes_.at(e.pass).label, (e.start_ns - e.arrive_ns) / 1e3);
      first = false;
    }
    for (const auto& [t, _] : threads)
      out << (first ? "" : ",\n")
          << fmt::format(R"({{"name":"thread_name","ph":"M","pid":1,"tid":{},"args":{{"name":"worker {}"}}}})", t, t);
    out << "\n],\"displayTimeUnit\":\"ms\"}\n";
    if (!out) throw Error(fmt::format("{}: writing the trace failed", path));
  }
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace ft

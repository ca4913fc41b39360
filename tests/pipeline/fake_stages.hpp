// Small stage kinds for testing the runtime without images: a counting source, a pure worker
// that can sleep or throw, and a serial sink that records the order it saw.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "pipeline/error.hpp"
#include "pipeline/registry.hpp"

namespace ft::testing {

struct SinkLog {
  std::mutex mu;
  std::vector<std::uint64_t> seqs;
  std::vector<std::int64_t> first_index;
};
inline SinkLog& sink_log() {
  static SinkLog log;
  return log;
}

class CountSource : public Stage {
 public:
  explicit CountSource(const Params& p)
      : n_(p.get_int("batches")), size_(p.get_int("batch_size")) {}
  std::size_t begin_source_pass(const PassInfo& pass) override {
    return pass.split == Split::train ? static_cast<std::size_t>(n_) : 0;
  }
  void run(Batch& b) override {
    for (std::int64_t i = 0; i < size_; ++i) {
      b.id.push_back(std::to_string(b.seq * size_ + i));
      b.index.push_back(static_cast<std::int64_t>(b.seq) * size_ + i);
    }
  }

 private:
  std::int64_t n_, size_;
};

class Worker : public Stage {
 public:
  explicit Worker(const Params& p)
      : sleep_us_(p.get_int("sleep_us")), fail_at_(p.get_int("fail_at")) {}
  void run(Batch& b) override {
    if (sleep_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
    if (static_cast<std::int64_t>(b.seq) == fail_at_)
      throw Error("sample '" + b.id[0] + "' is broken");
    b.label.assign(b.size(), 1);
  }

 private:
  std::int64_t sleep_us_, fail_at_;
};

class Sink : public Stage {
 public:
  explicit Sink(const Params& p) : sleep_us_(p.get_int("sleep_us")) {}
  void run(Batch& b) override {
    if (sleep_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
    std::lock_guard lock(sink_log().mu);
    sink_log().seqs.push_back(b.seq);
    sink_log().first_index.push_back(b.index.empty() ? -1 : b.index[0]);
  }

 private:
  std::int64_t sleep_us_;
};

inline Registry fake_registry() {
  Registry r;
  r.add_section({"run",
                 "run",
                 {{"name", ParamType::string, "name", "\"t\""},
                  {"epochs", ParamType::integer, "e", "1", false, 1.0}}});
  StageKind src;
  src.name = "count";
  src.doc = "test source";
  src.source = true;
  src.params = {{"batches", ParamType::integer, "batches per pass", "10", false, 0.0},
                {"batch_size", ParamType::integer, "samples per batch", "4", false, 1.0, 1024.0},
                {"mode", ParamType::string, "a choice", "\"a\"", false, {}, {}, {"a", "b"}}};
  src.access = [](const Params&) { return Access{{}, {"id", "index"}}; };
  src.make = [](const Params& p) { return std::make_unique<CountSource>(p); };
  r.add(src);
  StageKind w;
  w.name = "work";
  w.doc = "test worker";
  w.params = {{"sleep_us", ParamType::integer, "sleep per batch", "0", false, 0.0},
              {"fail_at", ParamType::integer, "throw at this batch", "-1"},
              {"reads", ParamType::string_list, "columns read", "[\"id\"]"}};
  w.access = [](const Params& p) { return Access{p.get_string_list("reads"), {"label"}}; };
  w.make = [](const Params& p) { return std::make_unique<Worker>(p); };
  r.add(w);
  StageKind s;
  s.name = "sink";
  s.doc = "test sink";
  s.serial = true;
  s.params = {{"sleep_us", ParamType::integer, "sleep per batch", "0", false, 0.0}};
  s.access = [](const Params&) { return Access{{"label"}, {}}; };
  s.make = [](const Params& p) { return std::make_unique<Sink>(p); };
  r.add(s);
  return r;
}

}  // namespace ft::testing

// read_shards: ReadFiles with the shard orders and a skip policy for unreadable samples; the
// reading itself (append_sample_bytes) is read_files' own, so files and shards read alike.
#include "stages/source/read_shards.hpp"

#include <cstdio>

namespace ft {

namespace {

constexpr std::size_t kMaxExamples = 10;

OrderSpec order_of(const Params& p) {
  const std::string s = p.get_string("shuffle");
  return OrderSpec{s == "global"   ? ShuffleMode::global
                   : s == "window" ? ShuffleMode::window
                                   : ShuffleMode::none,
                   static_cast<std::size_t>(p.get_int("window"))};
}

}  // namespace

ReadShards::ReadShards(const Params& p)
    : ReadFiles(p, order_of(p)), skip_(p.get_string("on_error") == "skip") {}

bool ReadShards::skip_unreadable(const Sample& s, const std::string& why) {
  if (!skip_) return false;
  ++skipped_pass_;
  ++skipped_total_;
  std::lock_guard lock(mu_);
  if (examples_.size() < kMaxExamples) examples_.push_back("sample '" + s.id + "': " + why);
  return true;
}

std::vector<std::string> ReadShards::skipped_examples() const {
  std::lock_guard lock(mu_);
  return examples_;
}

void ReadShards::report_pass() {
  const std::size_t n = skipped_pass_.exchange(0);
  if (n == 0) return;
  std::fprintf(stderr, "read_shards: skipped %zu unreadable sample%s in the %s pass (epoch %d)\n",
               n, n == 1 ? "" : "s", split_name(pass_.split), pass_.epoch);
}

std::size_t ReadShards::begin_source_pass(const PassInfo& pass) {
  report_pass();
  pass_ = pass;
  return ReadFiles::begin_source_pass(pass);
}

void ReadShards::finish(RunContext& /*ctx*/) {
  report_pass();
  const std::size_t n = skipped_total_.load();
  if (n == 0) return;
  std::fprintf(stderr, "read_shards: skipped %zu unreadable sample%s in total; first ones:\n", n,
               n == 1 ? "" : "s");
  for (const auto& e : skipped_examples()) std::fprintf(stderr, "  %s\n", e.c_str());
}

StageKind read_shards_kind() {
  StageKind k = read_files_kind();
  k.name = "read_shards";
  k.doc =
      "Source: reads the split's samples by byte range from WebDataset shards ([data] format = "
      "\"shards\"; files work too), in batches; train order from (seed, epoch): global (as "
      "read_files) or window";
  k.params = {
      k.params[0],  // batch_size
      {.name = "shuffle",
       .type = ParamType::string,
       .doc = "train order: global (read_files' permutation, exact), window (shards shuffled, "
              "then a shuffle buffer; for data larger than memory) or none",
       .default_value = "\"global\"",
       .choices = {"global", "window", "none"}},
      {.name = "window",
       .type = ParamType::integer,
       .doc = "samples in the window shuffle's buffer",
       .default_value = "8192",
       .min = 1.0,
       .max = 1e8},
      k.params[2],  // drop_last
      {.name = "on_error",
       .type = ParamType::string,
       .doc = "a sample that fails its checksum or cannot be read: fail (name it) or skip "
              "(drop it; counted per pass)",
       .default_value = "\"fail\"",
       .choices = {"fail", "skip"}},
  };
  k.make = [](const Params& p) { return std::make_unique<ReadShards>(p); };
  return k;
}

}  // namespace ft

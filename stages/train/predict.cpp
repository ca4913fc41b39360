// The `predict` stage (serial, test split): collects each sample's Id and top-1 class, in sample
// order, and writes them as CSV (`Id,Label`) into the run folder when the pass ends, atomically.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "pipeline/error.hpp"
#include "stages/train/train_stages.hpp"

namespace ft {

namespace {

class Predict final : public Stage {
 public:
  explicit Predict(const Params& p)
      : file_(p.get_string("file")), header_(p.get_string("header")) {}

  void setup(RunContext& ctx) override { path_ = ctx.run_dir / file_; }
  void begin_pass(const PassInfo&) override { rows_.clear(); }

  void run(Batch& b) override {
    const auto n = static_cast<std::size_t>(b.logits.shape.empty() ? 0 : b.logits.shape[0]);
    if (n == 0) return;
    const auto k = static_cast<std::size_t>(b.logits.shape[1]);
    for (std::size_t i = 0; i < n; ++i) {
      const float* row = b.logits.data.data() + i * k;
      std::size_t best = 0;
      for (std::size_t j = 1; j < k; ++j)
        if (row[j] > row[best]) best = j;
      rows_.emplace_back(b.id[i], static_cast<int>(best));
    }
  }

  void end_pass(const PassInfo&) override {
    const std::string tmp = path_.string() + ".tmp";
    {
      std::ofstream out(tmp);
      out << header_ << "\n";
      for (const auto& [id, label] : rows_) out << id << "," << label << "\n";
      out.flush();
      if (!out) throw Error(fmt::format("{}: cannot write predictions", tmp));
    }
    if (std::rename(tmp.c_str(), path_.c_str()) != 0)
      throw Error(fmt::format("{}: cannot move predictions into place", path_.string()));
  }

 private:
  std::string file_, header_;
  std::filesystem::path path_;
  std::vector<std::pair<std::string, int>> rows_;
};

}  // namespace

StageKind predict_kind() {
  StageKind k;
  k.name = "predict";
  k.doc = "Writes each test sample's Id and predicted class to a CSV in the run folder";
  k.params = {{.name = "file",
               .type = ParamType::string,
               .doc = "file name inside the run folder",
               .default_value = "\"predictions.csv\""},
              {.name = "header",
               .type = ParamType::string,
               .doc = "the CSV header line",
               .default_value = "\"Id,Label\""}};
  k.access = [](const Params&) { return Access{{col::kId, col::kLogits}, {}}; };
  k.serial = true;
  k.default_splits = {Split::test};
  k.make = [](const Params& p) { return std::make_unique<Predict>(p); };
  return k;
}

}  // namespace ft

// The `predict` stage (serial, test split): collects each sample's Id and top-1 class, in sample
// order, and writes them as CSV (`Id,Label`) into the run folder when the pass ends, atomically.
// In a data-parallel run every process predicts its share; the rows are gathered (padding left
// out) and written in the split's order.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "kernels/dist/comm.hpp"
#include "pipeline/error.hpp"
#include "stages/stage_shared.hpp"
#include "stages/train/train_stages.hpp"

namespace ft {

namespace {

class Predict final : public Stage {
 public:
  explicit Predict(const Params& p)
      : file_(p.get_string("file")), header_(p.get_string("header")) {}

  void setup(RunContext& ctx) override {
    path_ = ctx.run_dir / file_;
    comm_ = stage_shared(ctx).comm;
  }
  void begin_pass(const PassInfo&) override { rows_.clear(); }

  void run(Batch& b) override {
    const auto n = static_cast<std::size_t>(b.logits.shape.empty() ? 0 : b.logits.shape[0]);
    if (n == 0) return;
    const auto k = static_cast<std::size_t>(b.logits.shape[1]);
    for (std::size_t i = 0; i < b.counted(); ++i) {
      const float* row = b.logits.data.data() + i * k;
      std::size_t best = 0;
      for (std::size_t j = 1; j < k; ++j)
        if (row[j] > row[best]) best = j;
      rows_.push_back(Row{b.index[i], b.id[i], static_cast<int>(best)});
    }
  }

  void end_pass(const PassInfo&) override {
    if (comm_ && comm_->size() > 1) gather_rows();
    const std::string tmp = path_.string() + ".tmp";
    {
      std::ofstream out(tmp);
      out << header_ << "\n";
      for (const Row& r : rows_) out << r.id << "," << r.label << "\n";
      out.flush();
      if (!out) throw Error(fmt::format("{}: cannot write predictions", tmp));
    }
    if (std::rename(tmp.c_str(), path_.c_str()) != 0)
      throw Error(fmt::format("{}: cannot move predictions into place", path_.string()));
  }

 private:
  struct Row {
    std::int64_t index = 0;  // in the split: the order of the file
    std::string id;
    int label = 0;
  };
  // A data-parallel run: every process predicted its share; all of them, in sample order.
  // Rows travel as "index label id-length\n" + the id's bytes (an id is a file name: it may hold
  // any byte but NUL, tabs and newlines included).
  void gather_rows() {
    std::string mine;
    for (const Row& r : rows_)
      mine += fmt::format("{} {} {}\n{}", r.index, r.label, r.id.size(), r.id);
    rows_.clear();
    for (const std::string& part : comm_->allgather(mine)) {
      std::size_t at = 0;
      while (at < part.size()) {
        const std::size_t nl = part.find('\n', at);
        FT_ASSERT(nl != std::string::npos);
        Row r;
        std::size_t length = 0;
        std::istringstream head(part.substr(at, nl - at));
        head >> r.index >> r.label >> length;
        FT_ASSERT(head && nl + 1 + length <= part.size());
        r.id = part.substr(nl + 1, length);
        rows_.push_back(std::move(r));
        at = nl + 1 + length;
      }
    }
    std::stable_sort(rows_.begin(), rows_.end(),
                     [](const Row& a, const Row& b) { return a.index < b.index; });
  }

  std::string file_, header_;
  std::filesystem::path path_;
  std::shared_ptr<dist::Comm> comm_;
  std::vector<Row> rows_;
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
  k.access = [](const Params&) { return Access{{col::kId, col::kIndex, col::kLogits}, {}}; };
  k.serial = true;
  k.default_splits = {Split::test};
  k.make = [](const Params& p) { return std::make_unique<Predict>(p); };
  return k;
}

}  // namespace ft

// stages/source/read_files: per-epoch order (deterministic from seed and epoch, a permutation,
// new each epoch), batch counts with drop_last, column contents, and the missing-file error.
#include "stages/source/read_files.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "kernels/io/jpeg.hpp"
#include "pipeline/error.hpp"
#include "stages/stage_shared.hpp"
#include "temp_dir.hpp"
#include "tests/hostile.hpp"

using namespace ft;

namespace {

std::unique_ptr<ReadFiles> make_stage(toml::table values) {
  static const StageKind kind = read_files_kind();
  return std::make_unique<ReadFiles>(Params(std::move(values), "read", "t.toml", &kind.params));
}

// A dataset of n files whose content is their index as text.
std::shared_ptr<DataSplits> files_dataset(const TempDir& d, int n) {
  auto s = std::make_shared<DataSplits>();
  Dataset ds;
  ds.num_classes = 3;
  for (int i = 0; i < n; ++i) {
    const std::string name = std::to_string(i) + ".jpg";
    ds.samples.push_back(Sample{name, d.write(name, std::to_string(i)), i % 3});
  }
  s->train = ds;
  s->val = ds;
  return s;
}

// Runs a whole pass; returns the dataset index of every emitted sample, in order.
std::vector<std::int64_t> run_pass(ReadFiles& st, Split split, int epoch,
                                   std::size_t* batches = nullptr) {
  const std::size_t n = st.begin_source_pass(PassInfo{split, epoch, 42, 0, 0});
  if (batches) *batches = n;
  std::vector<std::int64_t> out;
  Batch b;
  for (std::size_t seq = 0; seq < n; ++seq) {
    b.reset();
    b.seq = seq;
    b.split = split;
    b.epoch = epoch;
    st.run(b);
    REQUIRE(b.jpeg.size() == b.size());
    for (std::size_t i = 0; i < b.size(); ++i) {
      CHECK(std::string(b.jpeg.data(i), b.jpeg.data(i) + b.jpeg.length(i)) ==
            std::to_string(b.index[i]));
      CHECK(b.label[i] == b.index[i] % 3);
      CHECK(b.id[i] == std::to_string(b.index[i]) + ".jpg");
      out.push_back(b.index[i]);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("epoch order: same seed and epoch, same order; new epoch, new order; a permutation") {
  const auto a = epoch_order(1000, true, 5, 1), b = epoch_order(1000, true, 5, 1);
  const auto c = epoch_order(1000, true, 5, 2), d = epoch_order(1000, true, 6, 1);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != d);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == epoch_order(1000, false, 5, 1));
  CHECK(batch_count(10, 3, false) == 4);
  CHECK(batch_count(10, 3, true) == 3);
  CHECK(batch_count(9, 3, true) == 3);
}

TEST_CASE("read_files emits every train sample once per epoch, shuffled; val in order") {
  TempDir d("readfiles");
  auto st = make_stage(toml::table{{"batch_size", 4}});
  st->set_datasets(files_dataset(d, 10));
  std::size_t batches = 0;
  const auto e1 = run_pass(*st, Split::train, 1, &batches);
  CHECK(batches == 3);
  const auto e1_again = run_pass(*st, Split::train, 1);
  const auto e2 = run_pass(*st, Split::train, 2);
  CHECK(e1 == e1_again);
  CHECK(e1 != e2);
  auto sorted = e1;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  const auto val = run_pass(*st, Split::val, 1, &batches);
  CHECK(batches == 3);
  CHECK(val == sorted);
  CHECK(st->begin_source_pass(PassInfo{Split::test, 1, 42, 0, 0}) == 0);  // no test split
}

TEST_CASE("read_files drop_last and shuffle = false") {
  TempDir d("readfiles_drop");
  auto st = make_stage(toml::table{{"batch_size", 4}, {"drop_last", true}, {"shuffle", false}});
  st->set_datasets(files_dataset(d, 10));
  std::size_t batches = 0;
  CHECK(run_pass(*st, Split::train, 3, &batches) ==
        std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(batches == 2);
  run_pass(*st, Split::val, 3, &batches);  // drop_last is for train only
  CHECK(batches == 3);
}

TEST_CASE("read_files: a missing file is an error naming the sample and path") {
  TempDir d("readfiles_missing");
  auto data = files_dataset(d, 3);
  std::filesystem::remove(data->train->samples[1].path);
  auto st = make_stage(toml::table{{"batch_size", 8}, {"shuffle", false}});
  st->set_datasets(data);
  REQUIRE(st->begin_source_pass(PassInfo{Split::train, 1, 0, 0, 0}) == 1);
  Batch b;
  const std::string expected = "cannot read sample '1.jpg': " + (d.path / "1.jpg").string() +
                               ": cannot open: No such file or directory";
  CHECK_THROWS_WITH_AS(st->run(b), doctest::Contains(expected.c_str()), Error);
}

TEST_CASE("read_files setup reads [data] and [model] num_classes from the config") {
  TempDir d("readfiles_setup");
  d.write("img/a.jpg", "a");
  d.write("img/b.jpg", "b");
  d.write("l.csv", "Id,Label\na.jpg,0\nb.jpg,4\n");
  const toml::table cfg = toml::parse(
      "[model]\nnum_classes = 4\n[data]\ntrain = { format = \"csv\", images = \"" +
      (d.path / "img").string() + "\", labels = \"" + (d.path / "l.csv").string() + "\" }\n");
  RunContext ctx;
  ctx.config = &cfg;
  ctx.config_file = "cfg.toml";
  auto st = make_stage(toml::table{});
  CHECK_THROWS_WITH_AS(st->setup(ctx),
                       doctest::Contains("l.csv:3: label 4 of Id 'b.jpg' is out of range [0, 4)"),
                       Error);
  const toml::table cfg5 = [&] {
    toml::table t = cfg;
    t["model"].as_table()->insert_or_assign("num_classes", 5);
    return t;
  }();
  ctx.config = &cfg5;
  st->setup(ctx);
  REQUIRE(stage_shared(ctx).datasets);
  CHECK(stage_shared(ctx).datasets->train->num_classes == 5);
  CHECK(st->begin_source_pass(PassInfo{Split::train, 1, 0, 0, 0}) == 1);
}

// Hostile input: a sample's file replaced by a FIFO after the dataset was listed. The read opens
// without blocking and refuses it by name (in a child with a deadline: a regression would hang).
TEST_CASE("read_files: a FIFO in place of a sample is refused at once, named") {
  TempDir d("readfiles_fifo");
  auto data = files_dataset(d, 3);
  const auto path = data->train->samples[1].path;
  std::filesystem::remove(path);
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  auto st = make_stage(toml::table{{"batch_size", 8}, {"shuffle", false}});
  st->set_datasets(data);
  REQUIRE(st->begin_source_pass(PassInfo{Split::train, 1, 0, 0, 0}) == 1);
  const std::string expected = "cannot read sample '1.jpg': " + path.string() +
                               ": is a FIFO (named pipe), not a regular file";
  const int code = testing::run_in_child(
      [&] {
        Batch b;
        try {
          st->run(b);
        } catch (const Error& e) {
          return std::string(e.what()) == expected ? 0 : 1;
        }
        return 2;
      },
      10);
  CHECK_MESSAGE(code == 0, "exit code " << code << " (142: blocked until the 10 s alarm)");
}

TEST_CASE("read_files: [model] num_classes is bounded, exactly") {
  TempDir d("readfiles_classes");
  d.write("img/a.jpg", "a");
  d.write("l.csv", "Id,Label\na.jpg,0\n");
  for (const char* v : {"0", "1000001", "9223372036854775807", "-9223372036854775808", "2.5"}) {
    CAPTURE(v);
    const toml::table cfg = toml::parse(
        std::string("[model]\nnum_classes = ") + v + "\n[data]\ntrain = { images = \"" +
        (d.path / "img").string() + "\", labels = \"" + (d.path / "l.csv").string() + "\" }\n");
    RunContext ctx;
    ctx.config = &cfg;
    ctx.config_file = "cfg.toml";
    auto st = make_stage(toml::table{});
    CHECK_THROWS_WITH_AS(
        st->setup(ctx),
        doctest::Contains("cfg.toml:2:15: [model] num_classes must be an integer in [1, 1000000]"),
        ConfigError);
  }
}

namespace {

struct RankBatches {
  std::vector<std::vector<std::int64_t>> batches;  // counted samples of each batch
  std::vector<std::size_t> padded;                 // padding per batch
};

RankBatches rank_pass(ReadFiles& st, Split split, int epoch) {
  RankBatches out;
  const std::size_t n = st.begin_source_pass(PassInfo{split, epoch, 42, 0, 0});
  Batch b;
  for (std::size_t seq = 0; seq < n; ++seq) {
    b.reset();
    b.seq = seq;
    b.split = split;
    st.run(b);
    out.batches.emplace_back(b.index.begin(), b.index.begin() + b.counted());
    out.padded.push_back(b.padded);
  }
  return out;
}

}  // namespace

// DistributedSampler semantics: for N = 1, 2, 3 and drop_last both ways, the processes' step-i
// batches (padding aside) together hold exactly the single process's batch i.
TEST_CASE("read_files over N processes: step i of all processes = the single process's batch i") {
  TempDir d("readfiles_ranks");
  for (int n_samples : {12, 13, 17}) {
    auto data = files_dataset(d, n_samples);
    for (bool drop : {false, true}) {
      for (Split split : {Split::train, Split::val}) {
        auto single = make_stage(toml::table{{"batch_size", 6}, {"drop_last", drop}});
        single->set_datasets(data);
        const RankBatches one = rank_pass(*single, split, 2);
        for (int world : {1, 2, 3}) {
          CAPTURE(n_samples);
          CAPTURE(drop);
          CAPTURE(world);
          CAPTURE(split_name(split));
          std::vector<RankBatches> ranks;
          for (int r = 0; r < world; ++r) {
            auto st = make_stage(toml::table{{"batch_size", 6}, {"drop_last", drop}});
            st->set_datasets(data);
            st->set_processes(r, world);
            ranks.push_back(rank_pass(*st, split, 2));
          }
          // Every process takes the same number of steps, each of equal size.
          for (const auto& r : ranks) REQUIRE(r.batches.size() == ranks[0].batches.size());
          const bool cut = drop && split == Split::train;
          // Padding only happens when the order is padded to a multiple of world.
          std::size_t padding = 0;
          for (const auto& r : ranks)
            for (std::size_t p : r.padded) padding += p;
          CHECK(padding == (cut || n_samples % world == 0 ? 0 : world - n_samples % world));
          REQUIRE(ranks[0].batches.size() == one.batches.size());
          for (std::size_t i = 0; i < one.batches.size(); ++i) {
            std::multiset<std::int64_t> together;
            for (const auto& r : ranks) together.insert(r.batches[i].begin(), r.batches[i].end());
            const std::multiset<std::int64_t> expected(one.batches[i].begin(),
                                                       one.batches[i].end());
            CHECK(together == expected);
          }
        }
      }
    }
  }
}

TEST_CASE("read_files refuses a global batch the processes cannot share evenly") {
  auto st = make_stage(toml::table{{"batch_size", 10}});
  CHECK_THROWS_WITH_AS(st->set_processes(0, 3),
                       doctest::Contains("batch_size 10 is the global batch and must divide "
                                         "evenly among the 3 processes"),
                       ConfigError);
  st->set_processes(1, 2);
}

// `flowtrain pack`, `verify` and runs from shards, end to end on a tiny imported subset: a run
// from shards with shuffle = "global" equals the run from the same files bit for bit (metrics and
// every weight); a corrupt sample is named by verify and by a run, and skipped under on_error =
// "skip"; pack and --dry-run refuse bad arguments with exit code 2.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "kernels/optim/checkpoint.hpp"
#include "tests/cli/workspace.hpp"

using namespace ft::testing;
namespace fs = std::filesystem;

namespace {

CliWorkspace& ws() {
  static CliWorkspace w("shards-test", 300);
  return w;
}

// tiny.toml reading train and val from shards through read_shards.
std::string shards_config(const std::string& name, const std::string& dir) {
  std::string text = read_text(fs::path(ws().source) / "configs/tiny.toml");
  const auto swap = [&](const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, from);
    text.replace(at, from.size(), to);
  };
  swap(
      "train = { format = \"csv\", images = \"data/fashion-mnist-tiny/train\", labels = "
      "\"data/fashion-mnist-tiny/train.csv\" }",
      "train = { format = \"shards\", path = \"" + dir + "/train\" }");
  swap(
      "val   = { format = \"csv\", images = \"data/fashion-mnist-tiny/test\",  labels = "
      "\"data/fashion-mnist-tiny/test.csv\" }",
      "val = { format = \"shards\", path = \"" + dir + "/val\" }");
  swap("kind = \"read_files\"", "kind = \"read_shards\"\nshuffle = \"global\"");
  std::ofstream(ws().dir / (name + ".toml")) << text;
  return name + ".toml";
}

void pack_tiny(const std::string& dir) {
  for (const char* split : {"train", "val"}) {
    const CliResult r = ws().run("pack " + ws().config() + " --split " + split + " --out " + dir +
                                 "/" + split + " --shard-size 100KB");
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(r.out.find("packed 300 samples into") != std::string::npos);
  }
}

// metrics.csv without the timing columns (images_per_s, time_s).
std::string metrics_without_time(const std::string& run) {
  std::istringstream in(read_text(ws().dir / "runs" / run / "metrics.csv"));
  std::string line, out;
  while (std::getline(in, line)) {
    std::size_t cut = 0;
    for (int commas = 0; commas < 8 && cut != std::string::npos; ++commas)
      cut = line.find(',', cut + (commas ? 1 : 0));
    out += line.substr(0, cut) + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("shards: pack, verify, and a run from shards equals the run from files bit for bit") {
  pack_tiny("shards");
  const CliResult v = ws().run("verify shards/train");
  CHECK_MESSAGE(v.code == 0, v.err);
  CHECK(v.out.find("300 samples, all checksums match") != std::string::npos);

  const CliResult files = ws().run("run " + ws().config() + " --quiet --set run.name=files");
  REQUIRE_MESSAGE(files.code == 0, files.err);
  const CliResult shards =
      ws().run("run " + shards_config("from_shards", "shards") + " --quiet --set run.name=shards");
  REQUIRE_MESSAGE(shards.code == 0, shards.err);
  const std::string m = metrics_without_time("files");
  CHECK(m.find("epoch,val,2,") != std::string::npos);
  CHECK(m == metrics_without_time("shards"));
  const auto a = ft::optim::load_checkpoint(ws().dir / "runs/files/checkpoints/last.ckpt");
  const auto b = ft::optim::load_checkpoint(ws().dir / "runs/shards/checkpoints/last.ckpt");
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const auto it = b.tensors.find(name);
    REQUIRE_MESSAGE(it != b.tensors.end(), name);
    REQUIRE(t.data.size() == it->second.data.size());
    CHECK_MESSAGE(std::memcmp(t.data.data(), it->second.data.data(), t.data.size() * 4) == 0, name);
  }
  // The window shuffle runs too (a different order, so no equality to check).
  const CliResult w = ws().run("run " + shards_config("window", "shards") +
                               " --quiet --set run.name=window --set run.epochs=1 --set "
                               "read.shuffle=window --set read.window=64");
  CHECK_MESSAGE(w.code == 0, w.err);
}

TEST_CASE("shards: a corrupt sample is named by verify and by a run; on_error = skip drops it") {
  pack_tiny("bad");
  const std::string idx = read_text(ws().dir / "bad/train/shard-000000.idx");
  const std::size_t line2 = idx.find('\n') + 1;
  const std::uint64_t offset = std::stoull(idx.substr(line2 + 4));  // "jpg OFFSET SIZE NAME"
  {
    std::fstream f(ws().dir / "bad/train/shard-000000.tar",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset + 100));
    f.write("\x13\x37", 2);
  }
  const CliResult v = ws().run("verify bad/train");
  CHECK(v.code == 1);
  CHECK_MESSAGE(v.err.find("bad/train/shard-000000.tar: SHA-256 differs") != std::string::npos,
                v.err);
  CHECK_MESSAGE(v.err.find("shard-000000.tar: 000000000.jpg (id '00000.jpg'): checksum mismatch") !=
                    std::string::npos,
                v.err);
  const std::string cfg = shards_config("bad", "bad");
  const CliResult fail = ws().run("run " + cfg + " --quiet --set run.name=bad --set run.epochs=1");
  CHECK(fail.code == 2);
  CHECK_MESSAGE(fail.err.find("cannot read sample '00000.jpg': bad/train/shard-000000.tar:"
                              "000000000.jpg: checksum mismatch") != std::string::npos,
                fail.err);
  const CliResult skip = ws().run("run " + cfg +
                                  " --quiet --set run.name=skip --set run.epochs=1 --set "
                                  "read.on_error=skip");
  CHECK_MESSAGE(skip.code == 0, skip.err);
  CHECK(skip.err.find("read_shards: skipped 1 unreadable sample in the train pass") !=
        std::string::npos);
}

TEST_CASE("shards: pack and --dry-run refuse bad arguments with exit code 2") {
  pack_tiny("again");
  const CliResult exists = ws().run("pack " + ws().config() + " --out again/train");
  CHECK(exists.code == 2);
  CHECK(exists.err.find("'again/train' already exists") != std::string::npos);
  const CliResult size = ws().run("pack " + ws().config() + " --out x --shard-size lots");
  CHECK(size.code == 2);
  CHECK(size.err.find("shard size 'lots'") != std::string::npos);
  CHECK_FALSE(fs::exists(ws().dir / "x"));
  const CliResult nopath = ws().run("run " + ws().config() + " --dry-run --set " +
                                    quote("data.train={format=\"shards\"}"));
  CHECK(nopath.code == 2);
  CHECK(nopath.err.find("'train.path' is required with format = \"shards\"") != std::string::npos);
  const CliResult missing = ws().run("verify nowhere");
  CHECK(missing.code == 2);
}

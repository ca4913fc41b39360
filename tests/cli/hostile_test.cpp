// The flowtrain binary under hostile input, every input made on the fly (no binary blobs): a
// decompression bomb and a CMYK JPEG among the training images, a config that cannot fit in
// memory, integers beyond 2^53, a 20-digit --set index, and a FIFO or folder where a config,
// labels file or checkpoint is expected (each run under a deadline: a FIFO used to block forever).
#include "tests/hostile.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include <filesystem>
#include <string>
#include <vector>

#include "kernels/io/jpeg.hpp"
#include "tests/cli/workspace.hpp"

namespace fs = std::filesystem;
using ft::testing::CliResult;
using ft::testing::quote;

namespace {

ft::testing::CliWorkspace& ws() {
  static ft::testing::CliWorkspace w("hostile", 100);
  return w;
}

// A copy of the imported data with one training image replaced by `bytes`; returns the --set
// arguments that point the tiny config at it.
std::string data_with(const std::string& name, const std::vector<std::uint8_t>& bytes) {
  const fs::path src = ws().dir / "data/fashion-mnist-tiny", dst = ws().dir / ("data/" + name);
  fs::remove_all(dst);
  fs::copy(src, dst, fs::copy_options::recursive);
  ft::io::write_file_bytes((dst / "train/00003.jpg").string(), bytes.data(), bytes.size());
  const std::string d = "data/" + name;
  return "--set 'data.train={format=\"csv\", images=\"" + d + "/train\", labels=\"" + d +
         "/train.csv\"}' --set 'data.val={format=\"csv\", images=\"" + d + "/test\", labels=\"" +
         d + "/test.csv\"}' --set run.name=" + name + " --set run.epochs=1";
}

std::vector<std::uint8_t> gray_jpeg() {
  std::vector<std::uint8_t> px(28 * 28, 90);
  return ft::io::encode_jpeg(px.data(), 28, 28, 1);
}

}  // namespace

TEST_CASE("a decompression bomb among the images: named under fail, skipped under skip") {
  const auto bomb = ft::testing::with_claimed_size(gray_jpeg(), 65000, 65000);
  REQUIRE(!bomb.empty());
  const std::string args = data_with("bomb", bomb);
  const CliResult fail = ws().run("run " + ws().config() + " " + args);
  CHECK(fail.code == 2);
  CHECK(fail.err.find("data/bomb/train/00003.jpg") != std::string::npos);
  CHECK(fail.err.find("65000x65000 = 4225000000 pixels, over the limit of 89478485") !=
        std::string::npos);

  const CliResult skip = ws().run("run " + ws().config() + " " + args +
                                  " --set decode.on_error=skip --set run.name=bomb_skip");
  CHECK_MESSAGE(skip.code == 0, skip.err);
  CHECK(skip.err.find("decode_jpeg: skipped 1 unreadable file") != std::string::npos);
  CHECK(skip.err.find("65000x65000") != std::string::npos);
}

TEST_CASE("a CMYK JPEG among the images is decoded, not skipped as corrupt") {
  tjhandle h = tjInitCompress();
  REQUIRE(h != nullptr);
  std::vector<std::uint8_t> px(28 * 28 * 4);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 13);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  REQUIRE(tjCompress2(h, px.data(), 28, 28 * 4, 28, TJPF_CMYK, &buf, &len, TJSAMP_444, 90, 0) == 0);
  const std::vector<std::uint8_t> cmyk(buf, buf + len);
  tjFree(buf);
  tjDestroy(h);
  // The dataset is grayscale: decode to one channel (PIL's convert("L") of the RGB).
  const CliResult r = ws().run("run " + ws().config() + " " + data_with("cmyk", cmyk) +
                               " --set decode.channels=1 --set decode.on_error=skip");
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.err.find("skipped") == std::string::npos);
}

TEST_CASE("a config that cannot fit in memory is refused before training, with the estimate") {
  const CliResult r = ws().run("run " + ws().config() +
                               " --set run.name=huge --set 'model.widths=[8192, 8192, 8192]' "
                               "--set 'model.stage_blocks=[1024, 1024, 1024]'");
  CHECK(r.code == 1);
  CHECK(r.err.find("this run needs an estimated ") != std::string::npos);
  CHECK(r.err.find("TiB of memory but ") != std::string::npos);
  CHECK(r.err.find(" is available (") != std::string::npos);
  CHECK(!fs::exists(ws().dir / "runs/huge/checkpoints"));
}

TEST_CASE("integers beyond 2^53 and 20-digit --set indices are refused, named, exactly") {
  const auto err = [](const std::string& set) {
    const CliResult r = ws().run("run " + ws().config() + " --set run.name=ints --set " + set);
    CHECK(r.code == 2);
    return r.err;
  };
  CHECK(err("run.epochs=-9223372036854775808")
            .find("[run] key 'epochs': -9223372036854775808 is out of range: expected in [1, "
                  "1000000]") != std::string::npos);
  CHECK(err("model.num_classes=1000000000")
            .find("[model] key 'num_classes': 1000000000 is out of range: expected in [1, "
                  "1000000]") != std::string::npos);
  CHECK(err("read.batch_size=9007199254740993")
            .find("key 'batch_size': 9007199254740993 is out of range: expected in [1, 65536]") !=
        std::string::npos);
  // 2^32 used to be cast to int 0: a modulo by zero (SIGFPE) at the first step.
  CHECK(err("metrics.log_every=4294967296")
            .find("key 'log_every': 4294967296 is out of range: expected in [1, 1000000000]") !=
        std::string::npos);
  CHECK(err("augment.ops.99999999999999999999.size=3")
            .find("'99999999999999999999' is not an index of an array of 3 elements") !=
        std::string::npos);
  CHECK(err("'augment.ops.0.size=50000'").find("50000 is out of range: sizes are in [1, 16384]") !=
        std::string::npos);
}

TEST_CASE("a FIFO or a folder where a file is expected is refused at once, named") {
  const fs::path fifo = ws().dir / "fifo";
  fs::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  fs::create_directories(ws().dir / "folder");
  // 124: the 30 s deadline ran out (a blocking open).
  SUBCASE("config") {
    const CliResult r = ws().run("run fifo", 30);
    CHECK(r.code == 2);
    CHECK(r.err.find("fifo: the config file is a FIFO (named pipe), not a regular file") !=
          std::string::npos);
  }
  SUBCASE("labels file") {
    const CliResult r =
        ws().run("run " + ws().config() +
                     " --set run.name=fifo_labels --set 'data.train={format=\"csv\", "
                     "images=\"data/fashion-mnist-tiny/train\", labels=\"fifo\"}'",
                 30);
    CHECK(r.code == 2);
    CHECK(r.err.find("labels file fifo: is a FIFO (named pipe), not a regular file") !=
          std::string::npos);
  }
  SUBCASE("--resume checkpoint") {
    for (const char* what : {"fifo", "folder"}) {
      CAPTURE(what);
      const CliResult r = ws().run(
          "run " + ws().config() + " --set run.name=resume_" + what + " --resume " + what, 30);
      CHECK(r.code != 0);
      CHECK(r.code != 124);
      CHECK(r.err.find(std::string("checkpoint ") + what + ": is a " +
                       (what == std::string("fifo") ? "FIFO (named pipe)" : "directory") +
                       ", not a regular file") != std::string::npos);
    }
  }
}

// Checkpoint file format: round trip, every truncation rejected with its byte offset, flipped
// bytes rejected by the checksums, failed writes leave the target untouched, model mismatches
// name the tensor and both shapes; a save with copies writes the main file first, so a kill at
// any moment leaves it complete whenever a copy exists; NaN and inf are named.
#include "kernels/optim/checkpoint.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <thread>

using namespace ft::optim;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("ft_optim_test_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

Checkpoint sample() {
  Checkpoint c;
  c.tensors["model.conv.weight"] = {{2, 1, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}};
  c.tensors["model.scalar"] = {{}, {3.5f}};
  c.tensors["empty"] = {{0, 3}, {}};
  c.ints["epoch"] = 7;
  c.ints["step"] = -123456789012345;
  c.strings["config"] = "[run]\nname = \"x\"\n";
  c.strings["empty"] = "";
  return c;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const fs::path& p, const std::string& b) {
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(b.data(), static_cast<std::streamsize>(b.size()));
}

std::string load_error(const fs::path& p) {
  try {
    load_checkpoint(p);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("checkpoint round trip keeps every tensor, shape, int and string") {
  TempDir dir;
  const fs::path p = dir.path / "a.ckpt";
  save_checkpoint(sample(), p);
  const Checkpoint c = load_checkpoint(p);
  const Checkpoint want = sample();
  CHECK(c.source == p.string());
  REQUIRE(c.tensors.size() == want.tensors.size());
  for (const auto& [name, t] : want.tensors) {
    CHECK(c.tensor(name).shape == t.shape);
    CHECK(c.tensor(name).data == t.data);
  }
  CHECK(c.ints == want.ints);
  CHECK(c.strings == want.strings);
  // No temp file is left behind.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
  CHECK_THROWS_WITH_AS(c.int_value("nope"), doctest::Contains("a.ckpt: no integer 'nope'"),
                       std::runtime_error);
}

TEST_CASE("every truncation is rejected, naming the byte") {
  TempDir dir;
  const fs::path p = dir.path / "a.ckpt", t = dir.path / "t.ckpt";
  save_checkpoint(sample(), p);
  const std::string full = bytes_of(p);
  REQUIRE(full.size() > kCheckpointHeaderSize);
  // Every cut: inside the magic, inside the header, at the header's end, inside the payload.
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    write_bytes(t, full.substr(0, n));
    const std::string msg = load_error(t);
    CHECK(msg.find(t.string()) != std::string::npos);
    CHECK(msg.find("truncated at byte " + std::to_string(n)) != std::string::npos);
  }
  write_bytes(t, full + "x");
  CHECK(load_error(t).find("1 unexpected bytes after the payload") != std::string::npos);
}

TEST_CASE("a flipped byte anywhere is rejected") {
  TempDir dir;
  const fs::path p = dir.path / "a.ckpt", t = dir.path / "t.ckpt";
  save_checkpoint(sample(), p);
  const std::string full = bytes_of(p);
  for (std::size_t i = 0; i < full.size(); ++i) {
    CAPTURE(i);
    std::string b = full;
    b[i] = static_cast<char>(b[i] ^ 0x10);
    write_bytes(t, b);
    const std::string msg = load_error(t);
    if (i < 8) {
      CHECK(msg.find("wrong magic") != std::string::npos);
    } else if (i < kCheckpointHeaderSize) {
      CHECK(msg.find("header checksum mismatch") != std::string::npos);
    } else {
      CHECK(msg.find("checksum mismatch (payload corrupt)") != std::string::npos);
    }
  }
}

TEST_CASE("an unsupported version is named") {
  TempDir dir;
  const fs::path p = dir.path / "a.ckpt";
  save_checkpoint(sample(), p);
  std::string b = bytes_of(p);
  b[8] = 9;  // the version field; re-seal the header CRC so the version check is what fires
  const auto crc = static_cast<std::uint32_t>(
      crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(b.data()), 28));
  std::memcpy(b.data() + 28, &crc, 4);
  write_bytes(p, b);
  CHECK(load_error(p).find("unsupported version 9 (this build reads version 1)") !=
        std::string::npos);
  write_bytes(p, "not a checkpoint at all, just some text that is long enough");
  CHECK(load_error(p).find("wrong magic") != std::string::npos);
  CHECK(load_error(dir.path / "missing.ckpt").find("cannot open") != std::string::npos);
}

TEST_CASE("a failed write leaves the target untouched and no temp file") {
  TempDir dir;
  const fs::path p = dir.path / "a.ckpt";
  Checkpoint first = sample();
  first.ints["epoch"] = 1;
  save_checkpoint(first, p);
  const std::string before = bytes_of(p);

  // The temp path is occupied by a directory: the write cannot even start.
  fs::path tmp = p;
  tmp += ".tmp." + std::to_string(::getpid());
  fs::create_directory(tmp);
  CHECK_THROWS_WITH_AS(save_checkpoint(sample(), p), doctest::Contains("cannot create temp file"),
                       std::runtime_error);
  fs::remove(tmp);
  CHECK(bytes_of(p) == before);

  // An inconsistent tensor fails mid-write: the temp file is removed, the target kept.
  Checkpoint broken = sample();
  broken.tensors["zz.bad"] = {{2, 2}, {1, 2, 3}};
  CHECK_THROWS_WITH_AS(save_checkpoint(broken, p),
                       doctest::Contains("'zz.bad' has shape [2, 2] but 3 values"),
                       std::runtime_error);
  CHECK(bytes_of(p) == before);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  // A directory that does not exist.
  CHECK_THROWS_AS(save_checkpoint(sample(), dir.path / "no" / "such" / "a.ckpt"),
                  std::runtime_error);
  CHECK(load_checkpoint(p).ints.at("epoch") == 1);
}

TEST_CASE("a checkpoint for another model is rejected with a clear message") {
  using ft::nn::Buffer;
  using ft::nn::Parameter;
  using ft::nn::ParamRole;
  Parameter w{"conv.weight", {2, 3}, ParamRole::weight, {1, 2, 3, 4, 5, 6}, {}};
  Parameter b{"conv.bias", {2}, ParamRole::bias, {7, 8}, {}};
  Buffer rm{"bn.running_mean", {2}, {0.5f, 0.25f}};
  Checkpoint ck;
  pack_model(ck, {&w, &b}, {&rm});
  ck.source = "run/ckpt.bin";

  Parameter w2{"conv.weight", {2, 3}, ParamRole::weight, std::vector<float>(6), {}};
  Parameter b2{"conv.bias", {2}, ParamRole::bias, std::vector<float>(2), {}};
  Buffer rm2{"bn.running_mean", {2}, std::vector<float>(2)};
  unpack_model(ck, {&w2, &b2}, {&rm2});
  CHECK(w2.value == w.value);
  CHECK(rm2.value == rm.value);

  Parameter wide{"conv.weight", {3, 3}, ParamRole::weight, std::vector<float>(9, -1.0f), {}};
  Parameter extra{"fc.weight", {4}, ParamRole::weight, std::vector<float>(4), {}};
  CHECK_THROWS_WITH_AS(
      unpack_model(ck, {&wide, &b2, &extra}, {&rm2}),
      doctest::Contains("'conv.weight' has shape [2, 3] in the checkpoint but [3, 3] in the model"),
      std::runtime_error);
  CHECK(wide.value[0] == -1.0f);  // nothing copied on a mismatch
  CHECK_THROWS_WITH_AS(unpack_model(ck, {&w2, &b2, &extra}, {&rm2}),
                       doctest::Contains("missing 'fc.weight' (shape [4] in the model)"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(unpack_model(ck, {&w2}, {&rm2}),
                       doctest::Contains("run/ckpt.bin does not match the model (1 problem"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(unpack_model(ck, {&w2}, {&rm2}), doctest::Contains("unexpected 'conv.bias'"),
                       std::runtime_error);
}

TEST_CASE("save with copies: the main file first, each copy complete and atomic") {
  TempDir dir;
  const fs::path last = dir.path / "last.ckpt", epoch = dir.path / "epoch_001.ckpt";
  Checkpoint one = sample();
  one.ints["epoch"] = 1;
  save_checkpoint(one, last, {epoch});
  CHECK(bytes_of(epoch) == bytes_of(last));
  // The next save replaces last.ckpt; epoch_001.ckpt keeps the first epoch's bytes.
  Checkpoint two = sample();
  two.ints["epoch"] = 2;
  save_checkpoint(two, last);
  CHECK(load_checkpoint(epoch).ints.at("epoch") == 1);
  CHECK(load_checkpoint(last).ints.at("epoch") == 2);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 2);

  // A copy that cannot be made (its path is a directory) fails after the main file is complete:
  // the failure between the two writes leaves last.ckpt whole, and no temp file.
  const fs::path blocked = dir.path / "epoch_003.ckpt";
  fs::create_directory(blocked);
  Checkpoint three = sample();
  three.ints["epoch"] = 3;
  CHECK_THROWS_WITH_AS(save_checkpoint(three, last, {blocked}),
                       doctest::Contains("epoch_003.ckpt (a copy of"), std::runtime_error);
  CHECK(load_checkpoint(last).ints.at("epoch") == 3);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 3);
}

TEST_CASE(
    "a process killed at any moment of a save leaves last.ckpt complete whenever a copy "
    "exists") {
  // A child saves epoch after epoch (last.ckpt, then epoch_NNN.ckpt as its copy) and is killed
  // with SIGKILL after a random delay; every epoch file then has a last.ckpt at least as new.
  Checkpoint big = sample();
  big.tensors["model.big"] = {{1 << 20}, std::vector<float>(1 << 20, 0.5f)};  // 4 MB per save
  std::mt19937 rng(1234);
  int killed_after_a_copy = 0;
  for (int trial = 0; trial < 6; ++trial) {
    TempDir dir;
    const fs::path last = dir.path / "last.ckpt";
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      try {
        for (int e = 1; e < 100000; ++e) {
          big.ints["epoch"] = e;
          char name[32];
          std::snprintf(name, sizeof name, "epoch_%05d.ckpt", e);
          save_checkpoint(big, last, {dir.path / name});
        }
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 120)(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    std::int64_t newest_copy = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("epoch_", 0) == 0 && name.find(".tmp.") == std::string::npos)
        newest_copy = std::max(newest_copy, load_checkpoint(e.path()).ints.at("epoch"));
    }
    if (newest_copy > 0) {
      REQUIRE_MESSAGE(fs::exists(last), "trial " << trial << ": epoch " << newest_copy
                                                 << " exists but last.ckpt does not");
      CHECK(load_checkpoint(last).ints.at("epoch") >= newest_copy);
      ++killed_after_a_copy;
    }
  }
  CHECK(killed_after_a_copy > 0);  // else the delays were too short to test anything
}

TEST_CASE("check_finite names the first tensor holding NaN or inf") {
  Checkpoint c = sample();
  CHECK_NOTHROW(check_finite(c));
  c.source = "x.ckpt";
  c.tensors.at("model.conv.weight").data[5] = std::numeric_limits<float>::quiet_NaN();
  c.tensors.at("model.conv.weight").data[6] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(check_finite(c),
                       "checkpoint x.ckpt: tensor 'model.conv.weight' holds 2 non-finite values "
                       "(the first, at index 5, is nan); it comes from a diverged run and cannot "
                       "be loaded",
                       std::runtime_error);
  CHECK_NOTHROW(check_finite(c, "optim."));  // only the tensors under the prefix
}

// Checkpoint file format: round trip, every truncation rejected with its byte offset, flipped
// bytes rejected by the checksums, failed writes leave the target untouched, model mismatches
// name the tensor and both shapes.
#include "kernels/optim/checkpoint.hpp"

#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

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

// The safetensors reader and writer (kernels/optim/safetensors): a round trip, files written by
// hand as the format's specification lays them out (F16, BF16, I32, F64 converted to float), and
// damaged files refused with the problem named.
#include "kernels/optim/safetensors.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using ft::optim::load_safetensors;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("ft-safetensors-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// header length (u64 LE) + header + data, as a file.
fs::path write_file(const fs::path& dir, const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  for (int k = 0; k < 8; ++k) bytes[k] = static_cast<char>((header.size() >> (8 * k)) & 0xFF);
  const fs::path p = dir / "t.safetensors";
  std::ofstream(p, std::ios::binary) << bytes << header << data;
  return p;
}

std::string error_of(const fs::path& p) {
  try {
    load_safetensors(p);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors: a round trip keeps names, shapes, values, int64 buffers and metadata") {
  TempDir dir;
  const std::vector<float> w{1.5f, -2.25f, 3.0f, 0.0f, 1e-30f, -7.0f}, nbt{42.0f};
  const fs::path p = dir.path / "m.safetensors";
  ft::optim::save_safetensors(
      {{"conv.weight", {2, 3}, &w, false}, {"bn.num_batches_tracked", {}, &nbt, true}},
      {{"format", "pt"}, {"note", "a \"quoted\" value"}}, p);
  const auto f = load_safetensors(p);
  CHECK(f.tensors.at("conv.weight").shape == std::vector<std::int64_t>{2, 3});
  CHECK(f.tensors.at("conv.weight").data == w);
  CHECK(f.dtypes.at("bn.num_batches_tracked") == "I64");
  CHECK(f.tensors.at("bn.num_batches_tracked").shape.empty());
  CHECK(f.tensors.at("bn.num_batches_tracked").data == nbt);
  CHECK(f.metadata.at("note") == "a \"quoted\" value");
  CHECK((fs::file_size(p) - 8 - 6 * 4 - 8) % 8 == 0);  // the data starts 8-byte aligned
  const auto ck = ft::optim::safetensors_as_checkpoint(p);
  CHECK(ck.tensors.contains("model.conv.weight"));
}

TEST_CASE("safetensors: other dtypes a PyTorch state_dict may hold are read as float") {
  TempDir dir;
  // F16 1.0 (0x3C00), -2.0 (0xC000); BF16 1.0 (0x3F80); I32 -3; F64 0.5.
  const std::string data = std::string("\x00\x3C\x00\xC0", 4) + std::string("\x80\x3F", 2) +
                           std::string("\xFD\xFF\xFF\xFF", 4) +
                           std::string("\x00\x00\x00\x00\x00\x00\xE0\x3F", 8);
  const auto p = write_file(dir.path,
                            R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},)"
                            R"("i":{"dtype":"I32","shape":[1],"data_offsets":[6,10]},)"
                            R"("d":{"dtype":"F64","shape":[],"data_offsets":[10,18]}})",
                            data);
  const auto f = load_safetensors(p);
  CHECK(f.tensors.at("h").data == std::vector<float>{1.0f, -2.0f});
  CHECK(f.tensors.at("b").data == std::vector<float>{1.0f});
  CHECK(f.tensors.at("i").data == std::vector<float>{-3.0f});
  CHECK(f.tensors.at("d").data == std::vector<float>{0.5f});
}

TEST_CASE("safetensors: damaged files are refused naming the problem") {
  TempDir dir;
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string data(8, '\0');
  const auto refused = [&](const std::string& header, const std::string& d, const char* what) {
    const std::string e = error_of(write_file(dir.path, header, d));
    CAPTURE(header);
    CHECK(e.find("t.safetensors") != std::string::npos);
    CHECK_MESSAGE(e.find(what) != std::string::npos, e);
  };
  CHECK(error_of(write_file(dir.path, "{" + ok_entry + "}", data)).empty());
  refused("{" + ok_entry + "}", "", "outside the 0 data bytes");
  refused(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data, "needs 12");
  refused(R"({"w":{"dtype":"Q8","shape":[2],"data_offsets":[0,8]}})", data, "dtype Q8");
  refused(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data, "non-negative");
  refused(R"({"w":{"dtype":"F32","shape":[2]}})", data, "data_offsets");
  refused(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          data, "overlap");
  refused("{" + ok_entry, data, "expected '}'");
  refused("{" + ok_entry + "} x", data, "text after");
  refused(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", data, "integer");
  // A header length beyond the file.
  const fs::path p = dir.path / "short.safetensors";
  std::ofstream(p, std::ios::binary) << std::string("\xFF\xFF\x00\x00\x00\x00\x00\x00{}", 10);
  CHECK(error_of(p).find("exceeds the file") != std::string::npos);
  std::ofstream(p, std::ios::binary) << "abc";
  CHECK(error_of(p).find("shorter than the 8-byte header length") != std::string::npos);
  CHECK(error_of(dir.path / "none.safetensors").find("no such file") != std::string::npos);
}

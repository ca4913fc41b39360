// Hostile shards: a truncated shard, an index that disagrees with its tar, member names with ../
// or an absolute path, absurd sizes in tar headers and indexes, a corrupt sample (named under
// on_error = "fail", dropped and counted under "skip"), verify naming each bad shard and sample,
// and a pack killed midway.
#include <doctest/doctest.h>
#include <signal.h>

#include <cstring>

#include "pipeline/error.hpp"
#include "shard_fixture.hpp"
#include "stages/source/read_shards.hpp"
#include "stages/source/shard_manifest.hpp"
#include "stages/source/shard_verify.hpp"
#include "stages/source/tar.hpp"
#include "tests/hostile.hpp"

using namespace ft;
using namespace ft::testing;
namespace fs = std::filesystem;

namespace {

fs::path packed(const TempDir& d, int n = 8) {
  pack_shards(random_files(d, n), d.path / "out");
  return d.path / "out";
}

bool mentions(const VerifyReport& r, const std::string& a, const std::string& b) {
  for (const auto& p : r.problems)
    if (p.find(a) != std::string::npos && p.find(b) != std::string::npos) return true;
  return false;
}

// A one-member tar whose header is built by file_header and then edited by `edit`.
fs::path crafted_tar(const TempDir& d, const std::string& name,
                     const std::function<void(std::array<char, 512>&)>& edit = {}) {
  auto h = tar::file_header("x.jpg", 4);
  std::memset(h.data(), 0, 100);
  std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 100));
  if (edit) edit(h);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  std::string bytes(h.data(), 512);
  bytes += std::string("abcd") + std::string(508 + 1024, '\0');
  fs::create_directories(d.path / "crafted");
  return d.write("crafted/data.tar", bytes);
}

}  // namespace

TEST_CASE("a truncated shard is named at load, with or without a manifest") {
  TempDir d("shards_truncated");
  const fs::path out = packed(d);
  fs::resize_file(out / "shard-000000.tar", fs::file_size(out / "shard-000000.tar") / 2);
  const std::string expected =
      "shard-000000.tar: " + std::to_string(fs::file_size(out / "shard-000000.tar")) +
      " bytes, but manifest.toml says";
  CHECK_THROWS_WITH_AS(read_shard_dataset(out, 0), doctest::Contains(expected.c_str()), Error);
  const VerifyReport r = verify_shards(out);
  CHECK(mentions(r, "shard-000000.tar", "truncated"));
  fs::remove(out / kManifestName);
  CHECK_THROWS_WITH_AS(read_shard_dataset(out, 0), doctest::Contains("truncated"), Error);
}

TEST_CASE("an index that disagrees with its tar: verify names the line, a read the sample") {
  TempDir d("shards_idx_lies");
  const fs::path out = packed(d);
  std::string idx = file_text(out / "shard-000000.idx");
  const auto at = idx.find("jpg 512 ");
  idx.replace(at, 8, "jpg 1024 ");  // sample 0's jpg now points at its .cls header
  d.write("out/shard-000000.idx", idx);
  const VerifyReport r = verify_shards(out);
  CHECK(mentions(r, "shard-000000.tar", "000000000: index shard-000000.idx line 2 disagrees"));
  const Dataset ds = read_shard_dataset(out, 0);
  CHECK_THROWS_WITH_AS(bytes_of(ds, ds.samples[0]),
                       doctest::Contains("shard-000000.tar:000000000.jpg: checksum mismatch"),
                       std::runtime_error);
  CHECK(bytes_of(ds, ds.samples[1]).size() == fs::file_size(d.path / "src/1.jpg"));
  // Offsets past the end or off a block are refused at load.
  d.write("out/shard-000000.idx", "v1.2 1\njpg 99999999488 4 a.jpg\n");
  CHECK_THROWS_WITH_AS(read_shard_dataset(out, 0), doctest::Contains("lies outside"), Error);
  d.write("out/shard-000000.idx", "v1.2 1\njpg 100 4 a.jpg\n");
  CHECK_THROWS_WITH_AS(read_shard_dataset(out, 0),
                       doctest::Contains("shard-000000.idx:2: offset 100 is not on a 512-byte"),
                       Error);
  d.write("out/shard-000000.idx", "v1.2 99999999999999\n");
  CHECK_THROWS_WITH_AS(read_shard_dataset(out, 0), doctest::Contains("malformed sample count"),
                       Error);
}

TEST_CASE("member names with ../ or an absolute path are refused, named") {
  for (const std::string name : {"../evil.jpg", "/etc/evil.jpg", "a/../../b.jpg"}) {
    CAPTURE(name);
    TempDir d("shards_names");
    crafted_tar(d, name);
    CHECK_THROWS_WITH_AS(read_shard_dataset(d.path / "crafted", 0),
                         doctest::Contains(("unsafe member name '" + name + "'").c_str()), Error);
  }
  CHECK(tar::safe_member_name("dir/a..b.jpg"));
  CHECK_FALSE(tar::safe_member_name("dir/.."));
}

TEST_CASE("absurd sizes and bad checksums in tar headers are refused, not allocated") {
  TempDir d("shards_sizes");
  crafted_tar(d, "a.jpg", [](auto& h) { std::memcpy(h.data() + 124, "77777777777", 11); });
  CHECK_THROWS_WITH_AS(read_shard_dataset(d.path / "crafted", 0),
                       doctest::Contains("runs past the end"), Error);
  crafted_tar(d, "a.jpg", [](auto& h) {  // GNU base-256: 2^62 bytes
    std::memset(h.data() + 124, 0, 12);
    h[124] = static_cast<char>(0x80);
    h[128] = 0x40;
  });
  CHECK_THROWS_WITH_AS(read_shard_dataset(d.path / "crafted", 0),
                       doctest::Contains("runs past the end"), Error);
  const fs::path p = crafted_tar(d, "a.jpg");
  patch(p, 0, "b");  // the stored checksum no longer matches
  CHECK_THROWS_WITH_AS(read_shard_dataset(d.path / "crafted", 0),
                       doctest::Contains("header checksum mismatch"), Error);
  // The class member is bounded too: 100 bytes of digits are not a class index.
  TempDir e("shards_cls");
  e.write("src/k.jpg", "x");
  e.write("src/k.cls", std::string(100, '7'));
  fs::create_directories(e.path / "plain");
  REQUIRE(shell("tar -cf " + (e.path / "plain/a.tar").string() + " -C " +
                (e.path / "src").string() + " k.jpg k.cls") == 0);
  CHECK_THROWS_WITH_AS(read_shard_dataset(e.path / "plain", 0),
                       doctest::Contains("k.cls is 100 bytes, not a class index"), Error);
}

TEST_CASE("a corrupt sample: verify names shard and sample; read_shards fails or skips it") {
  TempDir d("shards_corrupt");
  const fs::path out = packed(d, 6);
  const Dataset ds = read_shard_dataset(out, 0);
  patch(ds.samples[3].path, ds.samples[3].offset + 1, "\xff\x00");
  const VerifyReport r = verify_shards(out);
  CHECK(mentions(r, "shard-000000.tar", "SHA-256 differs"));
  CHECK(mentions(r, "000000003.jpg (id 'id3')", "checksum mismatch"));
  CHECK(r.problems.size() == 2);

  auto data = std::make_shared<DataSplits>();
  data->train = ds;
  static const StageKind kind = read_shards_kind();
  for (const char* policy : {"fail", "skip"}) {
    CAPTURE(policy);
    ReadShards st(Params(toml::table{{"batch_size", 8}, {"shuffle", "none"}, {"on_error", policy}},
                         "read", "t.toml", &kind.params));
    st.set_datasets(data);
    REQUIRE(st.begin_source_pass(PassInfo{Split::train, 1, 0, 0, 0}) == 1);
    Batch b;
    if (std::string(policy) == "fail") {
      CHECK_THROWS_WITH_AS(
          st.run(b),
          doctest::Contains(("cannot read sample 'id3': " + ds.samples[3].path.string() +
                             ":000000003.jpg: checksum mismatch")
                                .c_str()),
          Error);
      continue;
    }
    st.run(b);
    CHECK(b.size() == 5);
    CHECK(b.jpeg.size() == 5);
    CHECK(std::find(b.id.begin(), b.id.end(), "id3") == b.id.end());
    REQUIRE(st.skipped_examples().size() == 1);
    CHECK(st.skipped_examples()[0].find("checksum mismatch") != std::string::npos);
  }
}

TEST_CASE("manifest trouble: a missing shard, an extra one, a manifest that is not one") {
  TempDir d("shards_manifest");
  const fs::path out = packed(d);
  fs::copy_file(out / "shard-000000.tar", out / "stray.tar");
  fs::rename(out / "shard-000000.tar", out / "gone.bin");
  const VerifyReport r = verify_shards(out);
  CHECK(mentions(r, "shard-000000.tar", "missing"));
  CHECK(mentions(r, "stray.tar", "not listed in manifest.toml"));
  CHECK_THROWS_WITH_AS(read_shard_dataset(out, 0), doctest::Contains("shard-000000.tar"), Error);
  d.write("out/manifest.toml", "format = 'something else'\n");
  CHECK_THROWS_WITH_AS(read_shard_dataset(out, 0),
                       doctest::Contains("not a flowtrain shard manifest"), Error);
  CHECK_THROWS_WITH_AS(read_shard_dataset(d.path / "nowhere", 0),
                       doctest::Contains("is not a folder"), Error);
}

TEST_CASE("a pack killed midway leaves no output folder; the next pack clears its temp folder") {
  TempDir d("shards_killed");
  const Dataset src = random_files(d, 40);
  PackOptions opt;
  opt.shard_bytes = 8 * 1024;  // several shards complete before the kill
  opt.progress = [](std::size_t done, std::size_t, std::uint64_t) {
    if (done == 30) ::kill(::getpid(), SIGKILL);
  };
  CHECK(ft::testing::run_in_child(
            [&] {
              pack_shards(src, d.path / "out", opt);
              return 0;
            },
            30) == 128 + SIGKILL);
  CHECK_FALSE(fs::exists(d.path / "out"));
  std::vector<fs::path> temps;
  for (const auto& e : fs::directory_iterator(d.path))
    if (e.path().filename().string().rfind("out.tmp-", 0) == 0) temps.push_back(e.path());
  REQUIRE(temps.size() == 1);
  CHECK(fs::exists(temps[0] / "shard-000000.tar"));  // complete shards, but no manifest:
  CHECK_FALSE(fs::exists(temps[0] / kManifestName));
  pack_shards(src, d.path / "out");
  CHECK_FALSE(fs::exists(temps[0]));
  CHECK(read_shard_dataset(d.path / "out", 0).size() == 40);
}

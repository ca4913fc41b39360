// stages/source shards: pack -> read round trip (bytes, ids, labels, order), the DALI index and
// manifest, SHA-256 against sha256sum, interoperability with GNU tar and Python's tarfile, and the
// pass orders (global = read_files' permutation; window: a permutation that stays within shards).
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "kernels/io/regular_file.hpp"
#include "pipeline/error.hpp"
#include "shard_fixture.hpp"
#include "stages/source/read_files.hpp"
#include "stages/source/read_shards.hpp"
#include "stages/source/sample_order.hpp"
#include "stages/source/sha256.hpp"
#include "stages/source/shard_manifest.hpp"
#include "stages/source/shard_verify.hpp"

using namespace ft;
using namespace ft::testing;
namespace fs = std::filesystem;

TEST_CASE("sha256: FIPS 180-2 test vectors, any split of the input") {
  Sha256 a;
  CHECK(a.hex_digest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 b;
  b.update("abc", 3);
  CHECK(b.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  Sha256 c;
  for (char ch : m) c.update(&ch, 1);
  CHECK(c.hex_digest() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("pack then read: same bytes, ids, labels and order; shards split by size") {
  TempDir d("shards_roundtrip");
  const Dataset src = random_files(d, 40);
  PackOptions opt;
  opt.shard_bytes = 16 * 1024;
  std::size_t calls = 0;
  opt.progress = [&](std::size_t done, std::size_t total, std::uint64_t) {
    CHECK(done == ++calls);
    CHECK(total == 40);
  };
  const PackSummary sum = pack_shards(src, d.path / "out", opt);
  CHECK(sum.samples == 40);
  CHECK(sum.shards > 2);
  CHECK(calls == 40);
  CHECK_FALSE(fs::exists(d.path / ("out.tmp-" + std::to_string(::getpid()))));
  const Dataset back = read_shard_dataset(d.path / "out", 0);
  REQUIRE(back.size() == 40);
  CHECK(back.num_classes == 3);
  for (std::size_t i = 0; i < 40; ++i) {
    CAPTURE(i);
    CHECK(back.samples[i].id == src.samples[i].id);
    CHECK(back.samples[i].label == src.samples[i].label);
    CHECK(back.samples[i].offset % 512 == 0);
    CHECK(bytes_of(back, back.samples[i]) == file_text(src.samples[i].path));
  }
  for (const auto& e : fs::directory_iterator(d.path / "out"))
    if (e.path().extension() == ".tar") CHECK(fs::file_size(e.path()) <= opt.shard_bytes);
  // Each shard's sha256 in the manifest is what sha256sum computes.
  const Manifest m = read_manifest(d.path / "out" / kManifestName);
  REQUIRE(m.shards.size() == sum.shards);
  const fs::path sums = d.path / "sums.txt";
  REQUIRE(shell("sha256sum " + (d.path / "out" / m.shards[1].tar).string() + " > " +
                sums.string()) == 0);
  CHECK(file_text(sums).substr(0, 64) == m.shards[1].sha256);
  CHECK(verify_shards(d.path / "out").ok());
  // A pack never replaces an existing folder.
  CHECK_THROWS_WITH_AS(pack_shards(src, d.path / "out"), doctest::Contains("already exists"),
                       Error);
}

TEST_CASE("the .idx beside each shard is DALI's v1.2 format and matches the tar") {
  TempDir d("shards_idx");
  pack_shards(random_files(d, 5), d.path / "out");
  const std::string idx = file_text(d.path / "out/shard-000000.idx");
  CHECK(idx.rfind("v1.2 5\njpg 512 ", 0) == 0);
  const auto parsed = parse_wds_index(idx, "x.idx");
  REQUIRE(parsed.size() == 5);
  CHECK(parsed[0].key == "000000000");
  CHECK(parsed[0].components[1].ext == "cls");
  CHECK(parsed[0].components[1].name == "000000000.cls");
  CHECK(format_wds_index(parsed) == idx);
  std::size_t size = 0;
  const std::string tar_path = (d.path / "out/shard-000000.tar").string();
  const int fd = io::open_regular_file(tar_path, &size);
  const auto from_tar = group_members(tar::list_members(fd, size, tar_path));
  ::close(fd);
  CHECK(format_wds_index(from_tar) == idx);
}

TEST_CASE("python tarfile reads flowtrain's shards; every KEY.jpg equals its source file") {
  TempDir d("shards_python");
  const Dataset src = random_files(d, 30);
  PackOptions opt;
  opt.shard_bytes = 20 * 1024;
  pack_shards(src, d.path / "out", opt);
  const std::string script =
      "import tarfile, glob, os, sys\n"
      "out = sys.argv[2]\n"
      "for p in sorted(glob.glob(os.path.join(sys.argv[1], '*.tar'))):\n"
      "    with tarfile.open(p) as t:\n"
      "        for m in t.getmembers():\n"
      "            open(os.path.join(out, m.name), 'wb').write(t.extractfile(m).read())\n";
  d.write("read.py", script);
  fs::create_directories(d.path / "py");
  REQUIRE(shell("python3 " + (d.path / "read.py").string() + " " + (d.path / "out").string() + " " +
                (d.path / "py").string()) == 0);
  for (std::size_t i = 0; i < src.size(); ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "%09zu", i);
    CHECK(file_text(d.path / "py" / (std::string(key) + ".jpg")) == file_text(src.samples[i].path));
    CHECK(file_text(d.path / "py" / (std::string(key) + ".cls")) ==
          std::to_string(src.samples[i].label));
  }
}

TEST_CASE("a tar made by the tar command from KEY.jpg/KEY.cls files is read, long names too") {
  TempDir d("shards_gnutar");
  const std::string long_key(130, 'k');  // past ustar's 100 bytes: GNU tar writes a long name
  std::vector<std::string> keys = {"a0", "b1", long_key};
  std::string list;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    d.write("src/" + keys[i] + ".jpg", "jpeg bytes of " + keys[i] + std::string(i * 700, 'x'));
    d.write("src/" + keys[i] + ".cls", std::to_string(i + 4) + "\n");
    list += " " + keys[i] + ".jpg " + keys[i] + ".cls";
  }
  fs::create_directories(d.path / "plain");
  REQUIRE(shell("tar -cf " + (d.path / "plain/data.tar").string() + " -C " +
                (d.path / "src").string() + list) == 0);
  const Dataset ds = read_shard_dataset(d.path / "plain", 0);
  REQUIRE(ds.size() == 3);
  CHECK(ds.num_classes == 7);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(ds.samples[i].id == keys[i]);
    CHECK(ds.samples[i].label == static_cast<int>(i + 4));
    CHECK(bytes_of(ds, ds.samples[i]) == file_text(d.path / "src" / (keys[i] + ".jpg")));
  }
  // Without a manifest verify still checks the structure.
  const VerifyReport r = verify_shards(d.path / "plain");
  CHECK(r.ok());
  CHECK(r.samples == 3);
}

TEST_CASE("global order from shards is read_files' order; window order stays within shards") {
  TempDir d("shards_order");
  PackOptions opt;
  opt.shard_bytes = 16 * 1024;
  pack_shards(random_files(d, 60), d.path / "out", opt);
  const Dataset ds = read_shard_dataset(d.path / "out", 0);
  CHECK(sample_order(ds, {ShuffleMode::global, 0}, 9, 2) == epoch_order(60, true, 9, 2));
  CHECK(sample_order(ds, {}, 9, 2) == epoch_order(60, false, 9, 2));

  const std::vector<std::size_t> groups = {100, 100, 100};
  const auto a = window_order(groups, 10, 5, 1);
  CHECK(a == window_order(groups, 10, 5, 1));
  CHECK(a != window_order(groups, 10, 5, 2));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 300; ++i) REQUIRE(sorted[i] == i);
  // The first 90 come from the first shard visited (the buffer holds 11 at most).
  std::set<std::uint32_t> first_group;
  for (std::size_t i = 0; i < 90; ++i) first_group.insert(a[i] / 100);
  CHECK(first_group.size() == 1);
  CHECK(a != std::vector<std::uint32_t>(sorted.begin(), sorted.end()));
  // window 1 over one group: still a permutation.
  auto w1 = window_order({7}, 1, 3, 1);
  std::sort(w1.begin(), w1.end());
  CHECK(w1 == epoch_order(7, false, 0, 0));
}

TEST_CASE("POSIX ustar (name split into prefix/name) and pax (path records) tars are read") {
  TempDir d("shards_formats");
  const std::string dir(70, 'd'), key(70, 'k');  // dir/key.jpg: 145 bytes, past ustar's 100
  d.write("src/" + dir + "/" + key + ".jpg", "the jpeg");
  d.write("src/" + dir + "/" + key + ".cls", "2");
  for (const char* format : {"ustar", "pax", "gnu"}) {
    CAPTURE(format);
    const fs::path out = d.path / format;
    fs::create_directories(out);
    REQUIRE(shell("tar --format=" + std::string(format) + " -cf " + (out / "a.tar").string() +
                  " -C " + (d.path / "src").string() + " " + dir + "/" + key + ".jpg " + dir + "/" +
                  key + ".cls") == 0);
    const Dataset ds = read_shard_dataset(out, 0);
    REQUIRE(ds.size() == 1);
    CHECK(ds.samples[0].id == dir + "/" + key);
    CHECK(ds.samples[0].label == 2);
    CHECK(bytes_of(ds, ds.samples[0]) == "the jpeg");
  }
}

TEST_CASE("read_shards in a data-parallel run: each process its DistributedSampler share") {
  TempDir d("shards_ranks");
  PackOptions opt;
  opt.shard_bytes = 16 * 1024;
  pack_shards(random_files(d, 30), d.path / "out", opt);
  auto data = std::make_shared<DataSplits>();
  data->train = read_shard_dataset(d.path / "out", 0);
  static const StageKind kind = read_shards_kind();
  for (const char* order : {"global", "window"}) {
    CAPTURE(order);
    const auto pass = [&](int rank, int world) {
      ReadShards st(Params(toml::table{{"batch_size", 6}, {"shuffle", order}, {"window", 8}},
                           "read", "t.toml", &kind.params));
      st.set_datasets(data);
      st.set_processes(rank, world);
      std::vector<std::int64_t> seen;
      const std::size_t n = st.begin_source_pass(PassInfo{Split::train, 3, 11, 0, 0});
      for (std::size_t seq = 0; seq < n; ++seq) {
        Batch b;
        b.seq = seq;
        st.run(b);
        for (std::size_t i = 0; i < b.size(); ++i) {
          CHECK(bytes_of(*data->train, data->train->samples[b.index[i]]) ==
                std::string(b.jpeg.data(i), b.jpeg.data(i) + b.jpeg.length(i)));
          seen.push_back(b.index[i]);
        }
      }
      return seen;
    };
    const auto one = pass(0, 1), r0 = pass(0, 2), r1 = pass(1, 2);
    REQUIRE(one.size() == 30);
    REQUIRE(r0.size() == 15);
    REQUIRE(r1.size() == 15);
    for (std::size_t k = 0; k < 30; ++k) CHECK(one[k] == (k % 2 ? r1 : r0)[k / 2]);
  }
}

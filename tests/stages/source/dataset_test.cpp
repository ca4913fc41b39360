// stages/source/dataset: the CSV layout (and each of its errors, with file and line asserted),
// ImageFolder ordering as torchvision's, unlabeled folders, and the deterministic holdout split.
#include "stages/source/dataset.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>

#include "pipeline/error.hpp"
#include "temp_dir.hpp"
#include "tests/hostile.hpp"

using namespace ft;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TempDir csv_fixture(const std::string& csv) {
  TempDir d("csv");
  for (const char* f : {"a.jpg", "b.jpg", "c.jpg", "d.png"}) d.write(std::string("img/") + f, "x");
  d.write("labels.csv", csv);
  return d;
}

}  // namespace

TEST_CASE("CSV layout: rows in file order, CRLF and blank lines tolerated, Id without extension") {
  const TempDir d = csv_fixture("Id,Label\r\na.jpg,2\r\nc,0\r\n\r\nb.jpg,1\r\n");
  const Dataset ds = read_csv_dataset(d.path / "img", d.path / "labels.csv");
  REQUIRE(ds.size() == 3);
  CHECK(ds.samples[0].id == "a.jpg");
  CHECK(ds.samples[0].label == 2);
  CHECK(ds.samples[1].id == "c");
  CHECK(ds.samples[1].path == d.path / "img" / "c.jpg");
  CHECK(ds.samples[2].label == 1);
  CHECK(ds.num_classes == 3);  // inferred: max label + 1
  CHECK(read_csv_dataset(d.path / "img", d.path / "labels.csv", 10).num_classes == 10);
}

TEST_CASE("CSV layout errors name the file and the line") {
  const auto err = [](const std::string& csv, int num_classes = 10) {
    const TempDir d = csv_fixture(csv);
    const std::string msg =
        error_of([&] { read_csv_dataset(d.path / "img", d.path / "labels.csv", num_classes); });
    const std::string file = (d.path / "labels.csv").string();
    REQUIRE_MESSAGE(msg.rfind(file + ":", 0) == 0, msg);
    return msg.substr(file.size());
  };
  CHECK(err("a.jpg,1\n") == ":1: expected the header 'Id,Label', found 'a.jpg,1'");
  CHECK(err("") == ":1: expected the header 'Id,Label', found an empty file");
  CHECK(err("Id,Label\na.jpg,1\nb.jpg,1,7\n") ==
        ":3: malformed row 'b.jpg,1,7' (expected 'Id,Label': two fields)");
  CHECK(err("Id,Label\na.jpg 1\n") ==
        ":2: malformed row 'a.jpg 1' (expected 'Id,Label': two fields)");
  CHECK(err("Id,Label\n,1\n") == ":2: malformed row ',1' (empty Id)");
  CHECK(err("Id,Label\na.jpg,cat\n") == ":2: label 'cat' of Id 'a.jpg' is not an integer");
  CHECK(err("Id,Label\na.jpg,1.5\n") == ":2: label '1.5' of Id 'a.jpg' is not an integer");
  CHECK(err("Id,Label\na.jpg,1\nb.jpg,10\n") ==
        ":3: label 10 of Id 'b.jpg' is out of range [0, 10) (num_classes = 10)");
  CHECK(err("Id,Label\na.jpg,-1\n", 0) == ":2: label -1 of Id 'a.jpg' is out of range [0, inf)");
  CHECK(err("Id,Label\na.jpg,1\nb.jpg,2\na.jpg,3\n") ==
        ":4: duplicate Id 'a.jpg' (first on line 2)");
  const std::string missing = err("Id,Label\na.jpg,1\nzz.jpg,2\nyy.jpg,2\n");
  CHECK(missing.rfind(":3: file 'zz.jpg' not found in '", 0) == 0);
  CHECK(missing.find("(and 1 more missing)") != std::string::npos);
  CHECK(err("Id,Label\n") == ": no samples (only a header)");

  const TempDir d("csv_nodir");
  CHECK(error_of([&] {
          read_csv_dataset(d.path / "none", d.path / "x.csv");
        }).find("images folder '" + (d.path / "none").string() + "' is not a folder") == 0);
}

TEST_CASE("ImageFolder: classes and files in torchvision's order") {
  TempDir d("imagefolder");
  for (const char* f :
       {"b/2.jpg", "b/10.jpg", "a/z.JPEG", "a/sub/a.jpg", "a/b.jpg", "a/notes.txt", "B/x.jpg"})
    d.write(f, "x");
  const Dataset ds = read_image_folder(d.path);
  CHECK(ds.class_names == std::vector<std::string>{"B", "a", "b"});  // sorted by code point
  CHECK(ds.num_classes == 3);
  std::vector<std::string> ids;
  std::vector<int> labels;
  for (const auto& s : ds.samples) {
    ids.push_back(s.id);
    labels.push_back(s.label);
  }
  // torchvision: sorted(os.walk(class_dir)) then sorted(fnames): "a" before "a/sub", and within a
  // folder plain string order ("10.jpg" < "2.jpg").
  CHECK(ids == std::vector<std::string>{"B/x.jpg", "a/b.jpg", "a/z.JPEG", "a/sub/a.jpg", "b/10.jpg",
                                        "b/2.jpg"});
  CHECK(labels == std::vector<int>{0, 1, 1, 1, 2, 2});
  CHECK(error_of([&] {
          read_image_folder(d.path, 5);
        }).find("has 3 class folders but num_classes = 5") != std::string::npos);
  d.write("empty/readme.txt", "x");
  CHECK(error_of([&] { read_image_folder(d.path); }).find("empty' holds no .jpg/.jpeg file") !=
        std::string::npos);
}

TEST_CASE("unlabeled folder: JPEG files sorted by name, label -1") {
  TempDir d("unlabeled");
  for (const char* f : {"b.jpg", "a.JPG", "c.jpeg", "d.png", "sub/e.jpg"}) d.write(f, "x");
  const Dataset ds = read_unlabeled_folder(d.path);
  REQUIRE(ds.size() == 3);
  CHECK(ds.samples[0].id == "a.JPG");
  CHECK(ds.samples[1].id == "b.jpg");
  CHECK(ds.samples[2].id == "c.jpeg");
  CHECK(ds.samples[2].label == -1);
}

TEST_CASE("holdout split is deterministic, disjoint, complete and order-preserving") {
  Dataset all;
  all.num_classes = 4;
  for (int i = 0; i < 1000; ++i) all.samples.push_back(Sample{std::to_string(i), "p", i % 4});
  const HoldoutSplit a = holdout_split(all, 0.1, 7), b = holdout_split(all, 0.1, 7),
                     c = holdout_split(all, 0.1, 8);
  CHECK(a.val.size() == 100);
  CHECK(a.train.size() == 900);
  CHECK(a.train.num_classes == 4);
  const auto ids = [](const Dataset& d) {
    std::vector<std::string> v;
    for (const auto& s : d.samples) v.push_back(s.id);
    return v;
  };
  CHECK(ids(a.val) == ids(b.val));
  CHECK(ids(a.val) != ids(c.val));
  std::set<std::string> seen;
  for (const auto& s : ids(a.train)) seen.insert(s);
  for (const auto& s : ids(a.val)) CHECK(seen.insert(s).second);
  CHECK(seen.size() == 1000);
  const auto as_int = [&](const Dataset& d) {
    std::vector<int> v;
    for (const auto& s : d.samples) v.push_back(std::stoi(s.id));
    return v;
  };
  const auto train_ids = as_int(a.train), val_ids = as_int(a.val);
  CHECK(std::is_sorted(train_ids.begin(), train_ids.end()));
  CHECK(std::is_sorted(val_ids.begin(), val_ids.end()));
}

// Hostile input: a FIFO (or device, or folder) where a data file is expected. Opening a FIFO for
// reading waits for a writer, so these run in a child with a deadline: a regression shows as exit
// code 142 (SIGALRM) instead of a hung test.
TEST_CASE("CSV layout: only regular files are data; a FIFO, device or folder is named") {
  const TempDir d = csv_fixture("Id,Label\na.jpg,0\n");
  const std::string img = (d.path / "img").string();
  const auto child_error = [](const std::function<void()>& f, const std::string& expected) {
    return testing::run_in_child(
        [&] {
          const std::string m = error_of(f);
          return m == expected ? 0 : (std::fprintf(stderr, "got: %s\n", m.c_str()), 1);
        },
        10);
  };

  SUBCASE("the labels file is a FIFO") {
    const auto fifo = d.path / "fifo.csv";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(child_error([&] { read_csv_dataset(d.path / "img", fifo); },
                      "labels file " + fifo.string() +
                          ": is a FIFO (named pipe), not a regular file") == 0);
  }
  SUBCASE("the labels file is a folder") {
    CHECK(error_of([&] { read_csv_dataset(d.path / "img", d.path / "img"); }) ==
          "labels file " + img + ": is a directory, not a regular file");
  }
  SUBCASE("a row names a FIFO, a folder or a dangling link") {
    REQUIRE(::mkfifo((d.path / "img" / "p.jpg").c_str(), 0600) == 0);
    std::filesystem::create_directories(d.path / "img" / "sub.jpg");
    std::filesystem::create_symlink(d.path / "nowhere.jpg", d.path / "img" / "gone.jpg");
    const auto labels = d.write("rows.csv", "Id,Label\na.jpg,0\np,1\n");
    CHECK(child_error([&] { read_csv_dataset(d.path / "img", labels); },
                      labels.string() + ":3: file 'p.jpg' in '" + img +
                          "' is a FIFO (named pipe), not a regular file") == 0);
    const auto labels2 = d.write("rows2.csv", "Id,Label\nsub.jpg,0\n");
    CHECK(error_of([&] { read_csv_dataset(d.path / "img", labels2); }) ==
          labels2.string() + ":2: file 'sub.jpg' in '" + img +
              "' is a directory, not a regular file");
    const auto labels3 = d.write("rows3.csv", "Id,Label\ngone.jpg,0\n");
    CHECK(error_of([&] { read_csv_dataset(d.path / "img", labels3); }) ==
          labels3.string() + ":2: file 'gone.jpg' in '" + img +
              "' is a dangling link, not a regular file");
  }
}

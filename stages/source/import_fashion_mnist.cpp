// Fashion-MNIST importer: IDX (gzip) -> JPEG files + CSV, written into a temp folder and renamed
// into place at the end. TBB parallelises the JPEG encoding and the file writes. It removes only
// what an import wrote: an earlier import's files (known from its marker), and its own temp
// folders left by a killed import (<out>.tmp-PID, <out>.old-PID of a process no longer alive).
#include "stages/source/import_fashion_mnist.hpp"

#include <signal.h>
#include <tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "kernels/io/idx.hpp"
#include "kernels/io/jpeg.hpp"
#include "pipeline/error.hpp"

namespace fs = std::filesystem;

namespace ft {

namespace {

constexpr const char* kMarker = ".flowtrain-import";
constexpr int kQuality = 95;

std::string marker_text(std::size_t train, std::size_t test, std::size_t limit) {
  std::ostringstream s;
  s << "fashion-mnist format=1 quality=" << kQuality << " limit=" << limit << " train=" << train
    << " test=" << test << "\n";
  return s.str();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string fmt_more(std::size_t n) { return " and " + std::to_string(n) + " more"; }

std::string file_name(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05zu.jpg", i);
  return buf;
}

// Writes one split: n images into dir/<split>/, labels into dir/<split>.csv.
void write_split(const fs::path& dir, const std::string& split, const io::IdxArray& images,
                 const io::IdxArray& labels, std::size_t n) {
  const int rows = static_cast<int>(images.dims[1]), cols = static_cast<int>(images.dims[2]);
  const std::size_t stride = static_cast<std::size_t>(rows) * cols;
  const fs::path img_dir = dir / split;
  fs::create_directories(img_dir);
  tbb::parallel_for(
      tbb::blocked_range<std::size_t>(0, n, 256), [&](const tbb::blocked_range<std::size_t>& r) {
        for (std::size_t i = r.begin(); i != r.end(); ++i) {
          const auto jpg =
              io::encode_jpeg(images.data.data() + i * stride, rows, cols, 1, kQuality);
          try {
            io::write_file_bytes((img_dir / file_name(i)).string(), jpg.data(), jpg.size());
          } catch (const std::runtime_error& e) {
            throw Error(std::string("import fashion-mnist: ") + e.what());
          }
        }
      });
  const fs::path csv = dir / (split + ".csv");
  std::ofstream out(csv, std::ios::binary);
  out << "Id,Label\n";
  for (std::size_t i = 0; i < n; ++i) out << file_name(i) << ',' << int(labels.data[i]) << '\n';
  out.close();
  if (!out) throw Error("import fashion-mnist: writing '" + csv.string() + "' failed (disk full?)");
}

// The files an import wrote, from its marker's counts.
struct ImportedFiles {
  std::size_t train = 0, test = 0;
  bool known = false;
};

// A count in the marker: digits only.
bool parse_count(const std::string& text, std::size_t& n) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  n = std::stoul(text);
  return true;
}

ImportedFiles parse_marker(const std::string& text) {
  ImportedFiles f;
  if (text.rfind("fashion-mnist ", 0) != 0) return f;
  std::istringstream in(text);
  int found = 0;
  for (std::string word; in >> word;) {
    if (word.rfind("train=", 0) == 0) found += parse_count(word.substr(6), f.train);
    if (word.rfind("test=", 0) == 0) found += parse_count(word.substr(5), f.test);
  }
  f.known = found == 2;
  return f;
}

// Whether the import `f` wrote the entry at `rel` (relative to its folder).
bool written_by(const ImportedFiles& f, const fs::path& rel, bool is_dir) {
  if (rel == "train" || rel == "test") return is_dir;
  if (rel == kMarker || rel == "train.csv" || rel == "test.csv") return !is_dir;
  const fs::path split = *rel.begin();
  if (is_dir || std::distance(rel.begin(), rel.end()) != 2 || (split != "train" && split != "test"))
    return false;
  const std::string name = rel.filename().string();
  std::size_t i = 0;
  const auto dot = name.find('.');
  return dot != std::string::npos && parse_count(name.substr(0, dot), i) &&
         i < (split == "train" ? f.train : f.test) && name == file_name(i);
}

// Entries of `dir` (recursively) that the import described by `f` did not write.
std::vector<std::string> foreign_entries(const fs::path& dir, const ImportedFiles& f) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const bool is_dir = it->is_directory(ec) && !it->is_symlink(ec);
    const fs::path rel = it->path().lexically_relative(dir);
    if (written_by(f, rel, is_dir)) continue;
    out.push_back(rel.string() + (is_dir ? "/" : ""));
    if (is_dir) it.disable_recursion_pending();
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Removes the files of the import `f` from `dir`, file by file, then the folders if empty:
// anything else stays. Returns false when something was left.
bool remove_import(const fs::path& dir, const ImportedFiles& f) {
  std::error_code ec;
  for (const auto& [split, n] : {std::pair<const char*, std::size_t>{"train", f.train},
                                 std::pair<const char*, std::size_t>{"test", f.test}}) {
    for (std::size_t i = 0; i < n; ++i) fs::remove(dir / split / file_name(i), ec);
    fs::remove(dir / (std::string(split) + ".csv"), ec);
    fs::remove(dir / split, ec);  // only when empty
  }
  fs::remove(dir / kMarker, ec);
  return fs::remove(dir, ec) || !fs::exists(dir);
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

// <out>.tmp-PID and <out>.old-PID folders of imports that were killed (their process is gone).
void remove_stale_folders(const fs::path& parent, const std::string& out_name) {
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    for (const char* kind : {".tmp-", ".old-"}) {
      const std::string prefix = out_name + kind;
      if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) continue;
      const std::string digits = name.substr(prefix.size());
      if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9)
        continue;
      const long pid = std::stol(digits);
      if (pid == ::getpid() || process_alive(pid) || !it->is_directory(ec)) continue;
      std::error_code rm;
      if (std::string(kind) == ".tmp-") {
        fs::remove_all(it->path(), rm);  // a half-written import: all of it is ours
      } else {
        // A complete earlier import set aside for replacement: its own files only.
        const ImportedFiles f = parse_marker(read_text(it->path() / kMarker));
        if (!f.known || !remove_import(it->path(), f))
          std::cerr << "flowtrain: import fashion-mnist: left " << it->path().string()
                    << " (a killed import's old folder that holds files it did not write)\n";
      }
    }
  }
}

}  // namespace

ImportSummary import_fashion_mnist(const fs::path& idx_dir, const fs::path& out_dir,
                                   std::size_t limit) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto read = [&](const char* name, bool images) {
    const std::string p = (idx_dir / name).string();
    try {
      return images ? io::read_idx_images(p) : io::read_idx_labels(p);
    } catch (const std::runtime_error& e) {
      throw Error(std::string("import fashion-mnist: ") + e.what() +
                      " (install the Debian package dataset-fashion-mnist)",
                  2);
    }
  };
  // Labels first: cheap, and they give the counts that decide whether work can be skipped.
  const io::IdxArray train_labels = read("train-labels-idx1-ubyte.gz", false);
  const io::IdxArray test_labels = read("t10k-labels-idx1-ubyte.gz", false);
  const auto count = [&](std::size_t n) { return limit > 0 ? std::min(limit, n) : n; };
  ImportSummary sum;
  sum.train = count(train_labels.dims[0]);
  sum.test = count(test_labels.dims[0]);
  const std::string marker = marker_text(sum.train, sum.test, limit);

  std::error_code ec;
  fs::path parent = out_dir.parent_path();
  if (parent.empty()) parent = ".";
  if (fs::exists(parent, ec)) remove_stale_folders(parent, out_dir.filename().string());
  if (fs::exists(out_dir, ec)) {
    if (fs::exists(out_dir / kMarker) && read_text(out_dir / kMarker) == marker) {
      sum.skipped = true;
      return sum;
    }
    if (!fs::exists(out_dir / kMarker))
      throw Error("import fashion-mnist: '" + out_dir.string() +
                      "' exists and is not a flowtrain import; remove it or choose another --out",
                  2);
    // Replacing an earlier import removes what it wrote, nothing else: files the user added
    // there must be moved away first.
    const ImportedFiles old = parse_marker(read_text(out_dir / kMarker));
    const std::vector<std::string> foreign =
        old.known ? foreign_entries(out_dir, old) : std::vector<std::string>{"(unreadable marker)"};
    if (!foreign.empty()) {
      std::string list;
      for (std::size_t i = 0; i < std::min<std::size_t>(foreign.size(), 5); ++i)
        list += (i ? ", " : "") + foreign[i];
      if (foreign.size() > 5) list += fmt_more(foreign.size() - 5);
      throw Error("import fashion-mnist: '" + out_dir.string() +
                      "' holds an earlier import and files it did not write (" + list +
                      "); replacing the import would remove them: move them away or choose "
                      "another --out",
                  2);
    }
  }

  const io::IdxArray train_images = read("train-images-idx3-ubyte.gz", true);
  const io::IdxArray test_images = read("t10k-images-idx3-ubyte.gz", true);
  if (train_images.dims[0] != train_labels.dims[0] || test_images.dims[0] != test_labels.dims[0])
    throw Error("import fashion-mnist: image and label counts differ in '" + idx_dir.string() + "'",
                2);

  fs::create_directories(parent);
  const fs::path tmp =
      parent / (out_dir.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    write_split(tmp, "train", train_images, train_labels, sum.train);
    write_split(tmp, "test", test_images, test_labels, sum.test);
    std::ofstream(tmp / kMarker) << marker;
    if (fs::exists(out_dir)) {
      // Replace an older import (it carries our marker and nothing else): move it aside first
      // so that out_dir is never a mixture of the two, then remove its files one by one.
      const ImportedFiles previous = parse_marker(read_text(out_dir / kMarker));
      const fs::path old =
          parent / (out_dir.filename().string() + ".old-" + std::to_string(::getpid()));
      fs::rename(out_dir, old);
      fs::rename(tmp, out_dir);
      if (!remove_import(old, previous))
        std::cerr << "flowtrain: import fashion-mnist: left " << old.string()
                  << ": files appeared in the earlier import while it was replaced\n";
    } else {
      fs::rename(tmp, out_dir);
    }
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw Error(std::string("import fashion-mnist: ") + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace ft

// Dataset readers (CSV layout, ImageFolder, unlabeled folder), the holdout split and the `[data]`
// config table. Data errors are ft::Error with exit code 2 (the input is wrong), naming file:line.
#include "stages/source/dataset.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "kernels/io/regular_file.hpp"
#include "kernels/random/philox.hpp"
#include "pipeline/error.hpp"
#include "stages/source/shards.hpp"

namespace fs = std::filesystem;

namespace ft {

namespace {

// Philox op index of the holdout draw (op indices of augment ops are small; this stays clear).
constexpr std::uint32_t kHoldoutOp = 0xA1;

[[noreturn]] void data_error(const std::string& msg) { throw Error(msg, 2); }

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  std::string out(s.substr(b, e - b + 1));
  if (out.size() >= 2 && out.front() == '"' && out.back() == '"')
    out = out.substr(1, out.size() - 2);
  return out;
}

bool is_jpeg_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg";
}

void require_dir(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    data_error(what + " '" + dir.string() + "' is not a folder (or does not exist)");
}

std::vector<std::string> class_index_names(int k) {
  std::vector<std::string> names;
  for (int i = 0; i < k; ++i) names.push_back(std::to_string(i));
  return names;
}

}  // namespace

Dataset read_csv_dataset(const fs::path& images, const fs::path& labels, int num_classes) {
  require_dir(images, "images folder");
  std::string text;
  try {
    text = io::read_regular_file(labels.string());
  } catch (const std::runtime_error& e) {
    data_error("labels file " + std::string(e.what()));
  }
  std::istringstream in(text);
  const std::string where = labels.string();

  // One directory listing instead of a stat per row: 60k rows stay fast (the entry's type comes
  // with the listing). Only regular files (or links to them) count as images; a FIFO or device
  // named by a row is an error here rather than a read that blocks later.
  std::unordered_set<std::string> on_disk;
  std::unordered_map<std::string, std::string> not_regular;
  for (const auto& e : fs::directory_iterator(images)) {
    std::error_code ec;
    const fs::file_status st = e.status(ec);
    std::string name = e.path().filename().string();
    if (!ec && fs::is_regular_file(st)) {
      on_disk.insert(std::move(name));
    } else {
      const fs::file_type t = st.type();
      not_regular.emplace(std::move(name), t == fs::file_type::directory   ? "a directory"
                                           : t == fs::file_type::fifo      ? "a FIFO (named pipe)"
                                           : t == fs::file_type::character ? "a character device"
                                           : t == fs::file_type::block     ? "a block device"
                                           : t == fs::file_type::socket    ? "a socket"
                                           : t == fs::file_type::not_found ? "a dangling link"
                                                                           : "not a regular file");
    }
  }

  Dataset ds;
  ds.origin = where;
  std::unordered_map<std::string, int> first_line;
  std::string line, first_missing;
  int missing = 0, first_missing_line = 0, max_label = -1;
  int line_no = 0;
  bool header = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line = line.substr(3);  // UTF-8 BOM
    if (trim(line).empty()) continue;
    const std::string at = where + ":" + std::to_string(line_no) + ": ";
    const auto comma = line.find(',');
    if (!header) {
      std::string h = line;
      std::transform(h.begin(), h.end(), h.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (comma == std::string::npos || trim(h.substr(0, comma)) != "id" ||
          trim(h.substr(comma + 1)) != "label")
        data_error(at + "expected the header 'Id,Label', found '" + trim(line) + "'");
      header = true;
      continue;
    }
    if (comma == std::string::npos || line.find(',', comma + 1) != std::string::npos)
      data_error(at + "malformed row '" + trim(line) + "' (expected 'Id,Label': two fields)");
    const std::string id = trim(std::string_view(line).substr(0, comma));
    const std::string lab = trim(std::string_view(line).substr(comma + 1));
    if (id.empty()) data_error(at + "malformed row '" + trim(line) + "' (empty Id)");
    int label = 0;
    const auto [ptr, ec] = std::from_chars(lab.data(), lab.data() + lab.size(), label);
    if (lab.empty() || ec != std::errc() || ptr != lab.data() + lab.size())
      data_error(at + "label '" + lab + "' of Id '" + id + "' is not an integer");
    if (label < 0 || (num_classes > 0 && label >= num_classes))
      data_error(at + "label " + std::to_string(label) + " of Id '" + id +
                 "' is out of range [0, " +
                 (num_classes > 0 ? std::to_string(num_classes) +
                                        ") (num_classes = " + std::to_string(num_classes) + ")"
                                  : "inf)"));
    const auto [it, inserted] = first_line.emplace(id, line_no);
    if (!inserted)
      data_error(at + "duplicate Id '" + id + "' (first on line " + std::to_string(it->second) +
                 ")");
    std::string file = id;
    if (!on_disk.count(file) && fs::path(id).extension().empty() && on_disk.count(id + ".jpg"))
      file = id + ".jpg";
    if (!on_disk.count(file)) {
      auto it = not_regular.find(file);
      if (it == not_regular.end() && fs::path(id).extension().empty())
        it = not_regular.find(id + ".jpg");
      if (it != not_regular.end())
        data_error(at + "file '" + it->first + "' in '" + images.string() + "' is " + it->second +
                   ", not a regular file");
    }
    if (!on_disk.count(file) && missing++ == 0) {
      first_missing = id;
      first_missing_line = line_no;
    }
    max_label = std::max(max_label, label);
    ds.samples.push_back(Sample{id, images / file, label});
  }
  if (!header) data_error(where + ":1: expected the header 'Id,Label', found an empty file");
  if (missing > 0)
    data_error(where + ":" + std::to_string(first_missing_line) + ": file '" + first_missing +
               "' not found in '" + images.string() + "'" +
               (missing > 1 ? " (and " + std::to_string(missing - 1) + " more missing)" : ""));
  if (ds.samples.empty()) data_error(where + ": no samples (only a header)");
  ds.num_classes = num_classes > 0 ? num_classes : max_label + 1;
  ds.class_names = class_index_names(ds.num_classes);
  return ds;
}

Dataset read_image_folder(const fs::path& root, int num_classes) {
  require_dir(root, "ImageFolder root");
  Dataset ds;
  ds.origin = root.string();
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) ds.class_names.push_back(e.path().filename().string());
  // std::string's < compares bytes, which for UTF-8 is Python's code-point order.
  std::sort(ds.class_names.begin(), ds.class_names.end());
  if (ds.class_names.empty())
    data_error("ImageFolder '" + root.string() + "' has no class subfolders");
  if (num_classes > 0 && num_classes != static_cast<int>(ds.class_names.size()))
    data_error("ImageFolder '" + root.string() + "' has " + std::to_string(ds.class_names.size()) +
               " class folders but num_classes = " + std::to_string(num_classes));
  for (std::size_t c = 0; c < ds.class_names.size(); ++c) {
    const fs::path dir = root / ds.class_names[c];
    // torchvision: sorted(os.walk(dir)) then sorted(fnames): order by (folder path, file name).
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& e :
         fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink))
      if (e.is_regular_file() && is_jpeg_name(e.path()))
        files.emplace_back(e.path().parent_path().string(), e.path().filename().string());
    std::sort(files.begin(), files.end());
    if (files.empty())
      data_error("ImageFolder class folder '" + dir.string() + "' holds no .jpg/.jpeg file");
    for (const auto& [folder, name] : files) {
      const fs::path p = fs::path(folder) / name;
      ds.samples.push_back(Sample{fs::relative(p, root).generic_string(), p, static_cast<int>(c)});
    }
  }
  ds.num_classes = static_cast<int>(ds.class_names.size());
  return ds;
}

Dataset read_unlabeled_folder(const fs::path& dir) {
  require_dir(dir, "image folder");
  Dataset ds;
  ds.origin = dir.string();
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_jpeg_name(e.path()))
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  if (names.empty()) data_error("image folder '" + dir.string() + "' holds no .jpg/.jpeg file");
  for (const auto& n : names) ds.samples.push_back(Sample{n, dir / n, -1});
  return ds;
}

HoldoutSplit holdout_split(const Dataset& all, double fraction, std::uint64_t seed) {
  const std::size_t n = all.size();
  if (!(fraction > 0.0 && fraction < 1.0)) data_error("holdout fraction must be in (0, 1)");
  if (n < 2) data_error("holdout needs at least 2 samples in '" + all.origin + "'");
  std::size_t k = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  k = std::clamp<std::size_t>(k, 1, n - 1);
  std::vector<std::uint32_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = static_cast<std::uint32_t>(i);
  rng::Philox g(seed, 0, 0, kHoldoutOp);
  for (std::size_t i = n - 1; i > 0; --i)
    std::swap(perm[i], perm[g.below(static_cast<std::uint32_t>(i + 1))]);
  std::vector<bool> held(n, false);
  for (std::size_t i = 0; i < k; ++i) held[perm[i]] = true;
  HoldoutSplit s;
  for (Dataset* d : {&s.train, &s.val}) {
    d->num_classes = all.num_classes;
    d->class_names = all.class_names;
    d->shards = all.shards;
  }
  s.train.origin = all.origin + " (after holdout)";
  s.val.origin = all.origin + " (holdout)";
  for (std::size_t i = 0; i < n; ++i) (held[i] ? s.val : s.train).samples.push_back(all.samples[i]);
  return s;
}

Dataset load_split(const SplitSpec& spec, int num_classes) {
  if (spec.format == "csv") return read_csv_dataset(spec.images, spec.labels, num_classes);
  if (spec.format == "imagefolder") return read_image_folder(spec.images, num_classes);
  if (spec.format == "folder") {
    Dataset d = read_unlabeled_folder(spec.images);
    d.num_classes = num_classes;
    d.class_names = class_index_names(num_classes);
    return d;
  }
  if (spec.format == "shards") return read_shard_dataset(spec.path, num_classes);
  data_error("unknown data format '" + spec.format + "' (known: csv, imagefolder, folder, shards)");
}

}  // namespace ft

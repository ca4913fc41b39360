// manifest.toml (TOML through toml++) and DALI's v1.2 index text, both ways. Reading is strict:
// a manifest or index that disagrees with itself is an error naming the file (and line).
#include "stages/source/shard_manifest.hpp"

#include <toml++/toml.h>

#include <charconv>
#include <sstream>
#include <stdexcept>

#include "kernels/io/regular_file.hpp"
#include "pipeline/error.hpp"

namespace ft {

namespace {

// An index claiming more samples than this is refused before anything is reserved.
constexpr std::uint64_t kMaxIndexSamples = 1'000'000'000;

bool parse_u64(const std::string& s, std::uint64_t& out, int base = 10) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

[[noreturn]] void manifest_error(const std::filesystem::path& file, const std::string& what) {
  throw Error(file.string() + ": " + what, 2);
}

}  // namespace

const WdsComponent* WdsSample::find(const std::string& ext) const {
  for (const auto& c : components)
    if (c.ext == ext) return &c;
  return nullptr;
}

std::vector<WdsSample> group_members(const std::vector<tar::Member>& members) {
  std::vector<WdsSample> out;
  for (const tar::Member& m : members) {
    const std::size_t slash = m.name.rfind('/');
    const std::size_t start = slash == std::string::npos ? 0 : slash + 1;
    const std::size_t dot = m.name.find('.', start);
    const std::string key = m.name.substr(0, dot);
    const std::string ext = dot == std::string::npos ? "" : m.name.substr(dot + 1);
    if (key.empty() || key.back() == '/') continue;
    if (out.empty() || out.back().key != key) out.push_back(WdsSample{key, {}});
    out.back().components.push_back(WdsComponent{ext, m.offset, m.size, m.name});
  }
  return out;
}

std::string format_wds_index(const std::vector<WdsSample>& samples) {
  std::string out = "v1.2 " + std::to_string(samples.size()) + "\n";
  for (const WdsSample& s : samples) {
    for (std::size_t i = 0; i < s.components.size(); ++i) {
      const WdsComponent& c = s.components[i];
      out += (i ? " " : "") + c.ext + " " + std::to_string(c.offset) + " " +
             std::to_string(c.size) + " " + c.name;
    }
    out += "\n";
  }
  return out;
}

std::vector<WdsSample> parse_wds_index(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::string line, version, extra;
  std::uint64_t count = 0;
  const auto bad = [&](std::size_t line_no, const std::string& what) {
    throw std::runtime_error(path + ":" + std::to_string(line_no) + ": " + what);
  };
  std::getline(in, line);
  std::istringstream head(line);
  std::string count_text;
  head >> version >> count_text;
  if (version != "v1.0" && version != "v1.1" && version != "v1.2")
    bad(1, "not a DALI WebDataset index (expected 'v1.2 N', found '" + line.substr(0, 40) + "')");
  if (!parse_u64(count_text, count) || count == 0 || count > kMaxIndexSamples || (head >> extra))
    bad(1, "malformed sample count '" + count_text + "'");
  const bool named = version == "v1.2";
  std::vector<WdsSample> out;
  for (std::size_t i = 0; i < count; ++i) {
    if (!std::getline(in, line))
      bad(i + 2,
          "index ends after " + std::to_string(i) + " of " + std::to_string(count) + " samples");
    std::istringstream fields(line);
    WdsSample s;
    std::string ext, off, size;
    while (fields >> ext) {
      WdsComponent c{ext, 0, 0, ""};
      if (!(fields >> off >> size) || (named && !(fields >> c.name)) || !parse_u64(off, c.offset) ||
          !parse_u64(size, c.size))
        bad(i + 2, "malformed component (expected 'EXT OFFSET SIZE" +
                       std::string(named ? " NAME" : "") + "')");
      if (c.offset % tar::kBlock != 0)
        bad(i + 2, "offset " + off + " is not on a 512-byte tar block");
      s.components.push_back(std::move(c));
    }
    if (s.components.empty()) bad(i + 2, "a sample with no components");
    const std::string& n = s.components.front().name;
    s.key = n.substr(0, n.find('.', n.rfind('/') == std::string::npos ? 0 : n.rfind('/') + 1));
    out.push_back(std::move(s));
  }
  if (std::getline(in, line) && !line.empty())
    bad(count + 2, "more lines than the " + std::to_string(count) + " samples the header says");
  return out;
}

std::string hex64(std::uint64_t v) {
  static const char* kHex = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = kHex[v & 0xF];
  return s;
}

bool parse_hex64(const std::string& s, std::uint64_t& out) {
  return s.size() == 16 && parse_u64(s, out, 16);
}

std::string format_manifest(const Manifest& m) {
  toml::table root;
  root.insert("format", "webdataset");
  root.insert("version", 1);
  std::int64_t total = 0;
  for (const auto& s : m.shards) total += static_cast<std::int64_t>(s.samples());
  root.insert("samples", total);
  root.insert("num_classes", m.num_classes);
  toml::array classes;
  for (const auto& c : m.class_names) classes.push_back(c);
  root.insert("classes", std::move(classes));
  root.insert("source", m.source);
  toml::array shards;
  for (const ShardInfo& s : m.shards) {
    toml::table t;
    t.insert("tar", s.tar);
    t.insert("idx", s.idx);
    t.insert("bytes", static_cast<std::int64_t>(s.bytes));
    t.insert("samples", static_cast<std::int64_t>(s.samples()));
    t.insert("sha256", s.sha256);
    toml::array ids, labels, hashes;
    for (std::size_t i = 0; i < s.samples(); ++i) {
      ids.push_back(s.ids[i]);
      labels.push_back(s.labels[i]);
      hashes.push_back(hex64(s.xxh3[i]));
    }
    t.insert("ids", std::move(ids));
    t.insert("labels", std::move(labels));
    t.insert("xxh3", std::move(hashes));
    shards.push_back(std::move(t));
  }
  root.insert("shard", std::move(shards));
  std::ostringstream out;
  out << "# flowtrain shards (`flowtrain pack`): WebDataset tar shards, a DALI index beside each;\n"
         "# per shard its size, sha256 and, per sample in tar order, the source id, the label and\n"
         "# the XXH3-64 of KEY.jpg.\n"
      << root << "\n";
  return out.str();
}

Manifest read_manifest(const std::filesystem::path& file) {
  toml::table root;
  try {
    root = toml::parse(io::read_regular_file(file.string()), file.string());
  } catch (const toml::parse_error& e) {
    manifest_error(file, std::string("not valid TOML: ") + std::string(e.description()));
  } catch (const std::runtime_error& e) {
    throw Error(std::string("shard manifest ") + e.what(), 2);
  }
  if (root["format"].value_or(std::string()) != "webdataset" || root["version"].value_or(0) != 1)
    manifest_error(file, "not a flowtrain shard manifest (format = \"webdataset\", version = 1)");
  Manifest m;
  m.num_classes = static_cast<int>(root["num_classes"].value_or(std::int64_t{0}));
  m.source = root["source"].value_or(std::string());
  if (const toml::array* c = root["classes"].as_array())
    for (const auto& v : *c) m.class_names.push_back(v.value_or(std::string()));
  const toml::array* shards = root["shard"].as_array();
  if (!shards || shards->empty()) manifest_error(file, "no [[shard]] entries");
  for (const toml::node& node : *shards) {
    const toml::table* t = node.as_table();
    if (!t) manifest_error(file, "[[shard]] entries must be tables");
    ShardInfo s;
    s.tar = (*t)["tar"].value_or(std::string());
    s.idx = (*t)["idx"].value_or(std::string());
    s.bytes = static_cast<std::uint64_t>((*t)["bytes"].value_or(std::int64_t{-1}));
    s.sha256 = (*t)["sha256"].value_or(std::string());
    const std::string at = "shard '" + s.tar + "': ";
    if (!tar::safe_member_name(s.tar) || s.tar.find('/') != std::string::npos ||
        (!s.idx.empty() && (!tar::safe_member_name(s.idx) || s.idx.find('/') != std::string::npos)))
      manifest_error(file, at + "tar and idx must be plain file names in the folder");
    const toml::array* ids = (*t)["ids"].as_array();
    const toml::array* labels = (*t)["labels"].as_array();
    const toml::array* hashes = (*t)["xxh3"].as_array();
    const std::int64_t n = (*t)["samples"].value_or(std::int64_t{-1});
    if (!ids || !labels || !hashes || n < 0 || ids->size() != static_cast<std::size_t>(n) ||
        labels->size() != ids->size() || hashes->size() != ids->size())
      manifest_error(file, at + "samples, ids, labels and xxh3 must agree in length");
    for (std::size_t i = 0; i < ids->size(); ++i) {
      s.ids.push_back((*ids)[i].value_or(std::string()));
      const std::int64_t lab = (*labels)[i].value_or(std::int64_t{-2});
      if (lab < -1 || (m.num_classes > 0 && lab >= m.num_classes))
        manifest_error(file, at + "label of sample " + std::to_string(i) + " out of range");
      s.labels.push_back(static_cast<int>(lab));
      std::uint64_t h = 0;
      if (!parse_hex64((*hashes)[i].value_or(std::string()), h))
        manifest_error(file, at + "xxh3 of sample " + std::to_string(i) + " is not 16 hex digits");
      s.xxh3.push_back(h);
    }
    m.shards.push_back(std::move(s));
  }
  return m;
}

}  // namespace ft

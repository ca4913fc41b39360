// The `[data]` config table: which splits exist and where their files are.
//   train = { format = "csv", images = "DIR", labels = "FILE.csv" }
//   val   = { format = "imagefolder", images = "DIR" }   or   val = { from = "train", fraction =
//   0.1 } test  = { format = "folder", images = "DIR" }        (unlabeled: prediction)
//   train = { format = "shards", path = "DIR" }                 (WebDataset tar shards)
// Errors are ft::ConfigError naming config_file:line:col and the key.
#include <set>

#include "pipeline/error.hpp"
#include "stages/source/dataset.hpp"

namespace ft {

namespace {

std::string pos(const std::string& file, const toml::source_region& src) {
  return file + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

std::string pos(const std::string& file, const toml::node& n) { return pos(file, n.source()); }
std::string pos(const std::string& file, const toml::key& k) { return pos(file, k.source()); }

std::string get_string(const toml::table& t, const std::string& key, const std::string& path,
                       const std::string& file) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  if (!n->is_string())
    throw ConfigError(pos(file, *n) + ": [data] key '" + path + "." + key + "' must be a string");
  return n->value<std::string>().value_or("");
}

// Which of images, labels and path the split's format takes, and that it has them.
void check_location_keys(const toml::table& t, const toml::node& node, const std::string& name,
                         const std::string& file, const SplitSpec& s) {
  if (s.format == "shards") {
    for (const char* k : {"images", "labels"})
      if (t.get(k))
        throw ConfigError(pos(file, *t.get(k)) + ": [data] key '" + name + "." + k +
                          "' is not used with format = \"shards\" (give path = \"DIR\")");
    if (s.path.empty())
      throw ConfigError(pos(file, node) + ": [data] key '" + name +
                        ".path' is required with format = \"shards\" (the folder of .tar shards)");
    return;
  }
  if (t.get("path"))
    throw ConfigError(pos(file, *t.get("path")) + ": [data] key '" + name +
                      ".path' is only used with format = \"shards\" (the others take images)");
  if (s.images.empty())
    throw ConfigError(pos(file, node) + ": [data] key '" + name + ".images' is required");
  if (s.format == "csv" && s.labels.empty())
    throw ConfigError(pos(file, node) + ": [data] key '" + name +
                      ".labels' is required with format = \"csv\"");
  if (s.format != "csv" && !s.labels.empty())
    throw ConfigError(pos(file, *t.get("labels")) + ": [data] key '" + name +
                      ".labels' is only used with format = \"csv\"");
}

SplitSpec parse_split(const toml::node& node, const std::string& name, const std::string& file) {
  const toml::table* t = node.as_table();
  if (!t)
    throw ConfigError(
        pos(file, node) + ": [data] key '" + name +
        "' must be a table like { format = \"csv\", images = \"DIR\", labels = \"FILE\" }");
  static const std::set<std::string> known = {"format", "images", "labels",
                                              "path",   "from",   "fraction"};
  for (const auto& [k, v] : *t)
    if (!known.count(std::string(k.str())))
      throw ConfigError(pos(file, k) + ": [data] unknown key '" + name + "." +
                        std::string(k.str()) +
                        "' (known: format, images, labels, path, from, fraction)");
  SplitSpec s;
  s.from = get_string(*t, "from", name, file);
  if (!s.from.empty()) {
    if (name != "val" || s.from != "train")
      throw ConfigError(
          pos(file, *t->get("from")) + ": [data] key '" + name +
          ".from': only val can be a holdout, and only from train (from = \"train\")");
    const toml::node* f = t->get("fraction");
    if (!f || !(f->is_floating_point() || f->is_integer()))
      throw ConfigError(pos(file, f ? *f : node) + ": [data] key '" + name +
                        ".fraction' must be a number in (0, 1)");
    s.fraction = f->value<double>().value_or(0.0);
    if (!(s.fraction > 0.0 && s.fraction < 1.0))
      throw ConfigError(pos(file, *f) + ": [data] key '" + name +
                        ".fraction' must be in (0, 1), got " + std::to_string(s.fraction));
    for (const char* k : {"format", "images", "labels", "path"})
      if (t->get(k))
        throw ConfigError(pos(file, *t->get(k)) + ": [data] key '" + name + "." + k +
                          "' conflicts with 'from'");
    return s;
  }
  if (t->get("fraction"))
    throw ConfigError(pos(file, *t->get("fraction")) + ": [data] key '" + name +
                      ".fraction' needs from = \"train\"");
  s.format = get_string(*t, "format", name, file);
  if (s.format.empty()) s.format = t->get("labels") ? "csv" : "folder";
  if (s.format != "csv" && s.format != "imagefolder" && s.format != "folder" &&
      s.format != "shards")
    throw ConfigError(pos(file, *t->get("format")) + ": [data] key '" + name + ".format' is '" +
                      s.format + "'; expected one of: csv, imagefolder, folder, shards");
  s.images = get_string(*t, "images", name, file);
  s.labels = get_string(*t, "labels", name, file);
  s.path = get_string(*t, "path", name, file);
  check_location_keys(*t, node, name, file, s);
  return s;
}

std::vector<ParamSpec> split_fields() {
  using T = ParamType;
  return {
      {.name = "format",
       .type = T::string,
       .doc = "csv (images + a labels CSV), imagefolder (a subfolder per class), folder "
              "(unlabeled; default when no labels are given) or shards (WebDataset tar shards, "
              "as `flowtrain pack` writes them)",
       .optional = true,
       .choices = {"csv", "imagefolder", "folder", "shards"}},
      {.name = "images",
       .type = T::string,
       .doc = "folder of the images (required unless from or format = \"shards\")",
       .optional = true},
      {.name = "labels",
       .type = T::string,
       .doc = "CSV of file,label rows (format = \"csv\")",
       .optional = true},
      {.name = "path",
       .type = T::string,
       .doc = "format = \"shards\": the folder of .tar shards (with manifest.toml and .idx files "
              "from `flowtrain pack`, or plain tars of KEY.jpg/KEY.cls)",
       .optional = true},
      {.name = "from",
       .type = T::string,
       .doc = "val only: hold out part of this split",
       .optional = true,
       .choices = {"train"}},
      {.name = "fraction",
       .type = T::number,
       .doc = "with from: the share of train held out",
       .optional = true,
       .min = 0.0,
       .max = 1.0,
       .min_exclusive = true,
       .max_exclusive = true},
  };
}

void check_data(const Params& p) {
  const toml::table& data = p.values();
  for (const char* name : {"train", "val", "test"})
    if (const toml::node* n = data.get(name)) (void)parse_split(*n, name, p.file());
  if (const toml::node* val = data.get("val");
      val && val->as_table() && val->as_table()->contains("from") && !data.contains("train"))
    throw ConfigError(pos(p.file(), *val) +
                      ": [data] key 'val.from' names train, but [data] has no train");
}

}  // namespace

SectionSchema data_section() {
  const std::vector<ParamSpec> fields = split_fields();
  return {
      .name = "data",
      .doc = "The splits: train, val (a table, or { from = \"train\", fraction = F }) and test.",
      .params = {{.name = "train",
                  .type = ParamType::table,
                  .doc = "the training images",
                  .optional = true,
                  .fields = fields},
                 {.name = "val",
                  .type = ParamType::table,
                  .doc = "evaluated after each epoch: as train, or { from = \"train\", "
                         "fraction = 0.1 }",
                  .optional = true,
                  .fields = fields},
                 {.name = "test",
                  .type = ParamType::table,
                  .doc = "evaluated once after the last epoch; format = \"folder\" for "
                         "unlabeled images (predict)",
                  .optional = true,
                  .fields = fields}},
      .check = check_data};
}

DataSplits load_data_splits(const toml::table& data, const std::string& config_file,
                            int num_classes, std::uint64_t seed) {
  for (const auto& [k, v] : data)
    if (k.str() != "train" && k.str() != "val" && k.str() != "test")
      throw ConfigError(pos(config_file, k) + ": [data] unknown key '" + std::string(k.str()) +
                        "' (known: train, val, test)");
  DataSplits out;
  std::optional<SplitSpec> val_spec;
  if (const toml::node* n = data.get("val")) val_spec = parse_split(*n, "val", config_file);
  if (const toml::node* n = data.get("train"))
    out.train = load_split(parse_split(*n, "train", config_file), num_classes);
  // Without [model] num_classes, train's class count checks the other splits' labels.
  if (num_classes <= 0 && out.train) num_classes = out.train->num_classes;
  if (val_spec && !val_spec->from.empty()) {
    if (!out.train)
      throw ConfigError(pos(config_file, *data.get("val")) +
                        ": [data] key 'val.from' names train, but [data] has no train");
    HoldoutSplit h = holdout_split(*out.train, val_spec->fraction, seed);
    out.train = std::move(h.train);
    out.val = std::move(h.val);
  } else if (val_spec) {
    out.val = load_split(*val_spec, num_classes);
  }
  if (const toml::node* n = data.get("test"))
    out.test = load_split(parse_split(*n, "test", config_file), num_classes);
  return out;
}

}  // namespace ft

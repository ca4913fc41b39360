// Config parsing and `--set` overrides. Overridden values carry no source position, so messages
// about them say "(--set)"; everything read from the file keeps file:line:col.
#include "pipeline/config.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "pipeline/error.hpp"

namespace ft {

namespace {

std::vector<std::string> split_path(const std::string& key) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : key) {
    if (ch == '.') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

bool is_index(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// An array index segment of a --set key as a number; digits too many for 64 bits give SIZE_MAX,
// which no array reaches, so the caller's "not an index of an array of N elements" names it.
std::size_t index_value(const std::string& s) {
  std::size_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size() ? v : SIZE_MAX;
}

// Parses an override value as TOML; falls back to a string.
toml::table parse_value(const std::string& value) {
  try {
    auto t = toml::parse("v = " + value, std::string(kOverrideSource));
    return t;
  } catch (const toml::parse_error&) {
    toml::table t;
    t.insert("v", value);
    return t;
  }
}

SourcePos pos_of(const toml::node& n, const std::string& file) {
  const auto& s = n.source();
  return SourcePos{file, static_cast<int>(s.begin.line), static_cast<int>(s.begin.column)};
}

Split parse_split(const std::string& s, const std::string& where) {
  if (s == "train") return Split::train;
  if (s == "val") return Split::val;
  if (s == "test") return Split::test;
  throw ConfigError(fmt::format("{}: unknown split '{}' (known: train, val, test)", where, s));
}

}  // namespace

bool is_reserved_stage_key(const std::string& key) {
  return key == "id" || key == "kind" || key == "after" || key == "inputs" || key == "splits" ||
         key == "concurrency";
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = 3;
  for (const auto& c : candidates) {
    std::vector<std::size_t> prev(c.size() + 1), cur(c.size() + 1);
    for (std::size_t j = 0; j <= c.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= word.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= c.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (word[i - 1] != c[j - 1])});
      std::swap(prev, cur);
    }
    if (prev[c.size()] < best_d) {
      best_d = prev[c.size()];
      best = c;
    }
  }
  return best;
}

void apply_override(toml::table& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(fmt::format("--set '{}': expected KEY=VALUE", assignment));
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  auto path = split_path(key);
  const auto bad = [&](const std::string& why) {
    return ConfigError(fmt::format("--set '{}': {}", assignment, why));
  };

  // Resolve the first segment: a stage id (optionally after "stage.") or a top-level key.
  toml::node* cur = nullptr;
  std::size_t i = 0;
  auto* stages = root["stage"].as_array();
  auto find_stage = [&](const std::string& id) -> toml::table* {
    if (!stages) return nullptr;
    for (auto& s : *stages)
      if (auto* t = s.as_table(); t && (*t)["id"].value<std::string>() == id) return t;
    return nullptr;
  };
  if (path.size() >= 2 && path[0] == "stage" && !is_index(path[1])) {
    cur = find_stage(path[1]);
    if (!cur) throw bad(fmt::format("no stage with id '{}'", path[1]));
    i = 2;
  } else if (auto* st = root.contains(path[0]) ? nullptr : find_stage(path[0])) {
    cur = st;
    i = 1;
  } else {
    cur = &root;
  }
  if (i == path.size()) throw bad("the key names a whole stage; name one of its keys");

  for (; i + 1 < path.size(); ++i) {
    const std::string& seg = path[i];
    if (auto* t = cur->as_table()) {
      if (!t->contains(seg)) t->insert(seg, toml::table{});
      cur = t->get(seg);
    } else if (auto* a = cur->as_array()) {
      if (!is_index(seg) || index_value(seg) >= a->size())
        throw bad(fmt::format("'{}' is not an index of an array of {} elements", seg, a->size()));
      cur = a->get(index_value(seg));
    } else {
      throw bad(fmt::format("'{}' is inside a value that is neither a table nor an array", seg));
    }
  }

  const std::string& last = path.back();
  auto parsed = parse_value(value);
  toml::node& v = *parsed.get("v");
  const bool erase = value == "~";
  if (auto* t = cur->as_table()) {
    if (erase) {
      if (!t->erase(last)) throw bad(fmt::format("nothing to delete at '{}'", key));
    } else {
      t->insert_or_assign(last, std::move(v));
    }
  } else if (auto* a = cur->as_array()) {
    if (!last.empty() && last[0] == '+') {
      const std::string n = last.substr(1);
      const std::size_t at = n.empty() ? a->size() : (is_index(n) ? index_value(n) : SIZE_MAX);
      if (at > a->size() || erase) throw bad(fmt::format("cannot insert at '{}'", last));
      v.visit(
          [&](auto&& x) { a->insert(a->begin() + static_cast<std::ptrdiff_t>(at), std::move(x)); });
    } else if (is_index(last) && index_value(last) < a->size()) {
      const auto at = static_cast<std::ptrdiff_t>(index_value(last));
      if (erase) {
        a->erase(a->begin() + at);
      } else {
        v.visit([&](auto&& x) { a->replace(a->begin() + at, std::move(x)); });
      }
    } else {
      throw bad(fmt::format("'{}' is not an index of an array of {} elements", last, a->size()));
    }
  } else {
    throw bad("the parent of the last key is neither a table nor an array");
  }
}

std::string to_toml_text(const toml::table& root) {
  std::ostringstream out;
  out << toml::toml_formatter(root);
  return out.str();
}

Config parse_config(const std::string& text, const std::string& file,
                    const std::vector<std::string>& overrides) {
  Config cfg;
  cfg.file = file;
  try {
    cfg.root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    const auto& s = e.source();
    throw ConfigError(fmt::format("{}:{}:{}: TOML syntax error: {}", file, s.begin.line,
                                  s.begin.column, e.description()));
  }
  for (const auto& o : overrides) apply_override(cfg.root, o);

  auto* stage_node = cfg.root.get("stage");
  if (!stage_node)
    throw ConfigError(fmt::format("{}: no [[stage]] tables: a run needs a stage graph", file));
  auto* stages = stage_node->as_array();
  if (!stages)
    throw ConfigError(fmt::format("{}: 'stage' must be an array of tables ([[stage]])",
                                  pos_of(*stage_node, file).str()));
  for (std::size_t k = 0; k < stages->size(); ++k) {
    auto* t = stages->get(k)->as_table();
    const SourcePos pos = pos_of(*stages->get(k), file);
    if (!t) throw ConfigError(fmt::format("{}: stage #{} is not a table", pos.str(), k));
    StageDecl d;
    d.pos = pos;
    const auto req_string = [&](const char* key) {
      auto* n = t->get(key);
      if (!n) throw ConfigError(fmt::format("{}: stage #{} has no '{}'", pos.str(), k, key));
      if (!n->is_string())
        throw ConfigError(fmt::format("{}: stage #{} key '{}': expected a string",
                                      pos_of(*n, file).str(), k, key));
      return *n->value<std::string>();
    };
    d.id = req_string("id");
    d.kind = req_string("kind");
    for (auto&& [k2, v] : *t) {
      const std::string key(k2.str());
      const std::string where =
          fmt::format("{}: stage '{}' key '{}'", pos_of(v, file).str(), d.id, key);
      if (key == "id" || key == "kind") continue;
      if (key == "after") {
        if (!v.is_string())
          throw ConfigError(where + ": expected a string (the upstream stage id)");
        d.after = *v.value<std::string>();
      } else if (key == "inputs") {
        auto* a = v.as_array();
        if (!a || a->size() != 1 || !a->get(0)->is_string())
          throw ConfigError(where + ": expected a list with one stage id (stages form a chain)");
        d.after = *a->get(0)->value<std::string>();
      } else if (key == "splits") {
        auto* a = v.as_array();
        if (!a) throw ConfigError(where + ": expected a list of split names");
        // An empty list names no split; it must not quietly mean the kind's default splits.
        if (a->empty())
          throw ConfigError(where +
                            ": an empty list names no split; list at least one of train, "
                            "val, test, or leave the key out for the stage's default splits");
        for (auto& e : *a) {
          if (!e.is_string()) throw ConfigError(where + ": expected a list of split names");
          d.splits.push_back(parse_split(*e.value<std::string>(), where));
        }
      } else if (key == "concurrency") {
        const auto c = v.value_exact<std::int64_t>();
        if (!c || *c < 0 || *c > kMaxConcurrency)
          throw ConfigError(
              where +
              fmt::format(": expected an integer in [0, {}] (0 = unlimited)", kMaxConcurrency) +
              (c ? fmt::format(", got {}", *c) : std::string()));
        d.concurrency = static_cast<int>(*v.value<std::int64_t>());
      }
    }
    d.table = t;
    cfg.stages.push_back(std::move(d));
  }
  return cfg;
}

namespace {

// "a directory", "a FIFO", ... for a file that is not a regular one.
const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

std::string read_config_text(const std::string& path) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; the kind is then checked on the
  // open descriptor, so nothing can swap the file between the check and the read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    throw ConfigError(
        fmt::format("{}: cannot open the config file: {}", path, std::strerror(errno)));
  std::string text;
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  const int stat_errno = errno;
  if (!stat_ok || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ConfigError(stat_ok ? fmt::format("{}: the config file is {}, not a regular file", path,
                                            file_kind(st.st_mode))
                              : fmt::format("{}: cannot stat the config file: {}", path,
                                            std::strerror(stat_errno)));
  }
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw ConfigError(fmt::format("{}: cannot read the config file: {}", path, std::strerror(e)));
    }
    text.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  return text;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_config(read_config_text(path), path, overrides);
}

void write_config_file(const std::filesystem::path& path, const toml::table& root,
                       const std::string& header) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  const auto fail = [&](const std::filesystem::path& p, const std::string& what, int err) {
    throw Error(fmt::format("{}: cannot write the resolved config: {}: {}", p.string(), what,
                            std::strerror(err)));
  };
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) fail(tmp, "cannot create", errno);
  const std::string text = header + to_toml_text(root) + "\n";
  const bool wrote = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int write_errno = errno;
  if (std::fclose(f) != 0 || !wrote) {
    const int e = wrote ? errno : write_errno;
    std::remove(tmp.c_str());
    fail(tmp, "write failed", e);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail(path, "cannot rename " + tmp.string() + " over it", e);
  }
}

}  // namespace ft

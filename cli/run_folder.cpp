// Run folder rules: plain names, one writer (flock), stale temp files removed, no silent reuse
// (see run_folder.hpp).
#include "cli/run_folder.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <regex>
#include <set>

#include "pipeline/error.hpp"

namespace ft {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLockFile = ".flowtrain.lock";
constexpr const char* kAsidePrefix = ".flowtrain-replaced-";
constexpr std::size_t kNameMax = 255;  // NAME_MAX on Linux filesystems

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// What `preview` and `profile` leave in a run folder: not a run.
bool is_side_output(const std::string& name) {
  return name == kLockFile || name == "profile.json" ||
         (starts_with(name, "preview_") && ends_with(name, ".png"));
}

// Files flowtrain writes into a run folder itself (checkpoints/ is handled entry by entry).
bool is_output(const std::string& name, const std::vector<std::string>& outputs) {
  static const std::set<std::string> fixed = {"config.toml", "metrics.csv", "summary.json",
                                              "profile.txt", "curves.png",  "predictions.csv"};
  return fixed.contains(name) || is_side_output(name) ||
         std::find(outputs.begin(), outputs.end(), name) != outputs.end();
}

bool is_checkpoint(const std::string& name) {
  return name == "last.ckpt" || (starts_with(name, "epoch_") && ends_with(name, ".ckpt"));
}

bool is_temp_name(const std::string& name) {
  static const std::regex temp(R"(.+\.tmp([.-][0-9]+)?)");
  return std::regex_match(name, temp);
}

std::string where_of(const toml::node& n, const std::string& file) {
  const auto& src = n.source();
  return src.begin.line > 0 && !(src.path && *src.path == kOverrideSource)
             ? fmt::format("{}:{}:{}", file, src.begin.line, src.begin.column)
             : file + " (--set)";
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    out.push_back(it->path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

bool path_inside(const fs::path& file, const fs::path& dir) {
  std::error_code ec;
  const fs::path f = fs::weakly_canonical(fs::absolute(file, ec), ec);
  const fs::path d = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  const auto rel = f.lexically_relative(d);
  return !rel.empty() && *rel.begin() != ".." && rel != ".";
}

void check_path_component(const std::string& name, const std::string& where) {
  std::string why;
  if (name.empty())
    why = "it is empty";
  else if (name == "." || name == "..")
    why = fmt::format("'{}' names a folder above or at the runs folder", name);
  else if (name.find('/') != std::string::npos)
    why = "it contains '/'";
  else if (std::any_of(name.begin(), name.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    why = "it contains a control character";
  else if (name.size() > kNameMax)
    why = fmt::format("it is {} bytes long (at most {})", name.size(), kNameMax);
  if (!why.empty())
    throw ConfigError(fmt::format(
        "{}: must be one plain folder or file name (no '/', not '.' or '..', not empty), but {}",
        where, why));
}

void check_run_paths(const Config& cfg, const ResolvedGraph& graph) {
  const auto run = cfg.root["run"];
  if (const auto* n = run["name"].node(); n && n->is_string())
    check_path_component(*n->value<std::string>(),
                         where_of(*n, cfg.file) + ": [run] key 'name' (the run folder's name)");
  if (const auto* n = run["runs_dir"].node(); n && n->is_string()) {
    const std::string dir = *n->value<std::string>();
    if (dir.empty() || dir.find('\0') != std::string::npos)
      throw ConfigError(
          fmt::format("{}: [run] key 'runs_dir': must name a folder (\".\" for the "
                      "current one), got {}",
                      where_of(*n, cfg.file), dir.empty() ? "\"\"" : "a NUL byte"));
  }
  for (const auto& s : graph.chain)
    if (s.kind->name == "predict")
      check_path_component(s.params.get_string("file"),
                           s.params.where("file") + " (a file name inside the run folder)");
}

bool folder_holds_run(const fs::path& dir, std::vector<std::string>* found) {
  bool holds = false;
  for (const std::string& e : entries(dir)) {
    if (is_side_output(e)) continue;
    std::error_code ec;
    if (e == "checkpoints" && fs::is_empty(dir / e, ec) && !ec) continue;  // nothing saved yet
    holds = true;
    if (found && found->size() < 6) found->push_back(fs::is_directory(dir / e) ? e + "/" : e);
  }
  return holds;
}

std::vector<std::string> remove_temp_files(const fs::path& dir) {
  std::vector<std::string> removed;
  for (const fs::path& d : {dir, dir / "checkpoints"})
    for (const std::string& e : entries(d)) {
      std::error_code ec;
      if (is_temp_name(e) && fs::is_regular_file(fs::symlink_status(d / e, ec)) &&
          fs::remove(d / e, ec))
        removed.push_back((d / e).lexically_relative(dir).string());
    }
  return removed;
}

FolderLock::FolderLock(const fs::path& dir) {
  const fs::path path = dir / kLockFile;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error(
        fmt::format("{}: cannot create the lock file: {}", path.string(), std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      throw Error(fmt::format(
          "{}: another flowtrain process{} is writing this folder; wait for it to finish or "
          "choose another run.name",
          dir.string(), pid.empty() ? "" : " (pid " + pid + ")"));
    }
    throw Error(fmt::format("{}: cannot lock: {}", path.string(), std::strerror(err)));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is only for the message above; the lock itself holds.
  }
}

FolderLock& FolderLock::operator=(FolderLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

RunFolder::RunFolder(const fs::path& dir, FolderUse use, const fs::path& resume_checkpoint,
                     const std::vector<std::string>& outputs)
    : dir_(dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw Error(fmt::format("{}: cannot create the run folder: {}", dir.string(), ec.message()));
  lock_ = FolderLock(dir);
  remove_temp_files(dir);
  // A folder set aside by an --overwrite that was killed before its run had set up.
  for (const std::string& e : entries(dir))
    if (starts_with(e, kAsidePrefix)) {
      fs::remove_all(dir / e, ec);
      std::cerr << fmt::format(
          "flowtrain: removed {}: the files an interrupted --overwrite had "
          "set aside\n",
          (dir / e).string());
    }

  std::vector<std::string> found;
  if (!folder_holds_run(dir, &found)) return;
  if (use == FolderUse::resume) {
    if (path_inside(resume_checkpoint, dir)) return;
    throw ConfigError(fmt::format(
        "{} already holds another run ({}); resuming {} into it would mix the two: choose "
        "another run.name, or add --overwrite to replace it",
        dir.string(), fmt::join(found, ", "), resume_checkpoint.string()));
  }
  if (use == FolderUse::fresh)
    throw ConfigError(fmt::format(
        "{} already holds a run ({}); continue it with --resume {}, replace it with --overwrite, "
        "or choose another run.name (--set run.name=NAME)",
        dir.string(), fmt::join(found, ", "), (dir / "checkpoints" / "last.ckpt").string()));

  // --overwrite: flowtrain's own files go aside until the new run has set up.
  aside_ = dir / (kAsidePrefix + std::to_string(::getpid()));
  fs::create_directories(aside_ / "checkpoints");
  try {
    for (const std::string& e : entries(dir)) {
      if (e == kLockFile || starts_with(e, kAsidePrefix)) continue;
      if (e == "checkpoints" && fs::is_directory(dir / e)) {
        for (const std::string& c : entries(dir / e)) {
          if (is_checkpoint(c) && fs::is_regular_file(dir / e / c))
            fs::rename(dir / e / c, aside_ / "checkpoints" / c);
          else
            kept_.push_back("checkpoints/" + c);
        }
        if (entries(dir / e).empty()) fs::remove(dir / e);
      } else if (is_output(e, outputs) && !fs::is_directory(dir / e)) {
        fs::rename(dir / e, aside_ / e);
      } else {
        kept_.push_back(e);
      }
    }
  } catch (const fs::filesystem_error& e) {
    restore();
    throw Error(
        fmt::format("{}: cannot set the old run's files aside: {}", dir.string(), e.what()));
  }
}

RunFolder::RunFolder(RunFolder&& o) noexcept
    : dir_(std::move(o.dir_)),
      aside_(std::move(o.aside_)),
      lock_(std::move(o.lock_)),
      kept_(std::move(o.kept_)) {
  o.aside_.clear();
}

RunFolder& RunFolder::operator=(RunFolder&& o) noexcept {
  if (this != &o) {
    restore();
    dir_ = std::move(o.dir_);
    aside_ = std::move(o.aside_);
    lock_ = std::move(o.lock_);
    kept_ = std::move(o.kept_);
    o.aside_.clear();
  }
  return *this;
}

RunFolder::~RunFolder() { restore(); }

void RunFolder::commit() {
  if (aside_.empty()) return;
  std::error_code ec;
  fs::remove_all(aside_, ec);
  aside_.clear();
}

void RunFolder::restore() noexcept {
  if (aside_.empty()) return;
  std::error_code ec;
  // What the failed run wrote under the same names goes; the old run's files come back.
  for (const fs::path& sub : {fs::path(), fs::path("checkpoints")}) {
    if (!sub.empty()) fs::create_directories(dir_ / sub, ec);
    for (const std::string& e : entries(aside_ / sub)) {
      if (sub.empty() && e == "checkpoints") continue;
      fs::remove(dir_ / sub / e, ec);
      fs::rename(aside_ / sub / e, dir_ / sub / e, ec);
    }
  }
  if (entries(dir_ / "checkpoints").empty()) fs::remove(dir_ / "checkpoints", ec);
  fs::remove_all(aside_, ec);
  aside_.clear();
}

ScratchDir::ScratchDir(const std::string& what)
    : path(fs::temp_directory_path() / fmt::format("flowtrain-{}-{}", what, ::getpid())) {
  fs::remove_all(path);
  fs::create_directories(path);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

}  // namespace ft

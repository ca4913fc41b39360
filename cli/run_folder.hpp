// The run folder's rules. A run name (and every file name flowtrain writes into the folder) is one
// plain path component. One flowtrain process at a time writes a folder: it holds an flock on
// <folder>/.flowtrain.lock while it runs. Temp files a killed run left there are removed when the
// next one starts. A folder that already holds a run is never reused silently: --resume continues
// it, --overwrite replaces flowtrain's files in it (moved aside until the new run has set up, put
// back if it fails before that), anything else is refused.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/config.hpp"
#include "pipeline/graph.hpp"

namespace ft {

// Throws ConfigError "<where>: <reason>" unless `name` is one plain path component: not empty,
// not "." or "..", no '/', no NUL or other control character, at most 255 bytes.
void check_path_component(const std::string& name, const std::string& where);

// [run] name, [run] runs_dir (not empty, no NUL) and every predict stage's `file`, checked with
// file:line:col and the key (ConfigError).
void check_run_paths(const Config& cfg, const ResolvedGraph& graph);

// Whether `file` lies inside `dir` (both resolved through symlinks and "..").
bool path_inside(const std::filesystem::path& file, const std::filesystem::path& dir);

// Whether `dir` holds anything besides the lock file, preview_*.png and profile.json (what
// `preview` and `profile` leave; not a run) and an empty checkpoints/. Lists up to six of the
// entries in `found`.
bool folder_holds_run(const std::filesystem::path& dir, std::vector<std::string>* found = nullptr);

// An exclusive, non-blocking flock on <dir>/.flowtrain.lock (created with `dir`), released when
// the process ends or this object is destroyed. Throws Error naming the folder and the pid that
// holds it when another process does.
class FolderLock {
 public:
  FolderLock() = default;
  explicit FolderLock(const std::filesystem::path& dir);
  FolderLock(FolderLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FolderLock& operator=(FolderLock&& o) noexcept;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  ~FolderLock();

 private:
  int fd_ = -1;
};

enum class FolderUse { fresh, resume, overwrite };

class RunFolder {
 public:
  RunFolder() = default;
  // Creates and locks `dir`, removes stale temp files (*.tmp, *.tmp.N, *.tmp-N in it and in
  // checkpoints/: the lock guarantees no live run writes them), then applies `use` when the
  // folder holds a run: fresh is refused (ConfigError saying what to pass); resume is allowed
  // when `resume_checkpoint` lies in this folder; overwrite moves flowtrain's files (`outputs`
  // besides the fixed names) aside into .flowtrain-replaced-<pid>/ and keeps the user's own.
  RunFolder(const std::filesystem::path& dir, FolderUse use,
            const std::filesystem::path& resume_checkpoint,
            const std::vector<std::string>& outputs);
  RunFolder(RunFolder&&) noexcept;
  RunFolder& operator=(RunFolder&&) noexcept;
  ~RunFolder();  // without commit(): the files moved aside are put back

  // The new run has set up: the files moved aside by --overwrite are deleted.
  void commit();
  // Entries --overwrite left in place because flowtrain did not write them.
  const std::vector<std::string>& kept() const { return kept_; }

 private:
  void restore() noexcept;
  std::filesystem::path dir_, aside_;
  FolderLock lock_;
  std::vector<std::string> kept_;
};

// Removes stale temp files from `dir` and dir/checkpoints (see RunFolder); returns their names.
std::vector<std::string> remove_temp_files(const std::filesystem::path& dir);

// A private folder, <temp>/flowtrain-<what>-<pid>, for runs whose files are not wanted (a
// profile, the ranks other than 0 of a data-parallel run); emptied at construction, removed on
// destruction.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& what);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

}  // namespace ft

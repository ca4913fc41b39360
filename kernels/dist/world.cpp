// Launcher detection: who this process is, read from the variables mpirun, srun or torchrun set.
// Pure over an env map so tests can feed any launcher; the first launcher present wins (Open MPI,
// then PMIx/Slurm, then torchrun) because mpirun inside a Slurm allocation inherits SLURM_*.
// Slurm counts only for a job step srun started (SLURM_STEP_NUM_TASKS): sbatch sets SLURM_PROCID,
// SLURM_NTASKS and SLURM_LOCALID for the batch script too, where a plain command runs alone.
#include <charconv>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "kernels/dist/comm.hpp"

extern char** environ;

namespace ft::dist {

const char* launcher_name(Launcher l) {
  switch (l) {
    case Launcher::none:
      return "none";
    case Launcher::mpi:
      return "mpi";
    case Launcher::slurm:
      return "slurm";
    case Launcher::torchrun:
      return "torchrun";
  }
  return "?";
}

namespace {

using Env = std::map<std::string, std::string>;

std::optional<std::string> lookup(const Env& env, const std::string& name) {
  const auto it = env.find(name);
  if (it == env.end()) return std::nullopt;
  return it->second;
}

// A whole, non-negative decimal number: no sign, no spaces, no trailing text.
int parse_count(const std::string& name, const std::string& text, const char* launcher) {
  int v = -1;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || v < 0)
    throw std::invalid_argument(name + "='" + text + "' is not a whole number >= 0 (set by " +
                                launcher + ")");
  return v;
}

int require(const Env& env, const std::string& name, const char* launcher) {
  const auto v = lookup(env, name);
  if (!v)
    throw std::invalid_argument(name + " is not set but other " + launcher + " variables are");
  return parse_count(name, *v, launcher);
}

int optional_count(const Env& env, const std::string& name, int fallback, const char* launcher) {
  const auto v = lookup(env, name);
  return v ? parse_count(name, *v, launcher) : fallback;
}

// Slurm's per-node task counts: "2(x3),1" means nodes 0-2 run 2 tasks, node 3 runs 1.
std::optional<int> slurm_tasks_on_node(const std::string& spec, int node) {
  std::string_view rest = spec;
  int index = 0;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    int tasks = 0, repeat = 1;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), tasks);
    if (ec != std::errc()) return std::nullopt;
    if (p != item.data() + item.size()) {
      if (std::string_view(p, 2) != "(x" || item.back() != ')') return std::nullopt;
      const auto r = std::from_chars(p + 2, item.data() + item.size() - 1, repeat);
      if (r.ec != std::errc() || r.ptr != item.data() + item.size() - 1) return std::nullopt;
    }
    if (node < index + repeat) return tasks;
    index += repeat;
  }
  return std::nullopt;
}

void check_consistent(const World& w, const std::string& rank_var, const std::string& size_var,
                      const std::string& local_rank_var, const std::string& local_size_var) {
  const std::string from = std::string(" (set by ") + launcher_name(w.launcher) + ")";
  if (w.size < 1) throw std::invalid_argument(size_var + " must be at least 1" + from);
  if (w.rank >= w.size)
    throw std::invalid_argument(rank_var + "=" + std::to_string(w.rank) + " must be below " +
                                size_var + "=" + std::to_string(w.size) + from);
  if (w.local_size < 1 || w.local_size > w.size)
    throw std::invalid_argument(local_size_var + "=" + std::to_string(w.local_size) +
                                " must be between 1 and " + size_var + "=" +
                                std::to_string(w.size) + from);
  if (w.local_rank >= w.local_size)
    throw std::invalid_argument(local_rank_var + "=" + std::to_string(w.local_rank) +
                                " must be below " + local_size_var + "=" +
                                std::to_string(w.local_size) + from);
}

// Rank and size required; absent local variables (never under mpirun or torchrun themselves) mean
// one node.
World read_counts(const Env& env, Launcher launcher, const char* who, const char* rank_var,
                  const char* size_var, const char* local_rank_var, const char* local_size_var) {
  World w;
  w.launcher = launcher;
  w.rank = require(env, rank_var, who);
  w.size = require(env, size_var, who);
  w.local_rank = optional_count(env, local_rank_var, w.rank, who);
  w.local_size = optional_count(env, local_size_var, w.size, who);
  check_consistent(w, rank_var, size_var, local_rank_var, local_size_var);
  return w;
}

World from_open_mpi(const Env& env) {
  return read_counts(env, Launcher::mpi, "mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                     "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE");
}

// srun's variables for one job step: SLURM_STEP_NUM_TASKS processes, SLURM_STEP_TASKS_PER_NODE of
// them per node (SLURM_NTASKS and SLURM_TASKS_PER_NODE describe the whole allocation).
World from_slurm(const Env& env) {
  World w;
  w.launcher = Launcher::slurm;
  const char* l = "srun";
  const bool pmix = env.count("PMIX_RANK") != 0;
  const std::string rank_var = pmix ? "PMIX_RANK" : "SLURM_PROCID";
  w.rank = require(env, rank_var, l);
  if (pmix && env.count("SLURM_PROCID") && require(env, "SLURM_PROCID", l) != w.rank)
    throw std::invalid_argument("PMIX_RANK=" + env.at("PMIX_RANK") +
                                " disagrees with SLURM_PROCID=" + env.at("SLURM_PROCID"));
  w.size = require(env, "SLURM_STEP_NUM_TASKS", l);
  w.local_rank = optional_count(env, "SLURM_LOCALID", w.rank, l);
  w.local_size = w.size;
  const char* per_node_var = "SLURM_STEP_TASKS_PER_NODE";
  auto spec = lookup(env, per_node_var);
  if (!spec) spec = lookup(env, per_node_var = "SLURM_TASKS_PER_NODE");
  if (spec) {
    const int node = optional_count(env, "SLURM_NODEID", 0, l);
    const auto n = slurm_tasks_on_node(*spec, node);
    if (!n)
      throw std::invalid_argument(std::string(per_node_var) + "='" + *spec +
                                  "' has no count for node " + std::to_string(node) +
                                  " (expected a list like 2(x3),1)");
    w.local_size = *n;
  }
  check_consistent(w, rank_var, "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", per_node_var);
  return w;
}

World from_torchrun(const Env& env) {
  const char* l = "torchrun";
  World w = read_counts(env, Launcher::torchrun, l, "RANK", "WORLD_SIZE", "LOCAL_RANK",
                        "LOCAL_WORLD_SIZE");
  w.master_addr = lookup(env, "MASTER_ADDR").value_or("");
  const auto port = lookup(env, "MASTER_PORT");
  if (port) w.master_port = parse_count("MASTER_PORT", *port, l);
  if (port && (w.master_port < 1 || w.master_port > 65535))
    throw std::invalid_argument("MASTER_PORT=" + *port + " must be between 1 and 65535");
  if (w.size > 1 && (w.master_addr.empty() || !port))
    throw std::invalid_argument(std::string(w.master_addr.empty() ? "MASTER_ADDR" : "MASTER_PORT") +
                                " must be set when WORLD_SIZE > 1 (the rendezvous address)");
  return w;
}

}  // namespace

World detect_world(const Env& env) {
  if (env.count("OMPI_COMM_WORLD_RANK") || env.count("OMPI_COMM_WORLD_SIZE"))
    return from_open_mpi(env);
  if (env.count("PMIX_RANK") || env.count("SLURM_STEP_NUM_TASKS")) return from_slurm(env);
  if (env.count("RANK") || env.count("WORLD_SIZE")) return from_torchrun(env);
  return World{};
}

World detect_world() {
  Env env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return detect_world(env);
}

}  // namespace ft::dist

// Stopping a run without losing anything: SIGTERM, SIGINT and [run] time_limit only ask for a
// stop (a flag); the train pass stops issuing steps at the next step boundary, every step already
// taken completes, and the command saves a checkpoint holding the position inside the epoch
// (cli/run.cpp). A stop asked for during a validation or test pass takes effect at the start of
// the next train pass, so a pass other than train is never cut short.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace ft {

class RunContext;

// flowtrain's exit status when a run stopped early and saved where it was (EX_TEMPFAIL of
// sysexits.h: "try again later" — with --resume).
inline constexpr int kExitStopped = 75;

enum class StopReason { none, time_limit, sigterm, sigint };
const char* stop_reason_text(StopReason r);  // "the time limit", "SIGTERM", "SIGINT"

// "11h50m", "90m", "45s", "2h", "1h30m15s" -> seconds; nullopt for anything else (empty, a unit
// missing or repeated or out of order, a negative or zero total).
std::optional<std::int64_t> parse_time_limit(const std::string& text);

// While alive: SIGTERM and SIGINT set the stop flag (a second one says the stop is under way; a
// third ends the process at once, the last checkpoint intact since checkpoints are written
// atomically), and the time limit, if > 0 seconds, counts from construction. One at a time.
class StopGuard {
 public:
  explicit StopGuard(std::int64_t time_limit_s);
  ~StopGuard();
  StopGuard(const StopGuard&) = delete;
  StopGuard& operator=(const StopGuard&) = delete;
};

// This process's reason to stop now: a signal received, or the time limit passed and a step ran
// (a run always takes a step before its time limit can stop it, so a limit shorter than the
// start-up still makes progress; none without an active StopGuard).
StopReason local_stop_reason();

// THE decision point: whether the run stops before its next train step (called by the pipeline
// at each step boundary of a train pass and before each train pass, in the same order on every
// process). A data-parallel run must take the decision collectively (every process stops at the
// same step): that is the job of ctx.agree_stop when set (an allreduce of the flag); alone, the
// local reason decides.
bool should_stop(const RunContext& ctx);

// Thrown by the command when a run stopped early and saved its position; main() prints the
// message (how to continue) and exits with kExitStopped.
class RunStopped : public std::runtime_error {
 public:
  explicit RunStopped(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace ft

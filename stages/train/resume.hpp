// Resuming a run: what the checkpoint allows. Its stored config is compared with the current one
// key by key; keys that only say how the run executes (threads, folder) are ignored, the model's
// architecture and the seed can never change, run.epochs may (unless the schedule's length follows
// it), and every other difference must be accepted explicitly (--accept-changes).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/optim/checkpoint.hpp"

namespace ft {

struct ConfigChange {
  std::string key;            // dotted: optimizer.lr, stage.read.batch_size, model.widths
  std::string before, after;  // TOML text, "(absent)" when the key is missing on that side
  std::string where;          // file:line:col (or "file (--set)") of the current value; "" if gone
  std::string why;            // why it matters when that is not obvious
  bool fixed = false;         // can never change on resume, accepted or not
};

// The differences between the config a checkpoint was trained with (`before`) and `after`, in key
// order, classified as above. `file` names the current config in `where`.
std::vector<ConfigChange> config_changes(const toml::table& before, const toml::table& after,
                                         const std::string& file);

struct ResumePlan {
  std::int64_t epoch = 0;              // epochs the checkpoint completed
  std::int64_t epoch_batches = 0;      // > 0: batches of epoch + 1 trained (a stopped run)
  std::int64_t epochs = 0;             // epochs the current config asks for
  bool finished = false;               // epoch >= epochs: there is nothing left to run
  std::vector<ConfigChange> accepted;  // differences resumed with (--accept-changes)
};

// Checks a loaded checkpoint against the current config before anything is written: tensors
// finite (Error naming the tensor, exit 2), config differences refused unless `accept_changes`
// (fixed ones always), listing each key with both values and where it is set (ConfigError). The
// messages do not name the checkpoint: the caller prefixes "--resume PATH: ".
// A checkpoint without a stored config (written by tests) is compared on nothing.
ResumePlan check_resume(const optim::Checkpoint& ckpt, const toml::table& config,
                        const std::string& config_file, bool accept_changes);

}  // namespace ft

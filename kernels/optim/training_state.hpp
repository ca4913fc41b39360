// What a training checkpoint holds beyond the tensors: counters, seed, the resolved config and
// descriptions of the optimizer and schedule; and the two ways to use one: resume (model +
// optimizer + counters, all checked before anything changes) and init_from (weights only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/optim/checkpoint.hpp"
#include "kernels/optim/sgd.hpp"

namespace ft::optim {

struct RunState {
  std::int64_t epoch = 0;          // epochs completed
  std::int64_t step = 0;           // optimizer steps (iterations) completed
  std::int64_t schedule_step = 0;  // the next scheduler step index (Schedule::lr argument)
  std::int64_t seed = 0;
  std::string config;     // the resolved config (TOML text)
  std::string schedule;   // Schedule::describe()
  std::string optimizer;  // describe(SgdOptions)
  // Last, so brace-initialised RunStates of the fields above keep their meaning.
  std::int64_t epoch_batches = 0;  // batches of the next epoch trained (a run stopped mid-epoch)
};

// Keys: tensors "model.*", "optim.momentum_buffer.*"; ints "run.epoch", "run.epoch_batches"
// (absent from checkpoints made before runs could stop mid-epoch: 0), "run.step",
// "run.schedule_step", "run.seed", "optim.step"; strings "run.config", "run.schedule",
// "run.optimizer".
Checkpoint make_training_checkpoint(const std::vector<nn::Parameter*>& params,
                                    const std::vector<nn::Buffer*>& buffers, const Sgd& sgd,
                                    const RunState& state);

// Resume: checks the model and optimizer state against the checkpoint first, then restores
// weights, buffers and optimizer state and returns the counters. Throws std::runtime_error
// (naming the checkpoint's path) with nothing modified when anything is missing or mismatched,
// or when a tensor (weights, buffers, optimizer state) holds a NaN or an infinity.
RunState restore_training_checkpoint(const Checkpoint& ckpt,
                                     const std::vector<nn::Parameter*>& params,
                                     const std::vector<nn::Buffer*>& buffers, Sgd& sgd);

// init_from: weights and buffers only (unpack_model, which refuses non-finite values too); the
// optimizer and schedule start fresh.
inline void restore_weights(const Checkpoint& ckpt, const std::vector<nn::Parameter*>& params,
                            const std::vector<nn::Buffer*>& buffers) {
  unpack_model(ckpt, params, buffers);
}

}  // namespace ft::optim

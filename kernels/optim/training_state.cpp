// Training checkpoint contents; see training_state.hpp for the keys.
#include "kernels/optim/training_state.hpp"

#include <stdexcept>

namespace ft::optim {

Checkpoint make_training_checkpoint(const std::vector<nn::Parameter*>& params,
                                    const std::vector<nn::Buffer*>& buffers, const Sgd& sgd,
                                    const RunState& state) {
  Checkpoint c;
  pack_model(c, params, buffers);
  sgd.save_state(c);
  c.ints["run.epoch"] = state.epoch;
  c.ints["run.epoch_batches"] = state.epoch_batches;
  c.ints["run.step"] = state.step;
  c.ints["run.schedule_step"] = state.schedule_step;
  c.ints["run.seed"] = state.seed;
  c.strings["run.config"] = state.config;
  c.strings["run.schedule"] = state.schedule;
  c.strings["run.optimizer"] = state.optimizer;
  return c;
}

RunState restore_training_checkpoint(const Checkpoint& ckpt,
                                     const std::vector<nn::Parameter*>& params,
                                     const std::vector<nn::Buffer*>& buffers, Sgd& sgd) {
  RunState s;
  s.epoch = ckpt.int_value("run.epoch");
  if (const auto it = ckpt.ints.find("run.epoch_batches"); it != ckpt.ints.end())
    s.epoch_batches = it->second;
  if (s.epoch_batches < 0)
    throw std::runtime_error(ckpt.source + ": run.epoch_batches is negative");
  s.step = ckpt.int_value("run.step");
  s.schedule_step = ckpt.int_value("run.schedule_step");
  s.seed = ckpt.int_value("run.seed");
  s.config = ckpt.string_value("run.config");
  s.schedule = ckpt.string_value("run.schedule");
  s.optimizer = ckpt.string_value("run.optimizer");
  check_model(ckpt, params, buffers);
  check_finite(ckpt);    // the optimizer state too (momentum buffers)
  sgd.load_state(ckpt);  // checks before it assigns
  unpack_model(ckpt, params, buffers);
  return s;
}

}  // namespace ft::optim

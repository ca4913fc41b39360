// Training checkpoints: resume through a file restores model, buffers, optimizer and counters;
// a mismatch or a missing entry changes nothing; init_from loads weights only.
#include "kernels/optim/training_state.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <limits>

using namespace ft::optim;
using ft::nn::Buffer;
using ft::nn::Parameter;
using ft::nn::ParamRole;
namespace fs = std::filesystem;

namespace {

struct Tiny {
  Parameter w{"fc.weight", {2, 2}, ParamRole::weight, {1, 2, 3, 4}, {0.1f, 0.2f, 0.3f, 0.4f}};
  Parameter b{"bn.bias", {2}, ParamRole::norm, {0, 0}, {1, -1}};
  Buffer mean{"bn.running_mean", {2}, {0.5f, 0.5f}};
  std::vector<Parameter*> params() { return {&w, &b}; }
  std::vector<Buffer*> buffers() { return {&mean}; }
};

SgdOptions options() {
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 0.01;
  o.no_decay_norm = true;
  return o;
}

}  // namespace

TEST_CASE("resume through a checkpoint file restores everything") {
  const fs::path path =
      fs::temp_directory_path() / ("ft_state_" + std::to_string(::getpid()) + ".ckpt");
  Tiny a;
  Sgd sgd(a.params(), options());
  sgd.step();
  sgd.step();
  a.mean.value = {0.25f, 0.75f};
  RunState st{3, 42, 42, 7, "[run]\nseed = 7\n", "cosine(...)", describe(options())};
  save_checkpoint(make_training_checkpoint(a.params(), a.buffers(), sgd, st), path);

  Tiny r;
  Sgd sgd2(r.params(), options());
  const RunState got =
      restore_training_checkpoint(load_checkpoint(path), r.params(), r.buffers(), sgd2);
  fs::remove(path);
  CHECK(got.epoch == 3);
  CHECK(got.step == 42);
  CHECK(got.schedule_step == 42);
  CHECK(got.seed == 7);
  CHECK(got.config == st.config);
  CHECK(got.optimizer == st.optimizer);
  CHECK(r.w.value == a.w.value);
  CHECK(r.mean.value == a.mean.value);
  CHECK(sgd2.step_count() == 2);
  // Same next step from both: the momentum buffers came back too.
  sgd.step();
  sgd2.step();
  CHECK(r.w.value == a.w.value);
  CHECK(r.b.value == a.b.value);
}

TEST_CASE("a mismatched or incomplete checkpoint changes nothing") {
  Tiny a;
  Sgd sgd(a.params(), options());
  sgd.step();
  Checkpoint ck = make_training_checkpoint(a.params(), a.buffers(), sgd, RunState{});
  ck.source = "runs/x/last.ckpt";

  Tiny other;
  other.w.shape = {4, 1};
  Sgd sgd2(other.params(), options());
  CHECK_THROWS_WITH_AS(
      restore_training_checkpoint(ck, other.params(), other.buffers(), sgd2),
      doctest::Contains("'fc.weight' has shape [2, 2] in the checkpoint but [4, 1] in the model"),
      std::runtime_error);
  CHECK(sgd2.step_count() == 0);
  CHECK(other.b.value == std::vector<float>{0, 0});

  Checkpoint missing = ck;
  missing.ints.erase("run.schedule_step");
  Tiny t;
  Sgd sgd3(t.params(), options());
  CHECK_THROWS_WITH_AS(restore_training_checkpoint(missing, t.params(), t.buffers(), sgd3),
                       doctest::Contains("runs/x/last.ckpt: no integer 'run.schedule_step'"),
                       std::runtime_error);
  CHECK(t.w.value == std::vector<float>{1, 2, 3, 4});

  // init_from: weights only; the optimizer is untouched.
  restore_weights(ck, t.params(), t.buffers());
  CHECK(t.w.value == a.w.value);
  CHECK(sgd3.step_count() == 0);
}

TEST_CASE("a checkpoint holding NaN or inf (valid checksum) is refused, naming the tensor") {
  Tiny a;
  Sgd sgd(a.params(), options());
  sgd.step();
  const Checkpoint good = make_training_checkpoint(a.params(), a.buffers(), sgd, RunState{});

  Checkpoint nan_weight = good;
  nan_weight.source = "runs/x/last.ckpt";
  nan_weight.tensors.at("model.fc.weight").data[2] = std::numeric_limits<float>::quiet_NaN();
  Tiny t;
  Sgd sgd2(t.params(), options());
  CHECK_THROWS_WITH_AS(restore_training_checkpoint(nan_weight, t.params(), t.buffers(), sgd2),
                       "checkpoint runs/x/last.ckpt: tensor 'model.fc.weight' holds 1 non-finite "
                       "value (the first, at index 2, is nan); it comes from a diverged run and "
                       "cannot be loaded",
                       std::runtime_error);
  // init_from goes through the same check.
  CHECK_THROWS_WITH_AS(restore_weights(nan_weight, t.params(), t.buffers()),
                       doctest::Contains("'model.fc.weight' holds 1 non-finite"),
                       std::runtime_error);
  CHECK(t.w.value == std::vector<float>{1, 2, 3, 4});  // nothing copied

  Checkpoint inf_buffer = good;
  inf_buffer.tensors.at("model.bn.running_mean").data[0] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(restore_weights(inf_buffer, t.params(), t.buffers()),
                       doctest::Contains("'model.bn.running_mean' holds 1 non-finite value (the "
                                         "first, at index 0, is inf)"),
                       std::runtime_error);

  // The optimizer state: a momentum buffer.
  Checkpoint bad_momentum = good;
  bool found = false;
  for (auto& [name, rec] : bad_momentum.tensors)
    if (name.rfind("optim.", 0) == 0 && !rec.data.empty()) {
      rec.data.assign(rec.data.size(), -std::numeric_limits<float>::infinity());
      found = true;
      break;
    }
  REQUIRE(found);
  CHECK_THROWS_WITH_AS(restore_training_checkpoint(bad_momentum, t.params(), t.buffers(), sgd2),
                       doctest::Contains("non-finite values (the first, at index 0, is -inf)"),
                       std::runtime_error);
  CHECK(sgd2.step_count() == 0);
  CHECK(t.w.value == std::vector<float>{1, 2, 3, 4});
}

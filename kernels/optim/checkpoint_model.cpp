// Packing a model (parameters and buffers) into a Checkpoint and back, strictly: unpack checks
// every name, shape and value (finite) before it copies anything, so a mismatch leaves the model
// untouched.
#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "kernels/optim/checkpoint.hpp"

namespace ft::optim {

namespace {

const std::string kModelPrefix = "model.";

struct Slot {
  const std::string* name;
  const std::vector<std::int64_t>* shape;
  std::vector<float>* value;
};

std::vector<Slot> model_slots(const std::vector<nn::Parameter*>& params,
                              const std::vector<nn::Buffer*>& buffers) {
  std::vector<Slot> slots;
  for (nn::Parameter* p : params) slots.push_back({&p->name, &p->shape, &p->value});
  for (nn::Buffer* b : buffers) slots.push_back({&b->name, &b->shape, &b->value});
  return slots;
}

}  // namespace

void pack_model(Checkpoint& ckpt, const std::vector<nn::Parameter*>& params,
                const std::vector<nn::Buffer*>& buffers) {
  for (const Slot& s : model_slots(params, buffers)) {
    if (!ckpt.tensors.emplace(kModelPrefix + *s.name, TensorRecord{*s.shape, *s.value}).second)
      throw std::invalid_argument("pack_model: the model has two tensors named '" + *s.name + "'");
  }
}

std::string non_finite_text(const Checkpoint& ckpt, const std::string& prefix) {
  for (const auto& [name, rec] : ckpt.tensors) {
    if (name.rfind(prefix, 0) != 0) continue;
    const auto bad =
        std::find_if(rec.data.begin(), rec.data.end(), [](float x) { return !std::isfinite(x); });
    if (bad == rec.data.end()) continue;
    const auto count =
        std::count_if(bad, rec.data.end(), [](float x) { return !std::isfinite(x); });
    return "tensor '" + name + "' holds " + std::to_string(count) + " non-finite value" +
           (count > 1 ? "s" : "") + " (the first, at index " +
           std::to_string(bad - rec.data.begin()) + ", is " + std::to_string(*bad) + ")";
  }
  return "";
}

void check_finite(const Checkpoint& ckpt, const std::string& prefix) {
  const std::string problem = non_finite_text(ckpt, prefix);
  if (!problem.empty())
    throw std::runtime_error(
        "checkpoint " + (ckpt.source.empty() ? std::string("(in memory)") : ckpt.source) + ": " +
        problem + "; it comes from a diverged run and cannot be loaded");
}

void check_model(const Checkpoint& ckpt, const std::vector<nn::Parameter*>& params,
                 const std::vector<nn::Buffer*>& buffers) {
  const std::vector<Slot> slots = model_slots(params, buffers);
  std::vector<std::string> problems;
  std::set<std::string> model_names;
  for (const Slot& s : slots) {
    model_names.insert(*s.name);
    auto it = ckpt.tensors.find(kModelPrefix + *s.name);
    if (it == ckpt.tensors.end()) {
      problems.push_back("missing '" + *s.name + "' (shape " + shape_string(*s.shape) +
                         " in the model)");
    } else if (it->second.shape != *s.shape || it->second.data.size() != s.value->size()) {
      problems.push_back("'" + *s.name + "' has shape " + shape_string(it->second.shape) +
                         " in the checkpoint but " + shape_string(*s.shape) + " in the model");
    }
  }
  for (const auto& [key, rec] : ckpt.tensors) {
    if (key.rfind(kModelPrefix, 0) != 0) continue;
    const std::string name = key.substr(kModelPrefix.size());
    if (!model_names.count(name))
      problems.push_back("unexpected '" + name + "' (shape " + shape_string(rec.shape) +
                         "), which the model does not have");
  }
  if (!problems.empty()) {
    std::string msg = "checkpoint " +
                      (ckpt.source.empty() ? std::string("(in memory)") : ckpt.source) +
                      " does not match the model (" + std::to_string(problems.size()) + " problem" +
                      (problems.size() > 1 ? "s" : "") + "; was it written for another model?):";
    const std::size_t shown = std::min<std::size_t>(problems.size(), 8);
    for (std::size_t i = 0; i < shown; ++i) msg += "\n  " + problems[i];
    if (shown < problems.size())
      msg += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
    throw std::runtime_error(msg);
  }
  check_finite(ckpt, kModelPrefix);
}

void unpack_model(const Checkpoint& ckpt, const std::vector<nn::Parameter*>& params,
                  const std::vector<nn::Buffer*>& buffers) {
  check_model(ckpt, params, buffers);
  for (const Slot& s : model_slots(params, buffers))
    *s.value = ckpt.tensors.at(kModelPrefix + *s.name).data;
}

}  // namespace ft::optim

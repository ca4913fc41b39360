// The `input` column as the model sees it: a host tensor, or GPU memory when the augment stage
// wrote output = "device". Train, eval and predict go through these, so a device-resident batch
// meets a CPU model with one clear error.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/nn/model.hpp"
#include "pipeline/batch.hpp"

namespace ft {

// The `input` column's shape, wherever it lives.
const std::vector<std::int64_t>& input_shape(const Batch& b);
// model.forward on the batch's input: the host tensor, or the device tensor (which needs a GPU
// model; otherwise a clear error naming [run] device).
void forward_input(nn::Model& model, const Batch& b, bool training, float* logits);
// Moves a device-resident input to the host tensor (for host-side work such as flip TTA).
void input_to_host(Batch& b);

}  // namespace ft

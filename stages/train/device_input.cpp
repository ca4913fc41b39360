// The `input` column on the host or the GPU (see device_input.hpp).
#include "stages/train/device_input.hpp"

#include "kernels/nn/cuda/device.hpp"
#include "pipeline/error.hpp"

namespace ft {

const std::vector<std::int64_t>& input_shape(const Batch& b) {
  return b.input_device.empty() ? b.input.shape : b.input_device.shape;
}

void forward_input(nn::Model& model, const Batch& b, bool training, float* logits) {
  const auto& s = input_shape(b);
  FT_ASSERT(s.size() == 4);
  if (b.input_device.empty()) {
    model.forward(b.input.data.data(), static_cast<int>(s[0]), static_cast<int>(s[2]),
                  static_cast<int>(s[3]), training, logits);
    return;
  }
  if (!model.on_device())
    throw Error(
        "column 'input' is in GPU memory (augment output = \"device\") but the model trains on the "
        "CPU; set "
        "[run] device = \"cuda\" or the augment stage's output = \"host\"");
  model.forward_device(b.input_device.data, static_cast<int>(s[0]), static_cast<int>(s[2]),
                       static_cast<int>(s[3]), training, logits);
}

void input_to_host(Batch& b) {
  if (b.input_device.empty()) return;
  b.input.resize(b.input_device.shape);
  nn::cuda::download(b.input.data.data(), b.input_device.data, b.input.data.size());
  b.input_device.clear();
}

}  // namespace ft

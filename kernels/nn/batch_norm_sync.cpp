// sync_batch_norm_layers: a LayerFactory that builds the synchronised batch norm of the base
// factory's device (CPU or CUDA) and forwards every other layer to the base unchanged.
#include "kernels/nn/batch_norm_sync.hpp"

namespace ft::nn {
namespace {

class SyncBatchNormLayers final : public LayerFactory {
 public:
  SyncBatchNormLayers(const LayerFactory& base, std::shared_ptr<const ChannelSum> sums)
      : base_(base), sums_(std::move(sums)) {}
  bool on_device() const override { return base_.on_device(); }
  ModulePtr conv2d(const Conv2dSpec& spec) const override { return base_.conv2d(spec); }
  ModulePtr batch_norm(const BatchNormSpec& spec) const override {
    return base_.on_device() ? cuda::make_sync_batch_norm(spec, sums_)
                             : cpu::make_sync_batch_norm(spec, sums_);
  }
  ModulePtr linear(const LinearSpec& spec) const override { return base_.linear(spec); }
  ModulePtr relu() const override { return base_.relu(); }
  ModulePtr max_pool(const MaxPoolSpec& spec) const override { return base_.max_pool(spec); }
  ModulePtr global_avg_pool() const override { return base_.global_avg_pool(); }
  ModulePtr flatten() const override { return base_.flatten(); }
  ModulePtr dropout(float p, int index) const override { return base_.dropout(p, index); }
  std::unique_ptr<ResidualAdd> residual_add(bool relu) const override {
    return base_.residual_add(relu);
  }
  ModulePtr to_layout(Layout layout) const override { return base_.to_layout(layout); }
  ModulePtr convert(Layout layout, DataType dtype) const override {
    return base_.convert(layout, dtype);
  }

 private:
  const LayerFactory& base_;
  std::shared_ptr<const ChannelSum> sums_;
};

}  // namespace

std::unique_ptr<LayerFactory> sync_batch_norm_layers(const LayerFactory& base,
                                                     std::shared_ptr<const ChannelSum> sums) {
  return std::make_unique<SyncBatchNormLayers>(base, std::move(sums));
}

}  // namespace ft::nn

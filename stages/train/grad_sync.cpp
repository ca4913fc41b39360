// Bucketed, overlapped gradient all-reduce (see grad_sync.hpp).
#include "stages/train/grad_sync.hpp"

#include <algorithm>

#include "kernels/dist/channel_sum.hpp"
#include "kernels/nn/cuda/device.hpp"
#include "pipeline/error.hpp"

namespace ft {

SectionSchema distributed_section() {
  return {
      .name = "distributed",
      .doc =
          "Data-parallel runs (launched by mpirun, srun or torchrun; see docs/DISTRIBUTED.md): "
          "how gradients are reduced and how long a process waits for the others.",
      .params = {{.name = "bucket_mb",
                  .type = ParamType::number,
                  .doc = "gradient bucket size in MB: a bucket's all-reduce starts as soon as the "
                         "backward pass has finished its gradients (PyTorch DDP's bucket_cap_mb)",
                  .default_value = "25.0",
                  .min = 0.001,
                  .max = 4096.0},
                 {.name = "timeout_s",
                  .type = ParamType::number,
                  .doc = "seconds a collective waits for every process before the run stops "
                         "naming the ones that did not arrive (0 = wait forever)",
                  .default_value = "300.0",
                  .min = 0.0,
                  .max = 1e6},
                 {.name = "sync_batchnorm",
                  .type = ParamType::boolean,
                  .doc = "batch norm in training normalises with the statistics of the global "
                         "batch, all-reduced over the processes at every batch norm layer "
                         "(PyTorch's SyncBatchNorm); false: each process's own, as DDP. No effect "
                         "on one process",
                  .default_value = "false"}},
  };
}

DistributedConfig read_distributed(const toml::table* config) {
  DistributedConfig c;
  if (!config) return c;
  const auto t = (*config)["distributed"];
  c.bucket_mb = t["bucket_mb"].value_or(c.bucket_mb);
  c.timeout_s = t["timeout_s"].value_or(c.timeout_s);
  c.sync_batchnorm = t["sync_batchnorm"].value_or(c.sync_batchnorm);
  return c;
}

std::unique_ptr<nn::LayerFactory> distributed_layers(const DistributedConfig& config,
                                                     const std::shared_ptr<dist::Comm>& comm,
                                                     const nn::LayerFactory& base) {
  if (!config.sync_batchnorm || !comm || comm->size() == 1) return nullptr;
  return nn::sync_batch_norm_layers(base, std::make_shared<dist::CommChannelSum>(comm));
}

GradSync::GradSync(dist::Comm& comm, std::vector<nn::Parameter*> params, double bucket_mb,
                   bool device)
    : comm_(comm), params_(std::move(params)), device_(device) {
  const auto cap = static_cast<std::size_t>(std::max(1.0, bucket_mb * 1024 * 1024 / 4));
  bucket_of_.resize(params_.size());
  final_.assign(params_.size(), 0);
  for (std::size_t i = params_.size(); i-- > 0;) {
    const std::size_t n = params_[i]->grad.size();
    if (buckets_.empty() || (buckets_.back().floats > 0 && buckets_.back().floats + n > cap))
      buckets_.emplace_back();
    Bucket& b = buckets_.back();
    b.params.push_back(i);
    b.floats += n;
    bucket_of_[i] = buckets_.size() - 1;
    stats_.bytes_per_step += n * sizeof(float);
  }
  stats_.buckets = buckets_.size();
  if (!device_)
    for (Bucket& b : buckets_) b.buffer.resize(b.floats);
}

void GradSync::arm() {
  armed_ = true;
  next_to_start_ = 0;
  std::fill(final_.begin(), final_.end(), 0);
  for (Bucket& b : buckets_) {
    b.pending = b.params.size();
    b.done = false;
    b.requests.clear();
  }
}

void GradSync::start_next() {
  if (next_to_start_ == 0) first_start_ = Clock::now();
  Bucket& b = buckets_[next_to_start_++];
  if (device_) {
    for (std::size_t i : b.params)
      b.requests.push_back(
          comm_.allreduce_sum_async(params_[i]->device_grad, params_[i]->grad.size()));
    return;
  }
  float* dst = b.buffer.data();
  for (std::size_t i : b.params)
    dst = std::copy(params_[i]->grad.begin(), params_[i]->grad.end(), dst);
  b.requests.push_back(comm_.allreduce_sum_async(b.buffer.data(), b.buffer.size()));
}

void GradSync::progress() {
  for (std::size_t k = 0; k < next_to_start_; ++k) {
    Bucket& b = buckets_[k];
    if (b.done) continue;
    bool all = true;
    for (auto& r : b.requests) all = r->test() && all;
    b.done = all;
  }
}

void GradSync::grads_ready(std::size_t first, std::size_t last) {
  if (!armed_) return;
  FT_ASSERT(last <= params_.size());
  for (std::size_t i = first; i < last; ++i) {
    if (final_[i]) continue;
    final_[i] = 1;
    --buckets_[bucket_of_[i]].pending;
  }
  // Buckets start in bucket order (every process issues the collectives in the same order).
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].pending == 0) start_next();
  progress();
}

void GradSync::finish(float scale) {
  const auto backward_end = Clock::now();
  if (!armed_) arm();
  if (next_to_start_ == 0) first_start_ = backward_end;
  while (next_to_start_ < buckets_.size()) start_next();
  for (Bucket& b : buckets_) {
    for (auto& r : b.requests) r->wait();
    b.done = true;
    if (device_) continue;
    const float* src = b.buffer.data();
    for (std::size_t i : b.params)
      for (float& g : params_[i]->grad) g = *src++ * scale;
  }
  if (device_ && scale != 1.0f) nn::cuda::scale_grads(params_, scale);
  const auto end = Clock::now();
  armed_ = false;
  ++stats_.steps;
  stats_.comm_s += std::chrono::duration<double>(end - first_start_).count();
  stats_.exposed_s +=
      std::chrono::duration<double>(end - std::max(backward_end, first_start_)).count();
}

}  // namespace ft

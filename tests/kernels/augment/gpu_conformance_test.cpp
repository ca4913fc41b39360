// GPU conformance: the CUDA chain (CudaAugment) against the CPU chain (apply_ops_cpu), image by
// image, for every op, the fused combinations and the seed's whole training chain, on a ragged
// batch of gray and RGB images of many sizes (1x1 included). Built only with CUDA, into
// test_augment_gpu, which is not registered with meson test (CI has no GPU): run it by hand or
// from the GPU check script. Tolerances (issue 5): u8 within 1 level, f32 within 1e-5.
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/augment/cuda.hpp"
#include "kernels/augment/ops.hpp"
#include "tests/kernels/augment/host_batch.hpp"

using namespace ft::aug;

namespace {

using testing::HostBatch;
using testing::normalize_op;

HostBatch make_batch(std::size_t n, bool rgb_only, int base = 0) {
  return testing::make_batch(testing::BatchShape{17, 8, 9, 41, 37, 1000, 3}, n, rgb_only, base);
}

// Runs ops on both paths and compares; returns the worst difference. Tolerances: u8 within 1
// level, f32 within 1e-5, bf16 within one bf16 step of the value (2^-8 relative; the two paths
// round the same float, so in practice they agree exactly).
double compare(CudaAugment& gpu, const std::string& name, const std::vector<AugmentOp>& ops,
               const HostBatch& b, std::uint64_t seed = 7, std::uint32_t epoch = 1) {
  const testing::ChainOutput cpu = testing::run_cpu_chain(ops, b, seed, epoch);
  testing::ChainOutput dev(ops, b);
  apply_ops_cuda(gpu, ops, dev.cuda_batch(b, seed, epoch));
  double worst = 0;
  std::size_t differing = 0, over = 0;
  int shown = 0;
  for (std::size_t i = 0; i < b.dims.size(); ++i)
    for (std::size_t e = 0; e < dev.dims[i].numel(); ++e) {
      const std::size_t k = dev.offsets[i] + e;
      const double c = cpu.value(k), g = dev.value(k), d = std::fabs(c - g);
      if (d == 0) continue;
      ++differing;
      worst = std::max(worst, d);
      const double tol = dev.type == OutType::u8    ? 1.0
                         : dev.type == OutType::f32 ? 1e-5
                                                    : std::fabs(c) / 256.0;
      if (d > tol) ++over;
      if (shown++ < 3)
        std::printf("  %s: sample %zu (%dx%dx%d) element %zu: cpu %g gpu %g\n", name.c_str(), i,
                    b.dims[i].h, b.dims[i].w, b.dims[i].c, e, c, g);
    }
  std::printf("%-40s %zu images, %zu elements, %zu differ, max |diff| %g\n", name.c_str(),
              b.dims.size(), dev.total, differing, worst);
  CHECK_MESSAGE(over == 0, name);
  return worst;
}

bool have_gpu() {
  std::string why;
  if (cuda_augment_available(&why)) return true;
  MESSAGE("skipped: " << why);
  return false;
}

}  // namespace

TEST_CASE("every op on the GPU matches the CPU image by image") {
  if (!have_gpu()) return;
  CudaAugment gpu;
  const HostBatch mixed = make_batch(96, false), rgb = make_batch(96, true);
  for (const auto& c : testing::every_op_cases(4))  // 4 x 96 draws cover all 14 TA ops
    compare(gpu, c.name, c.ops, c.rgb_only ? rgb : mixed, 7, c.epoch);
}

TEST_CASE("fused steps and the seed's whole chain match the CPU") {
  if (!have_gpu()) return;
  CudaAugment gpu;
  const HostBatch rgb = make_batch(64, true), seed_imgs = make_batch(64, true, 56);
  for (const auto& c : testing::fused_cases()) compare(gpu, c.name + " (fused)", c.ops, rgb);
  const std::vector<AugmentOp> chain = testing::seed_chain(224, 224);
  for (std::uint32_t epoch = 1; epoch <= 3; ++epoch)
    compare(gpu, "seed chain epoch " + std::to_string(epoch), chain, seed_imgs, 3, epoch);
  const std::vector<AugmentOp> chain_bf16 = testing::seed_chain(224, 224, true);
  compare(gpu, "seed chain bf16", chain_bf16, seed_imgs, 3, 2);

  // Throughput of the seed chain (host to host, 256 images of ~64x64), for the benchmark notes.
  const HostBatch big = make_batch(256, true, 56);
  std::vector<std::size_t> off(256);
  std::vector<Dims> od(256, Dims{224, 224, 3});
  for (std::size_t i = 0; i < 256; ++i) off[i] = i * 224 * 224 * 3;
  std::vector<float> out(256 * 224 * 224 * 3);
  CudaBatch cb{
      big.pixels.data(), big.offsets.data(), big.dims.data(), 256,         big.ids.data(), 1, 1,
      out.data(),        off.data(),         od.data(),       OutType::f32};
  const auto images_per_s = [&](const CudaBatch& batch) {
    apply_ops_cuda(gpu, chain, batch);  // warm-up (allocations)
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < 10; ++r) apply_ops_cuda(gpu, chain, batch);
    return 2560 / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::printf("seed chain on the GPU (host to host, incl. parameter draws): %.0f images/s\n",
              images_per_s(cb));
  // The same with the batch kept on the device for the model (augment output = "device").
  const auto device_out = cuda_alloc_floats(out.size());
  cb.device_out = device_out.get();
  std::printf("seed chain on the GPU (host to device, batch stays there): %.0f images/s\n",
              images_per_s(cb));
  // Kept on the device, the batch is the very same bytes as the downloaded one.
  cb.device_out = nullptr;
  apply_ops_cuda(gpu, chain, cb);
  cb.device_out = device_out.get();
  apply_ops_cuda(gpu, chain, cb);
  std::vector<float> kept(out.size());
  REQUIRE(cudaMemcpy(kept.data(), device_out.get(), kept.size() * sizeof(float),
                     cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(kept == out);
}

TEST_CASE("achieved bandwidth of each kernel against a device-to-device copy") {
  if (!have_gpu()) return;
  CudaAugment gpu;
  const HostBatch small = make_batch(256, true, 56);
  HostBatch big;
  for (std::size_t i = 0; i < 256; ++i) {
    big.offsets.push_back(big.pixels.size());
    big.dims.push_back({224, 224, 3});
    big.ids.push_back(i);
    big.pixels.resize(big.pixels.size() + 224 * 224 * 3, static_cast<std::uint8_t>(i));
  }
  const AugmentOp flip{.kind = OpKind::hflip, .p = 0.5f};
  const AugmentOp erase{.kind = OpKind::random_erasing,
                        .p = 1.0f,
                        .scale_lo = 0.02f,
                        .scale_hi = 0.33f,
                        .ratio_lo = 0.3f,
                        .ratio_hi = 3.3f,
                        .random_value = true};
  const std::vector<std::pair<std::vector<AugmentOp>, const HostBatch*>> cases = {
      {{AugmentOp{.kind = OpKind::resize, .size_h = 224, .size_w = 224}}, &small},
      {{AugmentOp{.kind = OpKind::random_resized_crop, .size_h = 224, .size_w = 224}, flip,
        normalize_op(3)},
       &big},
      {{flip}, &big},
      {{AugmentOp{.kind = OpKind::rotate, .degrees = 10.0f}}, &big},
      {{AugmentOp{
           .kind = OpKind::trivial_augment_wide, .interp = Interp::nearest, .has_fill = false}},
       &big},
      {{normalize_op(3), erase}, &big},
      {{testing::normalize_bf16_op(3), erase}, &big},
  };
  std::printf("device-to-device copy: %.0f GB/s\n", gpu.copy_bandwidth_gbs(256u << 20));
  gpu.set_profiling(true);
  for (const auto& [ops, batch] : cases) {
    testing::ChainOutput out(ops, *batch);
    const CudaBatch cb = out.cuda_batch(*batch, 1, 1);
    apply_ops_cuda(gpu, ops, cb);  // warm-up
    apply_ops_cuda(gpu, ops, cb);
    for (const auto& t : gpu.last_profile())
      std::printf("  %-28s %8.3f ms  %8.1f MB  %7.1f GB/s\n", t.name.c_str(), t.ms, t.bytes / 1e6,
                  t.bytes / (t.ms * 1e-3) / 1e9);
  }
}

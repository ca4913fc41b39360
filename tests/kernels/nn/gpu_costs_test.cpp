// On a device, what the emulated cost suite (cuda_costs_emulation_test.cpp) cannot see: the
// convolution bias gradient's split reduction equals its sequential model bit for bit and repeats;
// the one-launch gradient norm and scale agree with the host; staged uploads larger than the
// pinned staging round-trip exactly and leave the source free at once; the first convolution
// computes no input gradient; and the list of nondeterministic cuDNN algorithms (printed for the
// report). Built only with CUDA into test_nn_gpu_costs, not registered with meson test (CI has no
// GPU): tools/gpu_check.sh runs it on a device.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/nn/cuda/device.hpp"
#include "kernels/nn/cuda/reduction_plan.hpp"
#include "kernels/nn/module.hpp"
#include "kernels/random/philox.hpp"
#include "tests/kernels/nn/channel_sums_order.hpp"

using namespace ft::nn;

namespace {

bool have_gpu() {
  std::string why;
  if (cuda::available(&why)) return true;
  MESSAGE("skipped: " << why);
  return false;
}

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  ft::rng::Philox g(seed, 0, n, 11);
  std::vector<float> v(n);
  for (float& x : v) x = g.uniform(-1.f, 1.f);
  return v;
}

std::vector<float> from_device(const float* p, std::size_t n) {
  std::vector<float> v(n);
  cuda::download(v.data(), p, n);
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct DeviceConv {
  ModulePtr conv;
  std::vector<Parameter*> params;
  Parameter* weight = nullptr;
  Parameter* bias = nullptr;
  explicit DeviceConv(const Conv2dSpec& spec) : conv(cuda_layers().conv2d(spec)) {
    std::vector<Buffer*> buffers;
    conv->collect("", params, buffers);
    for (Parameter* p : params) (p->role == ParamRole::bias ? bias : weight) = p;
  }
};

}  // namespace

TEST_CASE("GPU: the conv bias gradient's split reduction is its fixed order, bit for bit") {
  if (!have_gpu()) return;
  struct Case {
    int n, c, h, w;
  };
  // One run per channel, several runs, and a 1x1 map (runs across samples).
  for (const Case k : {Case{2, 8, 5, 5}, Case{64, 16, 32, 32}, Case{128, 64, 1, 1}}) {
    DeviceConv conv(conv2d_spec(3, k.c, 1, 1, 0, true, 1));
    const Shape out = conv.conv->setup(Shape{k.n, 3, k.h, k.w});
    const std::vector<float> x = random_vector(static_cast<std::size_t>(k.n) * 3 * k.h * k.w, 1),
                             dy = random_vector(static_cast<std::size_t>(out.numel()), 2);
    cuda::DeviceArray dx(x.size()), ddy(dy.size());
    cuda::upload(dx.data(), x.data(), x.size());
    cuda::upload(ddy.data(), dy.data(), dy.size());
    const std::int64_t hw = std::int64_t{out.h} * out.w;
    const cuda::ChannelSumsPlan plan = cuda::plan_channel_sums(k.n * hw, k.c);
    const std::vector<float> want =
        ft::nn::test::channel_sums_in_kernel_order(dy, k.n, k.c, hw, plan, cuda::kReduceThreads);
    std::vector<float> first;
    for (int round = 0; round < 3; ++round) {
      cuda::zero(conv.bias->device_grad, conv.bias->grad.size());
      conv.conv->forward(dx.data(), true);
      conv.conv->backward(ddy.data());
      const std::vector<float> got = from_device(conv.bias->device_grad, conv.bias->grad.size());
      CAPTURE(k.n);
      CAPTURE(k.h);
      CAPTURE(plan.chunks);
      CHECK(same_bits(got, want));
      if (round == 0) first = got;
      CHECK(same_bits(got, first));
    }
  }
}

TEST_CASE("GPU: the first convolution computes no input gradient, the same weight gradients") {
  if (!have_gpu()) return;
  const Conv2dSpec spec = conv2d_spec(3, 8, 3, 1, 1, true, 1);
  DeviceConv full(spec), first(spec);
  first.conv->skip_input_grad();
  for (std::size_t k = 0; k < full.params.size(); ++k) {
    const std::vector<float> v = random_vector(full.params[k]->value.size(), 10 + k);
    cuda::upload(full.params[k]->device_value, v.data(), v.size());
    cuda::upload(first.params[k]->device_value, v.data(), v.size());
  }
  const Shape in{4, 3, 16, 16};
  const Shape out = full.conv->setup(in);
  CHECK(first.conv->setup(in) == out);
  const std::vector<float> x = random_vector(static_cast<std::size_t>(in.numel()), 3),
                           dy = random_vector(static_cast<std::size_t>(out.numel()), 4);
  cuda::DeviceArray dx(x.size()), ddy(dy.size());
  cuda::upload(dx.data(), x.data(), x.size());
  cuda::upload(ddy.data(), dy.data(), dy.size());
  full.conv->forward(dx.data(), true);
  first.conv->forward(dx.data(), true);
  CHECK(full.conv->backward(ddy.data()) != nullptr);
  CHECK(first.conv->backward(ddy.data()) == nullptr);
  for (std::size_t k = 0; k < full.params.size(); ++k)
    CHECK(same_bits(from_device(full.params[k]->device_grad, full.params[k]->grad.size()),
                    from_device(first.params[k]->device_grad, first.params[k]->grad.size())));
}

TEST_CASE("GPU: the one-launch gradient norm and scale agree with the host") {
  if (!have_gpu()) return;
  // Sizes around the 64K chunk, an empty tensor, a large one: 600 chunks (more than 512 blocks).
  const std::vector<std::size_t> sizes = {3, 65536, 65537, 0, 1000, 36'000'000, 7};
  std::vector<Parameter> params(sizes.size());
  std::vector<cuda::DeviceArray> grads;
  std::vector<Parameter*> list;
  long double want = 0;  // 80-bit: a reference well inside the tolerance at 36M terms
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    Parameter& p = params[i];
    p.grad = random_vector(sizes[i], 20 + i);
    for (float g : p.grad) want += static_cast<long double>(g) * g;
    grads.emplace_back(std::max<std::size_t>(sizes[i], 1));
    cuda::upload(grads.back().data(), p.grad.data(), p.grad.size());
    p.device_grad = grads.back().data();
    list.push_back(&p);
  }
  const double got = cuda::grad_squared_norm(list), again = cuda::grad_squared_norm(list);
  MESSAGE("squared norm " << got << " (host " << static_cast<double>(want) << ")");
  CHECK(std::memcmp(&got, &again, sizeof got) == 0);
  // Double partial sums of a few hundred terms each, then trees: within a few double roundings.
  CHECK(std::fabs(got - static_cast<double>(want)) <= 1e-12 * static_cast<double>(want));
  cuda::scale_grads(list, 0.37f);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    std::vector<float> scaled = params[i].grad;
    for (float& g : scaled) g *= 0.37f;
    CHECK(same_bits(from_device(params[i].device_grad, sizes[i]), scaled));
  }
}

TEST_CASE("GPU: staged uploads round-trip and free the source when they return") {
  if (!have_gpu()) return;
  const std::size_t n = 3 * (std::size_t{1} << 20) + 12345;  // more than both staging halves
  std::vector<float> host = random_vector(n, 30);
  const std::vector<float> original = host;
  cuda::DeviceArray d(n);
  cuda::upload(d.data(), host.data(), n);
  std::fill(host.begin(), host.end(), -1.f);  // allowed as soon as upload() returns
  CHECK(same_bits(from_device(d.data(), n), original));
}

TEST_CASE("GPU: the cuDNN algorithms that ran without a determinism guarantee") {
  if (!have_gpu()) return;
  // Whatever the tests above ran; a run writes the same list to summary.json.
  const std::vector<std::string> list = cuda::nondeterministic_algorithms();
  MESSAGE("nondeterministic cuDNN algorithms used: " << list.size());
  for (const std::string& s : list) MESSAGE("  " << s);
}

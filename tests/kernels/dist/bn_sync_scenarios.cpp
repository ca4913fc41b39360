// A process of an MPI job for bn_sync_test.cpp: `bn_sync_scenarios` under mpirun -np N (or alone:
// one process). Every rank makes the same global batch, runs the synchronised batch norm on its
// share of the samples (rank r: the r-th contiguous slice) and the ordinary batch norm on the whole
// batch, and checks that they agree: forward output, running statistics after two steps, dx,
// dgamma and dbeta summed over the ranks, eval-mode output. NCHW, nChw8c and nChw16c, with and
// without the fused ReLU, 2-D and 1-D. Prints "rank R ok"; a mismatch ends the job non-zero.
// `bn_sync_scenarios cuda` (one process on a GPU machine) checks the CUDA layer the same way.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/dist/channel_sum.hpp"
#include "kernels/dist/comm.hpp"
#include "kernels/nn/batch_norm_sync.hpp"
#include "kernels/nn/cuda/device.hpp"
#include "kernels/nn/module.hpp"

using ft::dist::Comm;
using ft::nn::Layout;
using ft::nn::Shape;

namespace {

// Channel of element i of a tensor of shape s (any layout); -1 in the channel padding.
int channel_of(const Shape& s, std::int64_t i) {
  const std::int64_t pixels = std::int64_t{s.h} * s.w;
  const int b = s.channel_block();
  const int c = static_cast<int>(((i / (pixels * b)) % (s.padded_c() / b)) * b + i % b);
  return c < s.c ? c : -1;
}

// The global batch: per-channel offset and scale, and a shift of +1.5 on the later samples (so each
// rank's own statistics differ from the global ones and an unsynchronised layer would fail).
std::vector<float> make_tensor(const Shape& s, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<std::size_t>(s.storage()), 0.f);
  const std::int64_t per_sample = s.storage() / s.n;
  for (std::int64_t i = 0; i < s.storage(); ++i) {
    const int c = channel_of(s, i);
    if (c < 0) continue;
    const float shift = (i / per_sample) >= s.n / 3 ? 1.5f : 0.f;
    v[i] = 0.5f * static_cast<float>(c % 5) + shift + (0.5f + 0.2f * (c % 3)) * normal(gen);
  }
  return v;
}

// Where the layers run: the host, or a GPU (cuda; NCHW only), tensors copied there and back.
struct Device {
  bool cuda = false;

  ft::nn::ModulePtr plain(const ft::nn::BatchNormSpec& spec) const {
    return cuda ? ft::nn::cuda_layers().batch_norm(spec)
                : ft::nn::cpu_layers(true).batch_norm(spec);
  }
  ft::nn::ModulePtr synced(const ft::nn::BatchNormSpec& spec, Comm& comm) const {
    auto sums = std::make_shared<ft::dist::CommChannelSum>(
        std::shared_ptr<Comm>(&comm, [](Comm*) {}));  // not owned: main holds it
    return cuda ? ft::nn::cuda::make_sync_batch_norm(spec, sums)
                : ft::nn::cpu::make_sync_batch_norm(spec, sums);
  }
  // A layer input from host data: the data, or its copy in `buf` on the GPU.
  const float* input(const float* host, std::size_t n, ft::nn::cuda::DeviceArray& buf) const {
    if (!cuda) return host;
    buf.resize(n);
    ft::nn::cuda::upload(buf.data(), host, n);
    return buf.data();
  }
  std::vector<float> host(const float* p, std::size_t n) const {
    if (!cuda) return {p, p + n};
    std::vector<float> v(n);
    ft::nn::cuda::download(v.data(), p, n);
    return v;
  }
};

struct Params {
  ft::nn::Parameter *weight, *bias;
  ft::nn::Buffer *mean, *var;

  // Sets gamma and beta (on the device too) and zeroes their gradients.
  void set(const Device& d, const std::vector<float>& gamma, const std::vector<float>& beta) {
    weight->value = gamma;
    bias->value = beta;
    for (auto* p : {weight, bias}) {
      std::fill(p->grad.begin(), p->grad.end(), 0.f);
      if (!d.cuda) continue;
      ft::nn::cuda::upload(p->device_value, p->value.data(), p->value.size());
      ft::nn::cuda::zero(p->device_grad, p->grad.size());
    }
  }
  // dgamma then dbeta; running mean then running var.
  std::vector<float> grads(const Device& d) const {
    return join(d.host(d.cuda ? weight->device_grad : weight->grad.data(), weight->grad.size()),
                d.host(d.cuda ? bias->device_grad : bias->grad.data(), bias->grad.size()));
  }
  std::vector<float> running(const Device& d) const {
    return join(d.host(d.cuda ? mean->device_value : mean->value.data(), mean->value.size()),
                d.host(d.cuda ? var->device_value : var->value.data(), var->value.size()));
  }

 private:
  static std::vector<float> join(std::vector<float> a, const std::vector<float>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
};

Params params_of(ft::nn::Module& m) {
  std::vector<ft::nn::Parameter*> p;
  std::vector<ft::nn::Buffer*> b;
  m.collect("", p, b);
  return {p.at(0), p.at(1), b.at(0), b.at(1)};
}

// |a - b| <= tol * (1 + |b|): float statistics in a different summation order (oneDNN's
// reduction on the whole batch vs this rank's double sums all-reduced) round differently; the
// values are O(1) and the cancellations in dx lose about two digits more than the forward.
void expect_close(const float* a, const float* b, std::size_t n, float tol,
                  const std::string& what) {
  for (std::size_t i = 0; i < n; ++i)
    if (!(std::fabs(a[i] - b[i]) <= tol * (1.f + std::fabs(b[i])))) {
      std::ostringstream msg;
      msg << what << ": element " << i << " is " << a[i] << ", expected " << b[i];
      throw std::runtime_error(msg.str());
    }
}

void run_case(Comm& comm, const Device& d, const Shape& global, bool relu) {
  const std::string name =
      ft::nn::to_string(global) + (relu ? " relu" : "") + (d.cuda ? " cuda" : "");
  const int ranks = comm.size(), per = global.n / ranks;
  Shape local = global;
  local.n = per;
  const std::size_t slice = static_cast<std::size_t>(local.storage());
  const std::size_t all = static_cast<std::size_t>(global.storage());
  const std::size_t at = slice * static_cast<std::size_t>(comm.rank());
  const int c = global.c;
  ft::nn::BatchNormSpec spec{c, 1e-5f, 0.1f, relu};
  auto ref = d.plain(spec);
  auto sync = d.synced(spec, comm);
  ref->setup(global);
  sync->setup(local);
  Params rp = params_of(*ref), sp = params_of(*sync);
  std::vector<float> gamma(c), beta(c);
  for (int k = 0; k < c; ++k) {
    gamma[k] = 0.5f + 0.1f * static_cast<float>(k % 7);
    beta[k] = 0.05f * static_cast<float>(k % 4) - 0.1f;
  }
  ft::nn::cuda::DeviceArray xr, xs, dyr, dys;  // device copies (cuda)
  for (int step = 0; step < 2; ++step) {
    const auto x = make_tensor(global, 100 + step), dy = make_tensor(global, 200 + step);
    rp.set(d, gamma, beta);
    sp.set(d, gamma, beta);
    const auto y_ref = d.host(ref->forward(d.input(x.data(), all, xr), true), all);
    const auto y = d.host(sync->forward(d.input(x.data() + at, slice, xs), true), slice);
    expect_close(y.data(), y_ref.data() + at, slice, 2e-5f, name + " forward");
    const auto dx_ref = d.host(ref->backward(d.input(dy.data(), all, dyr)), all);
    const auto dx = d.host(sync->backward(d.input(dy.data() + at, slice, dys)), slice);
    expect_close(dx.data(), dx_ref.data() + at, slice, 2e-4f, name + " dx");
    auto grads = sp.grads(d);
    comm.allreduce_sum(grads.data(), grads.size());  // the sum the gradient all-reduce makes
    expect_close(grads.data(), rp.grads(d).data(), 2 * c, 2e-4f, name + " dgamma, dbeta");
  }
  expect_close(sp.running(d).data(), rp.running(d).data(), 2 * c, 2e-5f,
               name + " running statistics");
  const auto x = make_tensor(global, 300);
  const auto y_ref = d.host(ref->forward(d.input(x.data(), all, xr), false), all);
  const auto y = d.host(sync->forward(d.input(x.data() + at, slice, xs), false), slice);
  expect_close(y.data(), y_ref.data() + at, slice, 2e-5f, name + " eval");
}

// cuda: NCHW only, on one GPU (a test for a GPU machine: one process per GPU).
void all_cases(Comm& comm, const Device& d) {
  const int n = 12;  // divides among 1, 2, 3 and 4 processes
  for (Layout layout : {Layout::nchw, Layout::nChw8c, Layout::nChw16c})
    for (bool relu : {false, true})
      if (!d.cuda || layout == Layout::nchw) run_case(comm, d, Shape{n, 20, 5, 3, layout}, relu);
  for (bool relu : {false, true}) {
    run_case(comm, d, Shape{n, 32, 1, 1, Layout::nchw}, relu);  // CPU: runs as nChw16c inside
    run_case(comm, d, Shape{n, 10, 1, 1, Layout::nchw}, relu);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 2 ? argv[1] : "";
  if (mode != "all" && mode != "cuda") {
    std::cerr << "usage: bn_sync_scenarios all|cuda\n";
    return 2;
  }
  std::unique_ptr<Comm> comm;
  try {
    comm = ft::dist::make_cpu_comm(ft::dist::detect_world(), 30);
    all_cases(*comm, Device{mode == "cuda"});
  } catch (const std::exception& e) {
    if (!comm) {
      std::cerr << "flowtrain: error: " << e.what() << "\n";
      return 2;
    }
    comm->fail(2, e.what());
  }
  std::cout << "rank " << comm->rank() << " ok" << std::endl;
  return 0;
}

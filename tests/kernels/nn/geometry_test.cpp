// kernels/nn/geometry.hpp: conv and max-pool output sizes against PyTorch's formula (padding,
// "same", dilation, stride; max-pool in floor mode), the padding oneDNN must be given, and the
// shapes and specs refused with a message naming the layer.
#include "kernels/nn/geometry.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace ft::nn {

namespace {

// torch.nn.Conv2d / MaxPool2d(ceil_mode=False) documentation:
// floor((in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1), in exact arithmetic.
int torch_out(int in, int pad_total, int kernel, int stride, int dilation) {
  const double v = (in + pad_total - dilation * (kernel - 1) - 1) / static_cast<double>(stride);
  return static_cast<int>(std::floor(v)) + 1;
}

std::string message_of(auto&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("window_out_size equals PyTorch's formula wherever PyTorch accepts the shape") {
  for (int in = 1; in <= 12; ++in)
    for (int k = 1; k <= 5; ++k)
      for (int s = 1; s <= 3; ++s)
        for (int d = 1; d <= 3; ++d)
          for (int p = 0; p <= 2; ++p) {
            const int expect = torch_out(in, 2 * p, k, s, d);
            const int got = window_out_size(in, {p, p}, k, s, d);
            CAPTURE(in);
            CAPTURE(k);
            CAPTURE(s);
            CAPTURE(d);
            CAPTURE(p);
            // PyTorch refuses an output size below 1; so does every caller of window_out_size.
            if (expect >= 1)
              CHECK(got == expect);
            else
              CHECK(got <= 0);
          }
}

TEST_CASE("a kernel longer than the padded input gives no output, whatever the stride") {
  // (2 - 3 - 1) / 3 truncates to 0 in C++: without the check, that was one output.
  CHECK(window_out_size(2, {0, 0}, 4, 3, 1) == 0);
  CHECK(window_out_size(1, {0, 0}, 3, 2, 1) == 0);
  CHECK(window_out_size(3, {0, 0}, 2, 1, 3) == 0);  // dilated extent 4
  CHECK(window_out_size(4, {0, 0}, 2, 1, 3) == 1);
}

TEST_CASE("conv padding: symmetric, or \"same\" with the odd element after") {
  Conv2dSpec s = conv2d_spec(3, 8, 3, 1, 1, true, 1);
  CHECK(conv_padding(s).begin == 1);
  CHECK(conv_padding(s).end == 1);
  s.same_padding = true;
  s.kernel = 4;  // extent - 1 = 3: PyTorch pads 1 before, 2 after
  CHECK(conv_padding(s).begin == 1);
  CHECK(conv_padding(s).end == 2);
  s.dilation = 2;  // extent - 1 = 6
  CHECK(conv_padding(s).begin == 3);
  CHECK(conv_padding(s).end == 3);
  // "same" keeps the size.
  for (int in = 1; in <= 9; ++in)
    CHECK(conv2d_output(s, Shape{2, 3, in, in + 1}, "conv2d").h == in);
}

TEST_CASE("conv2d_output: shapes of torchvision's layers") {
  // resnet stem: 7x7 stride 2 padding 3 on 224 -> 112; ResNeXt grouped 3x3 stride 2 on 56 -> 28.
  const Shape stem =
      conv2d_output(conv2d_spec(3, 64, 7, 2, 3, false, 1), Shape{4, 3, 224, 224}, "conv2d");
  CHECK(stem == Shape{4, 64, 112, 112, Layout::nchw});
  const Shape grouped = conv2d_output(conv2d_spec(128, 128, 3, 2, 1, false, 32),
                                      Shape{4, 128, 56, 56, Layout::nChw16c}, "conv2d");
  CHECK(grouped == Shape{4, 128, 28, 28, Layout::nchw});
  Conv2dSpec dil = conv2d_spec(1, 1, 3, 1, 0, false, 1);
  dil.dilation = 2;
  CHECK(conv2d_output(dil, Shape{1, 1, 10, 7}, "conv2d") == Shape{1, 1, 6, 3});
}

TEST_CASE("max_pool_output: floor mode, layout kept, and the end padding oneDNN needs") {
  const MaxPoolSpec s{3, 2, 1};  // resnet's stem pool
  CHECK(max_pool_output(s, Shape{2, 64, 112, 112, Layout::nChw8c}, "max_pool") ==
        Shape{2, 64, 56, 56, Layout::nChw8c});
  CHECK(max_pool_output(MaxPoolSpec{2, 2, 0}, Shape{1, 1, 7, 7}, "max_pool").h == 3);
  // 7 wide, kernel 2, stride 2: the last window ends at 6, inside; no end padding reached.
  CHECK(reached_end_padding(7, 3, {0, 0}, 2, 2, 1) == 0);
  // 112 wide, kernel 3, stride 2, padding 1: the 56th window ends at 2 * 55 + 3 - 1 = 112.
  CHECK(reached_end_padding(112, 56, {1, 1}, 3, 2, 1) == 0);
  CHECK(reached_end_padding(111, 56, {1, 1}, 3, 2, 1) == 1);
}

TEST_CASE("invalid specs and shapes are refused with a message naming the layer") {
  CHECK(message_of([] {
          check_conv2d_spec(conv2d_spec(3, 8, 3, 1, 1, true, 2), "conv2d");
        }).find("conv2d: bad channels") == 0);  // 3 channels in 2 groups
  Conv2dSpec s = conv2d_spec(4, 8, 3, 1, 1, true, 1);
  s.dilation = 0;
  CHECK(message_of([&] { check_conv2d_spec(s, "conv2d (cuda)"); }).find("dilation 0") !=
        std::string::npos);
  s = conv2d_spec(4, 8, 3, 2, 0, true, 1);
  s.same_padding = true;
  CHECK(message_of([&] { check_conv2d_spec(s, "conv2d"); }).find("needs stride 1") !=
        std::string::npos);
  s = conv2d_spec(4, 8, 5, 1, 0, true, 1);
  CHECK(message_of([&] {
          conv2d_output(s, Shape{1, 3, 9, 9}, "conv2d");
        }).find("has 3 channels, expected 4") != std::string::npos);
  CHECK(message_of([&] {
          conv2d_output(s, Shape{1, 4, 4, 9}, "conv2d");
        }).find("too small") != std::string::npos);
  CHECK(message_of([] {
          check_max_pool_spec(MaxPoolSpec{2, 2, 2}, "max_pool");
        }).find("padding <= kernel / 2") != std::string::npos);
  CHECK(message_of([] {
          max_pool_output(MaxPoolSpec{3, 3, 0}, Shape{1, 1, 2, 8}, "max_pool (cuda)");
        }).find("max_pool (cuda): input") == 0);
}

}  // namespace ft::nn

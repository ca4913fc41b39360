// Output sizes of convolution and max pooling, and the checks on them, written once for the CPU
// layers (oneDNN) and the CUDA layers (cuDNN, own kernels), as PyTorch computes them in floor
// mode: out = (in + pad_begin + pad_end - dilation * (kernel - 1) - 1) / stride + 1, refused
// when the (dilated) kernel does not fit in the padded input. Sizes are FT_HD, the checks host.
#pragma once

#include <stdexcept>
#include <string>

#include "kernels/hd.hpp"
#include "kernels/nn/module.hpp"

namespace ft::nn {

// Zero-padding of one spatial axis, before (top / left) and after (bottom / right) the input.
struct AxisPadding {
  int begin = 0, end = 0;
};

// The convolution's padding: symmetric `padding`, or PyTorch's padding="same" (the dilated
// kernel's extent minus one, split with the odd element after).
FT_HD inline AxisPadding conv_padding(const Conv2dSpec& s) {
  if (!s.same_padding) return {s.padding, s.padding};
  const int ext = s.dilation * (s.kernel - 1);
  return {ext / 2, ext - ext / 2};
}

// Output length of a sliding window over one axis (floor mode); 0 when the dilated kernel is
// longer than the padded input (a negative span must not truncate towards zero into 1 output).
FT_HD inline int window_out_size(int in, AxisPadding pad, int kernel, int stride, int dilation) {
  const int span = in + pad.begin + pad.end - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// Padding after the input that floor mode actually reaches: the last window's end past the input
// (0 when the last window ends inside it). oneDNN checks the output size against this.
FT_HD inline int reached_end_padding(int in, int out, AxisPadding pad, int kernel, int stride,
                                     int dilation) {
  const int end = (out - 1) * stride + dilation * (kernel - 1) + 1 - pad.begin;
  return end > in ? end - in : 0;
}

// Throws std::invalid_argument naming `layer` ("conv2d", "conv2d (cuda)") for a spec no input
// could use: non-positive sizes, negative padding, channels not divisible by groups, and
// padding="same" with a stride (as PyTorch).
inline void check_conv2d_spec(const Conv2dSpec& s, const std::string& layer) {
  if (s.in_channels <= 0 || s.out_channels <= 0 || s.kernel <= 0 || s.stride <= 0 ||
      s.dilation <= 0 || s.padding < 0 || s.groups <= 0 || s.in_channels % s.groups ||
      s.out_channels % s.groups)
    throw std::invalid_argument(
        layer + ": bad channels/kernel/stride/dilation/padding/groups (in " +
        std::to_string(s.in_channels) + ", out " + std::to_string(s.out_channels) + ", kernel " +
        std::to_string(s.kernel) + ", stride " + std::to_string(s.stride) + ", dilation " +
        std::to_string(s.dilation) + ", padding " + std::to_string(s.padding) + ", groups " +
        std::to_string(s.groups) + ")");
  if (s.same_padding && s.stride != 1)
    throw std::invalid_argument(layer + ": padding=\"same\" needs stride 1 (as in PyTorch)");
}

// The output shape (N, out_channels, OH, OW), NCHW, of a convolution of `in`; throws
// std::invalid_argument naming `layer` when the channels differ or the kernel does not fit.
inline Shape conv2d_output(const Conv2dSpec& s, const Shape& in, const std::string& layer) {
  if (in.c != s.in_channels)
    throw std::invalid_argument(layer + ": input " + to_string(in) + " has " +
                                std::to_string(in.c) + " channels, expected " +
                                std::to_string(s.in_channels));
  const AxisPadding pad = conv_padding(s);
  const int oh = window_out_size(in.h, pad, s.kernel, s.stride, s.dilation);
  const int ow = window_out_size(in.w, pad, s.kernel, s.stride, s.dilation);
  if (oh <= 0 || ow <= 0)
    throw std::invalid_argument(layer + ": input " + to_string(in) + " too small for kernel " +
                                std::to_string(s.kernel) + " (dilation " +
                                std::to_string(s.dilation) + ", padding " +
                                std::to_string(pad.begin) + "+" + std::to_string(pad.end) + ")");
  return Shape{in.n, s.out_channels, oh, ow, Layout::nchw};
}

// Max pooling's padding: symmetric, at most half the kernel (PyTorch's limit).
FT_HD inline AxisPadding pool_padding(const MaxPoolSpec& s) { return {s.padding, s.padding}; }

inline void check_max_pool_spec(const MaxPoolSpec& s, const std::string& layer) {
  if (s.kernel <= 0 || s.stride <= 0 || s.padding < 0 || 2 * s.padding > s.kernel)
    throw std::invalid_argument(
        layer + ": need kernel > 0, stride > 0, 0 <= padding <= kernel / 2 (kernel " +
        std::to_string(s.kernel) + ", stride " + std::to_string(s.stride) + ", padding " +
        std::to_string(s.padding) + ")");
}

// The output shape of max pooling `in` (its layout kept); throws std::invalid_argument naming
// `layer` when the kernel is larger than the padded input.
inline Shape max_pool_output(const MaxPoolSpec& s, const Shape& in, const std::string& layer) {
  const int oh = window_out_size(in.h, pool_padding(s), s.kernel, s.stride, 1);
  const int ow = window_out_size(in.w, pool_padding(s), s.kernel, s.stride, 1);
  if (oh <= 0 || ow <= 0)
    throw std::invalid_argument(layer + ": input " + to_string(in) + " smaller than the kernel " +
                                std::to_string(s.kernel) + " (padding " +
                                std::to_string(s.padding) + ")");
  return Shape{in.n, in.c, oh, ow, in.layout};
}

}  // namespace ft::nn

// What one augmentation op declares, once, in its file kernels/augment/ops/<name>.cpp: its keys
// (ParamSpec with defaults and docs, plus the value's shape), the parse of validated values into
// an AugmentOp, its output-dims rule, its draw, its CPU loop and how the CUDA plan treats its step.
// Its per-pixel code (CPU and CUDA) is its functor, in ops/<name>.hpp (ops/functor.hpp). The
// registry (op_defs / op_def) is the one list the parser, the CPU chain and the CUDA plan dispatch
// through.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/augment/types.hpp"
#include "kernels/random/philox.hpp"
#include "pipeline/param_spec.hpp"

namespace ft::aug {

struct Scratch;

// Bounds of the keys that size memory: an output side (16384 x 16384 x 3 f32 is already 3 GiB per
// sample) and a padding width. The run's memory estimate checks the whole batch.
inline constexpr int kMaxSide = 16384;
inline constexpr int kMaxPadding = 4096;
// A per_channel key takes one value (every channel) or one per channel of an RGB image.
inline constexpr int kMaxPerChannel = 3;

// How a key's value is written, beyond its ParamType; each shape has its own checks and messages
// (the stage's parser implements them): `one` a single value of spec.type (range, choices);
// `size` an integer or [height, width]; `padding` N, [lr, tb] or [l, t, r, b] integers;
// `per_channel` a number or a list of 1 to 3 numbers (a string in spec.choices is also taken);
// `range` [low, high] with low <= high. min / max bound every number.
enum class KeyShape : std::uint8_t { one, size, padding, per_channel, range };

struct OpKey {
  ParamSpec spec;
  KeyShape shape = KeyShape::one;
};

// A key's value once checked against its OpKey, or taken from its default: numbers as doubles (a
// bare number is a one-element list, `scalar` true), a string as text.
struct OpValue {
  bool given = false;   // written in the config (false: the default)
  bool absent = false;  // optional key neither given nor defaulted
  bool scalar = false;
  bool boolean = false;
  std::vector<double> numbers;
  std::string text;
};

// An op's checked values by key name; an op's parse reads only its own keys.
class OpArgs {
 public:
  void set(std::string key, OpValue v) { values_.emplace_back(std::move(key), std::move(v)); }
  const OpValue& operator[](std::string_view key) const;
  double number(std::string_view key) const { return (*this)[key].numbers.at(0); }
  bool boolean(std::string_view key) const { return (*this)[key].boolean; }
  const std::string& text(std::string_view key) const { return (*this)[key].text; }
  bool given(std::string_view key) const { return (*this)[key].given; }
  // size -> h, w (a bare integer is square); per_channel numbers -> fill / n.
  void size(std::string_view key, int& h, int& w) const;
  void per_channel(std::string_view key, float* out, int& n) const;
  void range(std::string_view key, float& lo, float& hi) const;

 private:
  std::vector<std::pair<std::string, OpValue>> values_;
};

// A check across keys (or beyond one key's shape) failed in an op's parse; the stage reports it
// at `key`'s place in the config.
struct OpKeyError : std::invalid_argument {
  OpKeyError(std::string k, const std::string& msg)
      : std::invalid_argument(msg), key(std::move(k)) {}
  std::string key;
};

// What several ops declare alike, written once (registry.cpp, resize.cpp): the `size` key of an
// output [h, w] or N (center_crop, random_crop, resize, random_resized_crop; `doc` says what it
// means for the op), the `antialias` key (resize, random_resized_crop), the output of an op that
// makes size_h x size_w, and the CPU loop of the ops that resize their drawn window.
OpKey size_key(std::string doc);
OpKey antialias_key();
Dims sized_output(const AugmentOp& op, Dims in);
void resize_window_cpu(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims od,
                       const std::uint8_t* in, Dims id, Scratch& s);

struct OpDef {
  OpKind kind;
  const char* name;
  const char* doc;  // one line for `flowtrain stages`
  std::vector<OpKey> keys;
  void (*parse)(const OpArgs&, AugmentOp&);
  Dims (*output)(const AugmentOp&, Dims in);  // u8 ops; normalize / random_erasing keep dims
  // One sample's draws, in ops.hpp's order; d starts as the whole image, applied.
  void (*draw)(const AugmentOp&, Dims in, rng::Philox&, OpDraw& d);
  // The CPU loop of a u8 op (null for normalize and random_erasing, run by the chain's f32 part).
  void (*apply_cpu)(const AugmentOp&, const OpDraw&, std::uint8_t* out, Dims out_d,
                    const std::uint8_t* in, Dims in_d, Scratch& s);
  KernelFamily kernel;
};

// Every op, in FT_AUGMENT_OPS order (index = OpKind value).
std::span<const OpDef> op_defs();
const OpDef& op_def(OpKind k);

// Each op's file defines its OpDef through one of these (registry.cpp collects them).
#define FT_DECLARE_OP_DEF(name) const OpDef& op_def_##name();
FT_AUGMENT_OPS(FT_DECLARE_OP_DEF)
#undef FT_DECLARE_OP_DEF

}  // namespace ft::aug

// A Batch is a table of entities (samples); its components are columns, structure of arrays.
// Batches are pooled and reused across steps: a stage resizes the columns it writes (capacity is
// kept), so steady-state steps allocate nothing. Column names are what stages declare they read
// and write; validation checks them before anything runs (see docs/DESIGN.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ft {

enum class Split { train, val, test };
const char* split_name(Split s);

// Byte arena with offsets: entity i owns bytes [offsets[i], offsets[i+1]).
struct ByteArena {
  std::vector<std::uint8_t> bytes;
  std::vector<std::size_t> offsets{0};

  void clear() {
    bytes.clear();
    offsets.assign(1, 0);
  }
  std::size_t size() const { return offsets.size() - 1; }
  const std::uint8_t* data(std::size_t i) const { return bytes.data() + offsets[i]; }
  std::size_t length(std::size_t i) const { return offsets[i + 1] - offsets[i]; }
};

// Element type of an image list. bf16 is stored as its 16 bits (std::uint16_t), CHW like f32.
enum class DType : std::uint8_t { u8, f32, bf16 };

// Shape of one image. u8 images are HWC; f32 and bf16 images are CHW (after normalize).
struct ImageDims {
  int h = 0, w = 0, c = 0;
  std::size_t numel() const { return static_cast<std::size_t>(h) * w * c; }
  bool operator==(const ImageDims&) const = default;
};

// Ragged per-sample images of one dtype. Sample i's data starts at offsets[i] elements.
struct ImageList {
  DType dtype = DType::u8;
  std::vector<ImageDims> dims;
  std::vector<std::size_t> offsets;  // element offsets, size() == dims.size()
  std::vector<std::uint8_t> u8;
  std::vector<float> f32;
  std::vector<std::uint16_t> bf16;

  std::size_t size() const { return dims.size(); }
  void clear() {
    dims.clear();
    offsets.clear();
    u8.clear();
    f32.clear();
    bf16.clear();
  }
  // Lays out n samples with the given dims (offsets computed, storage resized, contents unset).
  void layout(DType t, const std::vector<ImageDims>& d);
  std::uint8_t* u8_at(std::size_t i) { return u8.data() + offsets[i]; }
  const std::uint8_t* u8_at(std::size_t i) const { return u8.data() + offsets[i]; }
  float* f32_at(std::size_t i) { return f32.data() + offsets[i]; }
  const float* f32_at(std::size_t i) const { return f32.data() + offsets[i]; }
  std::uint16_t* bf16_at(std::size_t i) { return bf16.data() + offsets[i]; }
  const std::uint16_t* bf16_at(std::size_t i) const { return bf16.data() + offsets[i]; }
};

// Dense float tensor, row-major, used for model inputs and outputs (N, C, H, W) or (N, K).
struct Tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> data;

  std::size_t numel() const {
    std::size_t n = 1;
    for (auto s : shape) n *= static_cast<std::size_t>(s);
    return n;
  }
  void resize(std::vector<std::int64_t> s) {
    shape = std::move(s);
    data.resize(numel());
  }
  void clear() {
    shape.clear();
    data.clear();
  }
  // Forgets the shape but keeps `data` at its size (stale values): a pooled batch's next resize to
  // the same shape then writes nothing, where clear() + resize() would zero-fill every element
  // (77 MB per batch of 128 at 3x224x224) only for a stage to overwrite them all.
  void clear_shape() { shape.clear(); }
};

// A dense f32 tensor in GPU memory: the `input` column when a CUDA augment stage hands its batch to
// a GPU model without a round trip through the host. `owner` holds the allocation (type-erased, so
// this header needs no CUDA); it stays with the pooled batch and is reused while large enough.
struct DeviceTensor {
  std::vector<std::int64_t> shape;
  float* data = nullptr;
  std::size_t capacity = 0;  // floats owned
  std::shared_ptr<void> owner;

  std::size_t numel() const {
    std::size_t n = 1;
    for (auto s : shape) n *= static_cast<std::size_t>(s);
    return shape.empty() ? 0 : n;
  }
  bool empty() const { return shape.empty(); }
  void clear() { shape.clear(); }  // keeps the allocation
};

// Column names, as stages declare them in their schema.
namespace col {
inline constexpr const char* kId = "id";        // std::string per entity: the sample's Id
inline constexpr const char* kIndex = "index";  // int64: index of the sample in its split
inline constexpr const char* kLabel = "label";  // int32 class, -1 when unlabeled
inline constexpr const char* kPath = "path";    // file path
inline constexpr const char* kJpeg = "jpeg";    // encoded bytes
inline constexpr const char* kImage = "image";  // ragged decoded / augmented images
inline constexpr const char* kInput =
    "input";  // dense (N, C, H, W) f32 model input (host, or device)
inline constexpr const char* kLogits = "logits";  // (N, classes) f32
inline constexpr const char* kLoss = "loss";      // per-sample loss (N) f32
}  // namespace col

struct Batch {
  // Identity of the batch within its pass.
  std::uint64_t seq = 0;  // 0-based batch index within the pass
  int epoch = 0;          // 1-based epoch for train passes; the epoch just trained for val
  Split split = Split::train;
  std::uint64_t seed = 0;  // run seed

  std::vector<std::string> id;
  std::vector<std::int64_t> index;
  std::vector<std::int32_t> label;
  std::vector<std::string> path;
  ByteArena jpeg;
  ImageList image;
  Tensor input;               // column `input` on the host ...
  DeviceTensor input_device;  // ... or in GPU memory (then `input` is empty)
  Tensor logits;
  std::vector<float> loss;
  // Data-parallel runs: the last `padded` entities repeat samples of the epoch's head so that
  // every process has as many as the others (DistributedSampler's padding). They are trained on,
  // as PyTorch does, but metrics and predictions skip them.
  std::size_t padded = 0;
  // Set by train_step: the optimizer step count after this batch's step and the learning rate it
  // used. Later stages log these, not the shared training state, which the next step may already
  // have advanced (the stages run concurrently).
  std::int64_t trained_step = 0;
  double trained_lr = 0;

  std::size_t size() const { return id.size(); }
  // Entities that count in metrics and predictions.
  std::size_t counted() const { return size() - padded; }
  // Forgets every column's contents but keeps capacity.
  void reset();
  // Keeps only the entities whose keep[i] is true, in every non-empty per-entity column.
  void retain(const std::vector<bool>& keep);
  // A short description of entity i for error messages: "sample <id> (<path>)".
  std::string describe(std::size_t i) const;
};

}  // namespace ft

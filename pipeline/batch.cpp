// Batch housekeeping: reset for reuse, compaction after skipped samples, descriptions for errors.
#include "pipeline/batch.hpp"

#include <algorithm>

#include "pipeline/error.hpp"

namespace ft {

const char* split_name(Split s) {
  switch (s) {
    case Split::train:
      return "train";
    case Split::val:
      return "val";
    case Split::test:
      return "test";
  }
  return "?";
}

void ImageList::layout(DType t, const std::vector<ImageDims>& d) {
  dtype = t;
  dims = d;
  offsets.resize(d.size());
  std::size_t off = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    offsets[i] = off;
    off += d[i].numel();
  }
  // Only the storage of type t holds data; the others are emptied (their capacity is kept).
  u8.resize(t == DType::u8 ? off : 0);
  f32.resize(t == DType::f32 ? off : 0);
  bf16.resize(t == DType::bf16 ? off : 0);
}

void Batch::reset() {
  id.clear();
  index.clear();
  label.clear();
  path.clear();
  jpeg.clear();
  image.clear();
  input.clear_shape();  // whoever writes it next sets every element
  input_device.clear();
  logits.clear();
  loss.clear();
  padded = 0;
  trained_step = 0;
  trained_lr = 0;
}

namespace {

template <class T>
void retain_vec(std::vector<T>& v, const std::vector<bool>& keep) {
  if (v.empty()) return;
  FT_ASSERT(v.size() == keep.size());
  std::size_t j = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!keep[i]) continue;
    if (j != i) v[j] = std::move(v[i]);  // a self-move would empty a std::string
    ++j;
  }
  v.resize(j);
}

}  // namespace

void Batch::retain(const std::vector<bool>& keep) {
  FT_ASSERT(keep.size() == size());
  std::size_t padded_kept = 0;
  for (std::size_t i = keep.size() - padded; i < keep.size(); ++i) padded_kept += keep[i];
  padded = padded_kept;
  retain_vec(id, keep);
  retain_vec(index, keep);
  retain_vec(label, keep);
  retain_vec(path, keep);
  if (jpeg.size() == keep.size()) {
    ByteArena out;
    out.bytes.reserve(jpeg.bytes.size());
    for (std::size_t i = 0; i < keep.size(); ++i) {
      if (!keep[i]) continue;
      out.bytes.insert(out.bytes.end(), jpeg.data(i), jpeg.data(i) + jpeg.length(i));
      out.offsets.push_back(out.bytes.size());
    }
    jpeg = std::move(out);
  }
  if (image.size() == keep.size()) {
    ImageList out;
    std::vector<ImageDims> d;
    for (std::size_t i = 0; i < keep.size(); ++i)
      if (keep[i]) d.push_back(image.dims[i]);
    out.layout(image.dtype, d);
    std::size_t j = 0;
    for (std::size_t i = 0; i < keep.size(); ++i) {
      if (!keep[i]) continue;
      const std::size_t n = image.dims[i].numel();
      switch (image.dtype) {
        case DType::u8:
          std::copy_n(image.u8_at(i), n, out.u8_at(j));
          break;
        case DType::f32:
          std::copy_n(image.f32_at(i), n, out.f32_at(j));
          break;
        case DType::bf16:
          std::copy_n(image.bf16_at(i), n, out.bf16_at(j));
          break;
      }
      ++j;
    }
    image = std::move(out);
  }
  FT_ASSERT(input.shape.empty() && logits.data.empty());
}

std::string Batch::describe(std::size_t i) const {
  std::string s = "sample ";
  s += i < id.size() ? "'" + id[i] + "'" : "#" + std::to_string(i);
  if (i < path.size()) s += " (" + path[i] + ")";
  return s;
}

}  // namespace ft

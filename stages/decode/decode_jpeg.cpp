// decode_jpeg: two parallel sweeps over the batch (headers, then pixels) with per-thread TurboJPEG
// handles. The image buffer keeps its capacity across batches, so steady state allocates nothing
// per sample; error strings are only built for broken files.
#include "stages/decode/decode_jpeg.hpp"

#include <tbb/parallel_for.h>

#include <cstdio>
#include <new>
#include <stdexcept>

#include "kernels/io/jpeg.hpp"
#include "pipeline/error.hpp"

namespace ft {

namespace {

constexpr std::size_t kMaxExamples = 10;
// The largest max_pixels accepted: TurboJPEG's 65500x65500 limit, rounded up.
constexpr std::int64_t kMaxPixelsLimit = std::int64_t{1} << 32;

}  // namespace

DecodeJpeg::DecodeJpeg(const Params& p)
    : skip_(p.get_string("on_error") == "skip"),
      channels_(static_cast<int>(p.get_int("channels"))),
      max_pixels_(p.get_int("max_pixels")) {
  if (channels_ != 0 && channels_ != 1 && channels_ != 3)
    throw ConfigError(p.where("channels") + ": must be 0 (keep the file's), 1 or 3, got " +
                      std::to_string(channels_));
}

void DecodeJpeg::run(Batch& batch) {
  const std::size_t n = batch.jpeg.size();
  FT_ASSERT(n == batch.size());
  // Per-batch scratch (12 bytes and an empty string per sample). Not thread_local: while this
  // thread waits in parallel_for, TBB may run another batch's run() on it.
  std::vector<io::JpegInfo> infos(n);
  std::vector<ImageDims> dims(n);
  std::vector<std::string> errors(n);

  const auto name_of = [&](std::size_t i) { return batch.describe(i); };
  // std::bad_alloc from a decode (libjpeg's own buffers, the CMYK scratch) becomes that file's
  // error, so that "skip" skips it and "fail" names it.
  const auto out_of_memory = [&](std::size_t i) {
    return "out of memory decoding a " + std::to_string(infos[i].width) + "x" +
           std::to_string(infos[i].height) + " image";
  };
  tbb::parallel_for(
      tbb::blocked_range<std::size_t>(0, n, 16), [&](const tbb::blocked_range<std::size_t>& r) {
        io::JpegDecoder& dec = io::thread_jpeg_decoder();
        for (std::size_t i = r.begin(); i != r.end(); ++i) {
          try {
            infos[i] = dec.header(batch.jpeg.data(i), batch.jpeg.length(i), "", max_pixels_);
            if (channels_ != 0) infos[i].channels = channels_;
            dims[i] = ImageDims{infos[i].height, infos[i].width, infos[i].channels};
          } catch (const std::runtime_error& e) {
            errors[i] = e.what();
          } catch (const std::bad_alloc&) {
            errors[i] = out_of_memory(i);
          }
        }
      });
  // A broken file keeps a 0x0 slot so that indices stay aligned until retain() drops it. When
  // the batch's images do not fit in memory, the largest is the broken one: "skip" drops it and
  // tries again, "fail" names it.
  const auto bytes_of = [](const ImageDims& d) { return std::size_t(d.h) * d.w * d.c; };
  for (;;) {
    try {
      batch.image.layout(DType::u8, dims);
      break;
    } catch (const std::bad_alloc&) {
      std::size_t total = 0, largest = 0;
      for (std::size_t i = 0; i < n; ++i) {
        total += bytes_of(dims[i]);
        if (bytes_of(dims[i]) > bytes_of(dims[largest])) largest = i;
      }
      const std::string reason = out_of_memory(largest) + " (the batch's " + std::to_string(n) +
                                 " images need " + std::to_string(total) + " bytes)";
      if (!skip_ || bytes_of(dims[largest]) == 0)
        throw Error(name_of(largest) + ": " + reason +
                    " (lower the decode stage's max_pixels or the batch size)");
      errors[largest] = reason;
      dims[largest] = ImageDims{};
    }
  }
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 8),
                    [&](const tbb::blocked_range<std::size_t>& r) {
                      io::JpegDecoder& dec = io::thread_jpeg_decoder();
                      for (std::size_t i = r.begin(); i != r.end(); ++i) {
                        if (!errors[i].empty()) continue;
                        try {
                          dec.decode(batch.jpeg.data(i), batch.jpeg.length(i), batch.image.u8_at(i),
                                     infos[i], dims[i].c, "");
                        } catch (const std::runtime_error& e) {
                          errors[i] = e.what();
                        } catch (const std::bad_alloc&) {
                          errors[i] = out_of_memory(i);
                        }
                      }
                    });

  std::vector<bool> keep;
  for (std::size_t i = 0; i < n; ++i) {
    if (errors[i].empty()) continue;
    // The kernel prefixes messages with the (empty) name: ": what".
    std::string reason = errors[i].rfind(": ", 0) == 0 ? errors[i].substr(2) : errors[i];
    if (!skip_)
      throw Error(name_of(i) + ": " + reason + " (set on_error = \"skip\" to drop broken files)",
                  2);
    if (keep.empty()) keep.assign(n, true);
    keep[i] = false;
    ++skipped_pass_;
    ++skipped_total_;
    std::lock_guard<std::mutex> lock(mu_);
    if (examples_.size() < kMaxExamples) examples_.push_back(name_of(i) + ": " + reason);
  }
  if (!keep.empty()) batch.retain(keep);
}

std::vector<std::string> DecodeJpeg::skipped_examples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return examples_;
}

void DecodeJpeg::end_pass(const PassInfo& pass) {
  const std::size_t n = skipped_pass_.exchange(0);
  if (n == 0) return;
  std::fprintf(stderr, "decode_jpeg: skipped %zu unreadable file%s in the %s pass (epoch %d)\n", n,
               n == 1 ? "" : "s", split_name(pass.split), pass.epoch);
}

void DecodeJpeg::finish(RunContext& ctx) {
  const std::size_t n = skipped_total_.load();
  if (n == 0) return;
  std::fprintf(stderr, "decode_jpeg: skipped %zu unreadable file%s in total; first ones:\n", n,
               n == 1 ? "" : "s");
  for (const auto& e : skipped_examples()) std::fprintf(stderr, "  %s\n", e.c_str());
}

StageKind decode_jpeg_kind() {
  StageKind k;
  k.name = "decode_jpeg";
  k.doc = "Decodes the jpeg column into u8 HWC images (grayscale stays 1 channel, colour is RGB)";
  k.params = {
      {.name = "on_error",
       .type = ParamType::string,
       .doc =
           "a corrupt, truncated, empty or non-JPEG file, or one over max_pixels: \"fail\" stops "
           "the run naming it, \"skip\" drops and counts it",
       .default_value = "\"fail\"",
       .choices = {"fail", "skip"}},
      {.name = "channels",
       .type = ParamType::integer,
       .doc = "output channels: 0 keeps the file's (1 gray, 3 RGB), 1 or 3 converts",
       .default_value = "0",
       .min = 0.0,
       .max = 3.0},
      {.name = "max_pixels",
       .type = ParamType::integer,
       .doc =
           "largest width x height decoded, checked from the header before anything is "
           "allocated (default: Pillow's MAX_IMAGE_PIXELS); a larger file is handled by on_error",
       .default_value = std::to_string(io::kDefaultMaxPixels),
       .min = 1.0,
       .max = static_cast<double>(kMaxPixelsLimit)},
  };
  k.access = [](const Params&) { return Access{{col::kJpeg}, {col::kImage}}; };
  k.make = [](const Params& p) { return std::make_unique<DecodeJpeg>(p); };
  return k;
}

}  // namespace ft

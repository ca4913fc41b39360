// Memory estimate at setup (see memory_estimate.hpp). The model walk mirrors kernels/nn/model_zoo's
// architectures layer by layer (tests/stages/memory_estimate_test.cpp checks its parameter count
// against the built models); sizes are doubles, so absurd configs cannot overflow the estimate.
#include "stages/memory_estimate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "kernels/augment/ops.hpp"
#include "kernels/io/jpeg.hpp"
#include "pipeline/error.hpp"
#include "stages/augment/augment_stage.hpp"
#include "stages/source/dataset.hpp"
#include "stages/source/read_files.hpp"
#include "stages/source/shards.hpp"
#include "stages/stage_shared.hpp"

namespace ft {

namespace {

// Walks a network's layers tracking the activation shape (c, h, w), the parameter count and the
// per-sample elements of every layer output.
struct Walk {
  double params = 0, acts = 0;
  int c = 0, h = 0, w = 0;

  double size() const { return double(c) * h * w; }
  void conv(int in, int out, int k, int stride, int pad, bool bias = false, int groups = 1) {
    params += double(out) * (in / groups) * k * k + (bias ? out : 0);
    h = (h + 2 * pad - k) / stride + 1;
    w = (w + 2 * pad - k) / stride + 1;
    c = out;
    acts += size();
  }
  void bn(int channels) {
    params += 2.0 * channels;
    acts += size();
  }
  void pool(int k, int stride, int pad) {
    h = (h + 2 * pad - k) / stride + 1;
    w = (w + 2 * pad - k) / stride + 1;
    acts += size();
  }
  void linear(double in, int out) {
    params += in * out + out;
    c = out, h = 1, w = 1;
    acts += out;
  }
};

struct BlockKind {
  bool bottleneck = false;
  int groups = 1, width_per_group = 64;
};

// model_zoo's residual_block: torchvision BasicBlock or Bottleneck with its downsample.
void residual_block(Walk& m, const BlockKind& kind, int inplanes, int planes, int stride) {
  const int in_h = m.h, in_w = m.w;
  const int expansion = kind.bottleneck ? 4 : 1;
  if (kind.bottleneck) {
    const int width = planes * kind.width_per_group / 64 * kind.groups;
    m.conv(inplanes, width, 1, 1, 0), m.bn(width);
    m.conv(width, width, 3, stride, 1, false, kind.groups), m.bn(width);
    m.conv(width, planes * 4, 1, 1, 0), m.bn(planes * 4);
  } else {
    m.conv(inplanes, planes, 3, stride, 1), m.bn(planes);
    m.conv(planes, planes, 3, 1, 1), m.bn(planes);
  }
  if (stride != 1 || inplanes != planes * expansion) {
    Walk skip;
    skip.c = inplanes, skip.h = in_h, skip.w = in_w;
    skip.conv(inplanes, planes * expansion, 1, stride, 0), skip.bn(planes * expansion);
    m.params += skip.params;
    m.acts += skip.acts;
  }
  m.acts += m.size();  // the residual sum
}

void torchvision_resnet(Walk& m, const nn::ModelSpec& spec, const BlockKind& kind,
                        const int (&layers)[4]) {
  m.conv(spec.in_channels, 64, 7, 2, 3), m.bn(64), m.pool(3, 2, 1);
  const int expansion = kind.bottleneck ? 4 : 1;
  int inplanes = 64;
  for (int stage = 0; stage < 4; ++stage)
    for (int b = 0; b < layers[stage]; ++b) {
      residual_block(m, kind, inplanes, 64 << stage, b == 0 && stage > 0 ? 2 : 1);
      inplanes = (64 << stage) * expansion;
    }
  m.linear(512 * expansion, spec.num_classes);
}

void resnet_small(Walk& m, const nn::ModelSpec& spec) {
  if (spec.widths.empty() || spec.widths.size() != spec.stage_blocks.size())
    throw std::invalid_argument("resnet_small: widths and stage_blocks must be of equal length");
  m.conv(spec.in_channels, spec.widths[0], 3, 1, 1), m.bn(spec.widths[0]);
  int inplanes = spec.widths[0];
  for (std::size_t stage = 0; stage < spec.widths.size(); ++stage)
    for (int b = 0; b < spec.stage_blocks[stage]; ++b) {
      residual_block(m, BlockKind{}, inplanes, spec.widths[stage], b == 0 && stage > 0 ? 2 : 1);
      inplanes = spec.widths[stage];
    }
  m.linear(inplanes, spec.num_classes);
}

void mini_resnet(Walk& m, const nn::ModelSpec& spec) {
  int in = spec.in_channels;
  for (int i = 1; i <= spec.blocks; ++i) {
    const int out = spec.base_width << (i - 1);
    const int in_h = m.h, in_w = m.w;
    m.conv(in, out, 3, 1, 1, true), m.bn(out), m.conv(out, out, 3, 1, 1, true), m.bn(out);
    Walk skip;
    skip.c = in, skip.h = in_h, skip.w = in_w;
    skip.conv(in, out, 1, 1, 0, true);
    m.params += skip.params;
    m.acts += skip.acts + m.size();
    if (m.h >= 2 && m.w >= 2) m.pool(2, 2, 0);
    in = out;
  }
  m.linear(m.size(), 4096), m.bn(4096);
  m.linear(4096, spec.num_classes);
}

std::string bytes_text(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (b >= 1024 && u < 6) b /= 1024, ++u;
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.1f} {}", b, units[u]);
}

// Shape and element size of the image column after a stage, per sample.
struct SampleShape {
  aug::Dims dims;
  int elem_bytes = 1;  // u8, bf16 (2) or f32 (4)
  std::string text() const {
    return fmt::format("{}x{}x{} {}", dims.c, dims.h, dims.w,
                       elem_bytes == 4   ? "f32"
                       : elem_bytes == 2 ? "bf16"
                                         : "u8");
  }
};

const Dataset* dataset_of(const DataSplits& d, Split s) {
  const std::optional<Dataset>& x = s == Split::train ? d.train : s == Split::val ? d.val : d.test;
  return x && !x->samples.empty() ? &*x : nullptr;
}

// Bytes one sample occupies across the columns the stages active in split write, and the model
// input's shape; nullopt when the split has no data or its first file cannot be read.
struct SplitWalk {
  double sample_bytes = 0;
  SampleShape input;
};
std::optional<SplitWalk> walk_split(const ResolvedGraph& graph, const Dataset& data, Split split) {
  std::vector<std::uint8_t> jpeg;
  io::JpegInfo info;
  try {
    append_sample_bytes(data, data.samples.front(), jpeg);
    info = io::thread_jpeg_decoder().header(jpeg.data(), jpeg.size(), "");
  } catch (const std::exception&) {
    return std::nullopt;  // the decode stage names a broken file under its on_error policy
  }
  SplitWalk out;
  out.sample_bytes = static_cast<double>(jpeg.size());
  SampleShape s{{info.height, info.width, info.channels}, 1};
  for (const ResolvedStage& st : graph.chain) {
    if (!st.active(split)) continue;
    const std::string& kind = st.kind->name;
    if (kind == "decode_jpeg") {
      if (const auto c = st.params.get_int("channels"); c != 0) s.dims.c = static_cast<int>(c);
    } else if (kind == "augment") {
      try {
        const aug::Plan plan = aug::plan_output(parse_augment_ops(st.params), s.dims);
        s = SampleShape{plan.dims, plan.bf16 ? 2 : plan.f32 ? 4 : 1};
      } catch (const std::invalid_argument&) {
        return std::nullopt;  // the augment stage names the problem when it runs
      }
    } else if (kind == "batch") {
      s.elem_bytes = 4;  // the dense f32 input
    } else {
      continue;
    }
    out.sample_bytes += s.dims.numel() * double(s.elem_bytes);
  }
  out.input = s;
  return out;
}

double read_number(const std::string& path, bool* unlimited = nullptr) {
  std::ifstream in(path);
  std::string v;
  if (!(in >> v)) return -1;
  if (v == "max") {
    if (unlimited) *unlimited = true;
    return -1;
  }
  try {
    return std::stod(v);
  } catch (const std::exception&) {
    return -1;
  }
}

void consider(std::optional<MemoryLimit>& best, double bytes, const std::string& source) {
  if (bytes < 0) return;
  if (!best || bytes < best->bytes) best = MemoryLimit{bytes, source};
}

}  // namespace

ModelFootprint model_footprint(const nn::ModelSpec& spec) {
  Walk m;
  m.c = spec.in_channels, m.h = spec.height, m.w = spec.width;
  const int r18[4] = {2, 2, 2, 2}, r34[4] = {3, 4, 6, 3};
  if (spec.kind == "mini_resnet")
    mini_resnet(m, spec);
  else if (spec.kind == "resnet18")
    torchvision_resnet(m, spec, BlockKind{}, r18);
  else if (spec.kind == "resnet34")
    torchvision_resnet(m, spec, BlockKind{}, r34);
  else if (spec.kind == "resnet50")
    torchvision_resnet(m, spec, BlockKind{true, 1, 64}, r34);
  else if (spec.kind == "resnext50_32x4d")
    torchvision_resnet(m, spec, BlockKind{true, 32, 4}, r34);
  else if (spec.kind == "resnet_small")
    resnet_small(m, spec);
  else
    throw std::invalid_argument("unknown model kind \"" + spec.kind + "\"");
  return ModelFootprint{m.params, m.acts};
}

double MemoryEstimate::host_bytes() const {
  return batch_bytes * tokens + (model_on_device ? 0 : model_bytes + activation_bytes);
}

std::string MemoryEstimate::describe() const {
  std::string s = fmt::format("{} batches in flight x {}", tokens, bytes_text(batch_bytes));
  if (!sample_shape.empty())
    s += fmt::format(" ({} samples, model input {})", batch_size, sample_shape);
  if (parameters > 0)
    s += fmt::format("; model {} ({:.3g} parameters with their gradients and momentum){}",
                     bytes_text(model_bytes), parameters, model_on_device ? ", in GPU memory" : "");
  if (activation_bytes > 0)
    s += fmt::format("; training activations {}{}", bytes_text(activation_bytes),
                     model_on_device ? ", in GPU memory" : "");
  return s;
}

MemoryEstimate estimate_run_memory(const ResolvedGraph& graph, const RunContext& ctx, int tokens) {
  MemoryEstimate e;
  e.tokens = tokens;
  e.model_on_device = ctx.device == "cuda";
  bool has_model = false;
  for (const ResolvedStage& st : graph.chain) {
    if (st.kind->name == "read_files" || st.kind->name == "read_shards")
      e.batch_size = st.params.get_int("batch_size");
    if (st.kind->name == "train_step" || st.kind->name == "eval_step" || st.kind->name == "predict")
      has_model = true;
  }
  std::optional<SampleShape> model_input;
  const StageShared* shared = find_stage_shared(ctx);
  if (const auto data = shared ? shared->datasets : nullptr) {
    for (Split split : {Split::train, Split::val, Split::test}) {
      const Dataset* d = dataset_of(*data, split);
      if (!d) continue;
      const auto w = walk_split(graph, *d, split);
      if (!w) continue;
      e.batch_bytes = std::max(e.batch_bytes, w->sample_bytes * double(e.batch_size));
      if (!model_input) model_input = w->input;  // train first: the model is built on its shape
    }
  }
  if (model_input) e.sample_shape = model_input->text();
  if (!has_model || !ctx.config) return e;

  const toml::table& cfg = *ctx.config;
  const auto m = [&](const char* key) { return cfg["model"][key]; };
  nn::ModelSpec spec;
  spec.kind = m("kind").value_or(std::string(spec.kind));
  spec.num_classes = static_cast<int>(m("num_classes").value_or<std::int64_t>(spec.num_classes));
  spec.blocks = static_cast<int>(m("blocks").value_or<std::int64_t>(spec.blocks));
  spec.base_width = static_cast<int>(m("base_width").value_or<std::int64_t>(spec.base_width));
  for (auto [key, list] : {std::pair{"widths", &spec.widths}, {"stage_blocks", &spec.stage_blocks}})
    if (const toml::array* a = m(key).as_array()) {
      list->clear();
      for (const toml::node& v : *a) list->push_back(static_cast<int>(v.value_or<std::int64_t>(1)));
    }
  if (model_input) {
    spec.in_channels = model_input->dims.c;
    spec.height = model_input->dims.h;
    spec.width = model_input->dims.w;
  }
  ModelFootprint f;
  try {
    f = model_footprint(spec);
  } catch (const std::invalid_argument&) {
    return e;  // the model's own construction names the problem
  }
  const bool momentum = cfg["optimizer"]["momentum"].value_or(0.0) != 0.0;
  e.parameters = f.parameters;
  e.model_bytes = f.parameters * 4.0 * (momentum ? 3 : 2);
  // Each layer's output is kept for the backward pass, which writes a gradient of the same size.
  if (model_input) e.activation_bytes = f.activations * 4.0 * 2 * double(e.batch_size);
  return e;
}

std::optional<MemoryLimit> available_memory() {
  std::optional<MemoryLimit> best;
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    double kb = 0;
    std::string unit;
    while (in >> key >> kb >> unit)
      if (key == "MemAvailable:") consider(best, kb * 1024, "MemAvailable in /proc/meminfo");
  }
  // cgroup v2: the limit of this process's group and of every group above it.
  std::ifstream cg("/proc/self/cgroup");
  std::string line;
  while (std::getline(cg, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    std::string path = line.substr(3);
    for (;;) {
      const std::string dir = "/sys/fs/cgroup" + (path == "/" ? std::string() : path);
      const double max = read_number(dir + "/memory.max");
      const double cur = read_number(dir + "/memory.current");
      if (max >= 0 && cur >= 0)
        consider(best, std::max(0.0, max - cur), "cgroup memory.max of " + dir + " less its usage");
      if (path.empty() || path == "/") break;
      path = path.substr(0, path.find_last_of('/'));
      if (path.empty()) path = "/";
    }
  }
  // cgroup v1 (no limit reads as a huge number).
  const double v1_max = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  const double v1_use = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  if (v1_max >= 0 && v1_max < 1e18 && v1_use >= 0)
    consider(best, std::max(0.0, v1_max - v1_use),
             "cgroup v1 memory.limit_in_bytes less its usage");
  return best;
}

void check_run_memory(const ResolvedGraph& graph, const RunContext& ctx, int tokens) {
  const MemoryEstimate e = estimate_run_memory(graph, ctx, tokens);
  const std::optional<MemoryLimit> limit = available_memory();
  if (!limit || e.host_bytes() <= limit->bytes) return;
  throw Error(fmt::format(
      "{}: this run needs an estimated {} of memory but {} is available ({}): {}. Lower [model] "
      "widths / stage_blocks / base_width / num_classes, the read_files batch_size, [run] "
      "in_flight or the augment output size",
      ctx.config_file, bytes_text(e.host_bytes()), bytes_text(limit->bytes), limit->source,
      e.describe()));
}

}  // namespace ft

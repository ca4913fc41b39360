// The architectures: the seed's mini_resnet, torchvision's ResNet family (BasicBlock and
// Bottleneck v1.5, stride on the 3x3) and resnet_small for 28x28 inputs. Parameter names and
// order follow each PyTorch module's state_dict.
#include <stdexcept>
#include <string>

#include "kernels/nn/model.hpp"

namespace ft::nn {
namespace {

Conv2dSpec conv(int in, int out, int k, int stride, int pad, bool bias = false, int groups = 1) {
  return conv2d_spec(in, out, k, stride, pad, bias, groups);
}

BatchNormSpec bn(int c) {
  BatchNormSpec s;
  s.channels = c;
  return s;
}

// BatchNorm followed by ReLU, fused into one primitive (one pass less each way); the ReLU has no
// parameters, so the state_dict names do not change.
BatchNormSpec bn_relu(int c) {
  BatchNormSpec s = bn(c);
  s.relu = true;
  return s;
}

// torchvision BasicBlock (expansion 1) or Bottleneck (expansion 4) with its downsample.
struct BlockKind {
  bool bottleneck = false;
  int groups = 1, width_per_group = 64;
};

ModulePtr residual_block(const LayerFactory& L, const BlockKind& kind, int inplanes, int planes,
                         int stride) {
  Sequential main, skip;
  const int expansion = kind.bottleneck ? 4 : 1;
  if (kind.bottleneck) {
    const int width = planes * kind.width_per_group / 64 * kind.groups;
    main.add("conv1", L.conv2d(conv(inplanes, width, 1, 1, 0)))
        .add("bn1", L.batch_norm(bn_relu(width)))
        .add("conv2", L.conv2d(conv(width, width, 3, stride, 1, false, kind.groups)))
        .add("bn2", L.batch_norm(bn_relu(width)))
        .add("conv3", L.conv2d(conv(width, planes * 4, 1, 1, 0)))
        .add("bn3", L.batch_norm(bn(planes * 4)));
  } else {
    main.add("conv1", L.conv2d(conv(inplanes, planes, 3, stride, 1)))
        .add("bn1", L.batch_norm(bn_relu(planes)))
        .add("conv2", L.conv2d(conv(planes, planes, 3, 1, 1)))
        .add("bn2", L.batch_norm(bn(planes)));
  }
  if (stride != 1 || inplanes != planes * expansion) {
    skip.add("0", L.conv2d(conv(inplanes, planes * expansion, 1, stride, 0)))
        .add("1", L.batch_norm(bn(planes * expansion)));
  }
  return std::make_unique<Residual>(L, std::move(main), std::move(skip), true, "", "downsample.");
}

// torchvision.models.ResNet(block, layers, groups, width_per_group).
Sequential torchvision_resnet(const LayerFactory& L, const ModelSpec& spec, const BlockKind& kind,
                              const int (&layers)[4]) {
  Sequential net;
  net.add("conv1", L.conv2d(conv(spec.in_channels, 64, 7, 2, 3)))
      .add("bn1", L.batch_norm(bn_relu(64)))
      .add("maxpool", L.max_pool(MaxPoolSpec{3, 2, 1}));
  const int expansion = kind.bottleneck ? 4 : 1;
  int inplanes = 64;
  for (int stage = 0; stage < 4; ++stage) {
    Sequential layer;
    const int planes = 64 << stage;
    for (int b = 0; b < layers[stage]; ++b) {
      layer.add(std::to_string(b),
                residual_block(L, kind, inplanes, planes, b == 0 && stage > 0 ? 2 : 1));
      inplanes = planes * expansion;
    }
    net.add("layer" + std::to_string(stage + 1), std::make_unique<Sequential>(std::move(layer)));
  }
  net.add("avgpool", L.global_avg_pool())
      .add("flatten", L.flatten())
      .add("fc", L.linear(LinearSpec{512 * expansion, spec.num_classes, true}));
  return net;
}

Sequential resnet_small(const LayerFactory& L, const ModelSpec& spec) {
  if (spec.widths.empty() || spec.widths.size() != spec.stage_blocks.size())
    throw std::invalid_argument(
        "resnet_small: widths and stage_blocks must be non-empty and of equal length");
  Sequential net;
  net.add("conv1", L.conv2d(conv(spec.in_channels, spec.widths[0], 3, 1, 1)))
      .add("bn1", L.batch_norm(bn_relu(spec.widths[0])));
  int inplanes = spec.widths[0];
  for (std::size_t stage = 0; stage < spec.widths.size(); ++stage) {
    if (spec.widths[stage] <= 0 || spec.stage_blocks[stage] <= 0)
      throw std::invalid_argument("resnet_small: widths and stage_blocks must be > 0");
    Sequential layer;
    for (int b = 0; b < spec.stage_blocks[stage]; ++b) {
      layer.add(std::to_string(b), residual_block(L, BlockKind{}, inplanes, spec.widths[stage],
                                                  b == 0 && stage > 0 ? 2 : 1));
      inplanes = spec.widths[stage];
    }
    net.add("layer" + std::to_string(stage + 1), std::make_unique<Sequential>(std::move(layer)));
  }
  net.add("avgpool", L.global_avg_pool())
      .add("flatten", L.flatten())
      .add("fc", L.linear(LinearSpec{inplanes, spec.num_classes, true}));
  return net;
}

// The seed's MiniResNet: block i = relu(conv_block(x) + skip(x)) then MaxPool2, then the head.
Sequential mini_resnet(const LayerFactory& L, const ModelSpec& spec) {
  if (spec.blocks <= 0 || spec.base_width <= 0)
    throw std::invalid_argument("mini_resnet: blocks and width must be > 0");
  Sequential net;
  int in = spec.in_channels, h = spec.height, w = spec.width;
  for (int i = 1; i <= spec.blocks; ++i) {
    const int out = spec.base_width << (i - 1);
    Conv2dSpec c1 = conv(in, out, 3, 1, 0, true), c2 = conv(out, out, 3, 1, 0, true);
    c1.same_padding = c2.same_padding = true;
    Sequential main, skip;
    main.add("0", L.conv2d(c1)).add("1", L.batch_norm(bn_relu(out)));  // "2" is the ReLU, fused
    main.add("3", L.conv2d(c2)).add("4", L.batch_norm(bn(out)));
    skip.add("", L.conv2d(conv(in, out, 1, 1, 0, true)));
    const std::string n = std::to_string(i);
    net.add("", std::make_unique<Residual>(L, std::move(main), std::move(skip), true,
                                           "conv" + n + ".", "skip" + n + "."));
    // Once the map is 1 pixel high or wide, MaxPool2 has nothing to halve (PyTorch would raise):
    // later blocks skip it, so 7 or 9 blocks work on 64x64 and 224x224 inputs.
    if (h >= 2 && w >= 2) {
      net.add("", L.max_pool(MaxPoolSpec{2, 2, 0}));
      h /= 2;
      w /= 2;
    }
    in = out;
  }
  const int flat = in * h * w;
  Sequential head;
  int idx = 0;
  const auto next = [&] { return std::to_string(idx++); };
  if (spec.dropout > 0) head.add(next(), L.dropout(spec.dropout, 0));
  head.add(next(), L.linear(LinearSpec{flat, 4096, true}));
  head.add(next(), L.batch_norm(bn_relu(4096)));
  ++idx;  // the ReLU, fused into the BatchNorm1d
  if (spec.dropout > 0) head.add(next(), L.dropout(spec.dropout, 1));
  head.add(next(), L.linear(LinearSpec{4096, spec.num_classes, true}));
  net.add("", L.flatten()).add("head", std::make_unique<Sequential>(std::move(head)));
  return net;
}

}  // namespace

std::unique_ptr<Model> make_model(const ModelSpec& spec, const LayerFactory& layers) {
  if (spec.num_classes <= 0 || spec.in_channels <= 0 || spec.height <= 0 || spec.width <= 0)
    throw std::invalid_argument("model " + spec.kind +
                                ": num_classes, in_channels, height, width must be > 0");
  Sequential net;
  bool torchvision = true;
  const int r18[4] = {2, 2, 2, 2}, r34[4] = {3, 4, 6, 3};
  if (spec.kind == "mini_resnet") {
    net = mini_resnet(layers, spec);
    torchvision = false;
  } else if (spec.kind == "resnet18") {
    net = torchvision_resnet(layers, spec, BlockKind{}, r18);
  } else if (spec.kind == "resnet34") {
    net = torchvision_resnet(layers, spec, BlockKind{}, r34);
  } else if (spec.kind == "resnet50") {
    net = torchvision_resnet(layers, spec, BlockKind{true, 1, 64}, r34);
  } else if (spec.kind == "resnext50_32x4d") {
    net = torchvision_resnet(layers, spec, BlockKind{true, 32, 4}, r34);
  } else if (spec.kind == "resnet_small") {
    net = resnet_small(layers, spec);
  } else {
    throw std::invalid_argument(
        "unknown model kind \"" + spec.kind +
        "\"; known: mini_resnet, resnet18, resnet34, resnet50, resnext50_32x4d, resnet_small");
  }
  auto model = std::make_unique<Model>(spec, std::move(net), layers.on_device());
  init_parameters(model->parameters(), spec.init_seed, torchvision);
  if (torchvision && spec.zero_init_residual) {
    const std::string last_bn =
        spec.kind == "resnet50" || spec.kind == "resnext50_32x4d" ? ".bn3.weight" : ".bn2.weight";
    for (Parameter* p : model->parameters())
      if (p->name.starts_with("layer") && p->name.ends_with(last_bn))
        std::fill(p->value.begin(), p->value.end(), 0.f);
  }
  model->to_device();
  return model;
}

}  // namespace ft::nn

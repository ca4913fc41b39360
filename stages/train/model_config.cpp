// [model]: schema, cross-key checks and reader (see model_config.hpp).
#include "stages/train/model_config.hpp"

#include <fmt/format.h>

#include "pipeline/error.hpp"

namespace ft {

namespace {

using T = ParamType;

std::vector<ParamSpec> model_keys() {
  // Upper bounds on the keys that size the model's memory (the run's memory estimate checks
  // their product); read_files applies the same num_classes bound.
  return {
      {.name = "kind",
       .type = T::string,
       .doc = "network",
       .default_value = "\"resnet_small\"",
       .choices = {"resnet_small", "mini_resnet", "resnet18", "resnet34", "resnet50",
                   "resnext50_32x4d"}},
      {.name = "num_classes",
       .type = T::integer,
       .doc = "output classes",
       .default_value = "10",
       .min = 1.0,
       .max = 1e6},
      {.name = "blocks",
       .type = T::integer,
       .doc = "mini_resnet: number of blocks",
       .default_value = "6",
       .min = 1.0,
       .max = 12.0},
      {.name = "base_width",
       .type = T::integer,
       .doc = "mini_resnet: width of block 0 (doubles per block)",
       .default_value = "32",
       .min = 1.0,
       .max = 4096.0},
      {.name = "dropout",
       .type = T::number,
       .doc = "mini_resnet: dropout before each head Linear",
       .default_value = "0.0",
       .min = 0.0,
       .max = 1.0},
      {.name = "zero_init_residual",
       .type = T::boolean,
       .doc = "resnets: zero the last BN of each residual branch",
       .default_value = "false"},
      {.name = "widths",
       .type = T::integer_list,
       .doc = "resnet_small: width of each stage",
       .default_value = "[16, 32, 64]",
       .min = 1.0,
       .max = 8192.0},
      {.name = "stage_blocks",
       .type = T::integer_list,
       .doc = "resnet_small: BasicBlocks per stage (as many as widths)",
       .default_value = "[1, 1, 1]",
       .min = 1.0,
       .max = 1024.0},
      {.name = "init_from",
       .type = T::string,
       .doc = "start from the weights of this checkpoint or .safetensors file (torchvision names; "
              "new optimizer and schedule)",
       .optional = true},
  };
}

}  // namespace

SectionSchema model_section() {
  return {.name = "model",
          .doc = "The network: kind and its parameters.",
          .params = model_keys(),
          .check = check_model};
}

void check_model(const Params& p) {
  if (p.get_string("kind") != "resnet_small") return;
  const auto widths = p.get_int_list("widths");
  const auto blocks = p.get_int_list("stage_blocks");
  if (widths.empty())
    throw ConfigError(fmt::format("{}: resnet_small needs at least one stage", p.where("widths")));
  if (widths.size() != blocks.size())
    throw ConfigError(fmt::format(
        "{}: {} entries, but widths has {}; resnet_small needs one stage_blocks entry per width",
        p.where("stage_blocks"), blocks.size(), widths.size()));
}

nn::ModelSpec read_model_spec(const Params& p) {
  nn::ModelSpec spec;
  spec.kind = p.get_string("kind");
  spec.num_classes = static_cast<int>(p.get_int("num_classes"));
  spec.blocks = static_cast<int>(p.get_int("blocks"));
  spec.base_width = static_cast<int>(p.get_int("base_width"));
  spec.dropout = static_cast<float>(p.get_number("dropout"));
  spec.zero_init_residual = p.get_bool("zero_init_residual");
  spec.widths.clear();
  for (const auto w : p.get_int_list("widths")) spec.widths.push_back(static_cast<int>(w));
  spec.stage_blocks.clear();
  for (const auto b : p.get_int_list("stage_blocks"))
    spec.stage_blocks.push_back(static_cast<int>(b));
  return spec;
}

Params model_params(const toml::table& root, const std::string& file) {
  static const SectionSchema schema = model_section();
  return Params::section(root["model"].as_table(), "model", file, &schema.params);
}

}  // namespace ft

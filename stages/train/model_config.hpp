// The [model] table: its schema, the checks that involve several keys, and the reader that turns
// a validated table into nn::ModelSpec (input shape and seed are filled in by the caller).
#pragma once

#include <string>

#include "kernels/nn/model.hpp"
#include "pipeline/registry.hpp"

namespace ft {

SectionSchema model_section();

// resnet_small: widths and stage_blocks non-empty and of the same length.
void check_model(const Params& model);

nn::ModelSpec read_model_spec(const Params& model);
// [model] of a resolved config (absent: the defaults).
Params model_params(const toml::table& root, const std::string& file);

}  // namespace ft

// `flowtrain export` (see export.hpp): the checkpoint's "model.*" tensors, in name order (a
// safetensors file is read by name, not position), written by kernels/optim/safetensors.
#include "cli/export.hpp"

#include <fmt/format.h>

#include <iostream>

#include "kernels/optim/checkpoint.hpp"
#include "kernels/optim/safetensors.hpp"
#include "pipeline/error.hpp"

namespace ft {

namespace fs = std::filesystem;

std::size_t export_safetensors(const fs::path& run_dir, const fs::path& checkpoint,
                               const fs::path& out) {
  const fs::path ckpt_path = checkpoint.empty() ? run_dir / "checkpoints/last.ckpt" : checkpoint;
  const fs::path out_path = out.empty() ? run_dir / "model.safetensors" : out;
  optim::Checkpoint ck;
  try {
    ck = optim::load_checkpoint(ckpt_path);
  } catch (const std::runtime_error& e) {
    throw Error(fmt::format("export: {}", e.what()), 2);
  }
  if (const std::string bad = optim::non_finite_text(ck, "model."); !bad.empty())
    throw Error(fmt::format("export: {}: the {}; the run diverged", ckpt_path.string(), bad), 2);
  std::vector<optim::SafetensorsEntry> entries;
  for (const auto& [name, rec] : ck.tensors) {
    if (!name.starts_with("model.")) continue;
    optim::SafetensorsEntry e;
    e.name = name.substr(6);
    e.shape = rec.shape;
    e.data = &rec.data;
    e.as_int64 = e.name.ends_with("num_batches_tracked");
    entries.push_back(std::move(e));
  }
  if (entries.empty())
    throw Error(fmt::format("export: {} holds no model tensors", ckpt_path.string()), 2);
  std::map<std::string, std::string> meta{{"format", "pt"}, {"producer", "flowtrain"}};
  if (const auto k = ck.strings.find("arch.kind"); k != ck.strings.end())
    meta["flowtrain.model"] = k->second;
  if (const auto e = ck.ints.find("run.epoch"); e != ck.ints.end())
    meta["flowtrain.epoch"] = std::to_string(e->second);
  try {
    optim::save_safetensors(entries, meta, out_path);
  } catch (const std::runtime_error& e) {
    throw Error(fmt::format("export: {}", e.what()));
  }
  return entries.size();
}

void add_export(CLI::App& app) {
  auto run_dir = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("safetensors");
  auto checkpoint = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "export", "write a run's weights for other frameworks (safetensors, torchvision names)");
  cmd->add_option("run_dir", *run_dir, "run folder")->required();
  cmd->add_option("--format", *format, "file format (safetensors)")
      ->check(CLI::IsMember({"safetensors"}));
  cmd->add_option("--checkpoint", *checkpoint,
                  "checkpoint to export (default RUN_DIR/checkpoints/last.ckpt)");
  cmd->add_option("--out", *out, "output file (default RUN_DIR/model.safetensors)");
  cmd->callback([=] {
    const std::size_t n = export_safetensors(*run_dir, *checkpoint, *out);
    std::cout << fmt::format(
        "{} tensors written to {}\n", n,
        out->empty() ? (fs::path(*run_dir) / "model.safetensors").string() : *out);
  });
}

}  // namespace ft

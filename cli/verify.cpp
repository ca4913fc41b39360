// `flowtrain verify DIR`: runs verify_shards and prints one line per problem; exit 1 when any.
#include <fmt/format.h>

#include "cli/pack.hpp"
#include "pipeline/error.hpp"
#include "stages/source/shard_verify.hpp"

namespace ft {

void add_verify(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "verify",
      "check a shard folder: sizes, SHA-256 per shard, .idx against the tar, XXH3 "
      "and label per sample");
  cmd->add_option("dir", *dir, "folder of shards (as `flowtrain pack` writes it)")->required();
  cmd->callback([dir] {
    const VerifyReport r = verify_shards(*dir);
    for (const auto& p : r.problems) fmt::print(stderr, "{}\n", p);
    if (!r.ok())
      throw Error(
          fmt::format("verify: {} problem{} in {} ({} shards, {} samples)", r.problems.size(),
                      r.problems.size() == 1 ? "" : "s", *dir, r.shards, r.samples),
          1);
    fmt::print("{}: {} shards, {} samples, all checksums match\n", *dir, r.shards, r.samples);
  });
}

}  // namespace ft

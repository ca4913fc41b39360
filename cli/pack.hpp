// `flowtrain pack` (a config's split as WebDataset shards) and `flowtrain verify` (every checksum
// of a shard folder).
#pragma once

#include <CLI/CLI.hpp>

namespace ft {

void add_pack(CLI::App& app);
void add_verify(CLI::App& app);

}  // namespace ft
